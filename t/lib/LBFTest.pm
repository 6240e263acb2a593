# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# LBFTest -- the small harness of mod_lbfarm's integration suite.
#
# Starts real member servers (tools/lbf_member) and a real httpd
# (/usr/sbin/apache2) on 127.0.0.1 only, with a generated configuration in
# a private temporary directory, and stops every process it started (by
# PID) even when a test dies.  Core Perl modules only.
#
#   my $m  = start_member('m1');                  # ->port ->url ->name ->pid
#   my $h  = start_httpd(body => $conf_text);     # ->port ->url($path)
#   my $r  = get($h->url('/app/'));               # {status, member, headers, body}
#   $h->graceful;  $h->stop;
#   my ($rc, $out) = config_test($conf_text);
#   no_unexpected_errors($h, qr/allowed/);        # last assertion of a test
#
# Environment: LBF_MODULE (module path, default <repo>/.libs/mod_lbfarm.so),
# LBF_ASAN=1 (httpd runs with libasan preloaded), LBF_HTTPD (apache2 path),
# LBF_MEMBER (member server path, default <repo>/tools/lbf_member),
# LBF_KEEP=1 (keep the temporary directories for a post-mortem).
package LBFTest;

use strict;
use warnings;

use Cwd qw(abs_path);
use Errno qw(EINTR);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    free_port start_member start_httpd config_test get post new_client
    start_request finish_request count_members swrr_schedule
    no_unexpected_errors module_path member_path repo_root wait_until
    asan slow_factor
);

our $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
our $HTTPD = $ENV{LBF_HTTPD} // '/usr/sbin/apache2';
our $MODDIR = '/usr/lib/apache2/modules';
my $OWNER = $$;            # only this process cleans up (not forked kids)
my %LIVE;                  # pid => description, everything we started

sub repo_root   { $ROOT }
# Tests that need the test-only hooks (-DLBF_TEST_HOOKS) call this in a
# BEGIN block: unless LBF_MODULE names a module already (the ASan run),
# it builds build/test/mod_lbfarm.so (make test-module) and points
# LBF_MODULE at it.  Dies with make's output when the build fails.
sub use_test_module {
    return if defined $ENV{LBF_MODULE};
    my $root = repo_root();
    my $out = `make -s -C '$root' test-module 2>&1`;
    die "make test-module failed:\n$out" if $?;
    $ENV{LBF_MODULE} = "$root/build/test/mod_lbfarm.so";
}

sub module_path { $ENV{LBF_MODULE} // "$ROOT/.libs/mod_lbfarm.so" }
sub member_path { $ENV{LBF_MEMBER} // "$ROOT/tools/lbf_member" }
sub asan        { $ENV{LBF_ASAN} ? 1 : 0 }
# Timing-sensitive waits get longer under ASan.
sub slow_factor { asan() ? 2 : 1 }

# Polls $cond every $step seconds until it returns true or $timeout
# seconds pass; returns the last value of $cond.
sub wait_until {
    my ($timeout, $cond, $step) = @_;
    $step //= 0.05;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $step;
    }
}

# A port that was free on 127.0.0.1 a moment ago.
sub free_port {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen => 1, ReuseAddr => 0,
    ) or die "free_port: bind 127.0.0.1:0: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub port_accepts {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
        Timeout => 1,
    );
    return 0 unless $s;
    close $s;
    return 1;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $t = <$fh>;
    close $fh;
    return $t // '';
}

sub spit {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "write $file: $!";
    print {$fh} $text;
    close $fh or die "close $file: $!";
}

# fork + exec with stdout/stderr to $log and an optional extra
# environment; returns the PID (recorded in %LIVE).
sub spawn {
    my (%a) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $a{log} or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        $ENV{$_} = $a{env}{$_} for keys %{ $a{env} || {} };
        { no warnings 'exec'; exec { $a{argv}[0] } @{ $a{argv} }; }
        print STDERR "exec $a{argv}[0]: $!\n";
        _exit(127);
    }
    $LIVE{$pid} = $a{what};
    return $pid;
}

# PIDs of the direct children of $ppid (httpd's worker processes).
sub children_of {
    my ($ppid) = @_;
    my @kids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = slurp("/proc/$p/stat");
        next unless $st =~ /^\d+ \(.*\) \S (\d+)/s;
        push @kids, $p if $1 == $ppid;
    }
    closedir $d;
    return @kids;
}

# Waits (bounded) for $pid to exit; returns its wait status or undef.
sub reap {
    my ($pid, $timeout) = @_;
    local $?;    # a stray $? of -1 would turn a later die() into exit 0
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { delete $LIVE{$pid}; return $?; }
        if ($r < 0) { delete $LIVE{$pid}; return -1; }
        return undef if time >= $deadline;
        sleep 0.02;
    }
}

# SIGTERM, a bounded wait, then SIGKILL (to the process and, for httpd,
# to the worker processes it leaves behind).  Returns the wait status.
sub terminate {
    my ($pid, $timeout) = @_;
    return undef unless $pid && exists $LIVE{$pid};
    my @kids = children_of($pid);
    kill 'TERM', $pid;
    my $st = reap($pid, $timeout);
    if (!defined $st) {
        diag("pid $pid ($LIVE{$pid}) ignored SIGTERM for ${timeout}s: SIGKILL");
        kill 'KILL', $pid;
        $st = reap($pid, 5);
    }
    # Worker processes of a killed httpd are reparented, not ours to reap.
    for my $k (@kids) {
        kill 'KILL', $k if -e "/proc/$k" && kill(0, $k);
    }
    return $st;
}

END {
    if ($$ == $OWNER) {
        my $keep = $?;
        for my $pid (keys %LIVE) {
            terminate($pid, 5);
        }
        $? = $keep;
    }
}

$SIG{INT} = $SIG{TERM} = sub { die "interrupted\n" };

###########################################################################
# Members

package LBFTest::Member;

sub pid  { $_[0]{pid} }
sub port { $_[0]{port} }
sub name { $_[0]{name} }
sub url  { "http://127.0.0.1:$_[0]{port}" }
sub log  { LBFTest::slurp($_[0]{log}) }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    my $st = LBFTest::terminate($self->{pid}, 5);
    $self->{exit} = $st;
    delete $self->{pid};
    return $st;
}

sub DESTROY { $_[0]->stop if $$ == $OWNER && $_[0]{pid} }

package LBFTest;

my $MEMBER_DIR;

# start_member(NAME, port => P, bind => ADDR, args => [...]): runs
# tools/lbf_member (with the extra command-line args, if any) and waits
# (5 s) for its "ready NAME PORT" line or for the port to accept.
sub start_member {
    my ($name, %opt) = @_;
    my $bin = member_path();
    die "start_member: $bin not built\n" unless -x $bin;
    $MEMBER_DIR //= tempdir('lbf-members-XXXXXX', TMPDIR => 1,
                            CLEANUP => !$ENV{LBF_KEEP});
    my $port = $opt{port} // free_port();
    my $log = "$MEMBER_DIR/$name-$port.log";
    local $?;
    my @argv = ($bin, '--port', $port, '--name', $name,
                @{ $opt{args} || [] });
    push @argv, '--bind', $opt{bind} if $opt{bind};
    my $pid = spawn(argv => \@argv, log => $log, what => "member $name");
    my $self = bless { pid => $pid, port => $port, name => $name,
                       log => $log }, 'LBFTest::Member';
    my $ok = wait_until(5 * slow_factor(), sub {
        return 'ready' if slurp($log) =~ /^ready \Q$name\E \Q$port\E/m;
        return 'dead' if waitpid($pid, WNOHANG) == $pid;
        return port_accepts($port) ? 'ready' : 0;
    });
    if (!$ok || $ok ne 'ready') {
        my $out = slurp($log);
        if ($ok) {                      # exited: already reaped
            delete $LIVE{$pid};
            delete $self->{pid};
        }
        $self->stop;
        die "start_member $name on port $port failed"
            . ($ok ? " (exited)" : " (not ready in 5 s)") . "; output:\n$out";
    }
    return $self;
}

###########################################################################
# httpd

# The modules our configurations load, in order, before mod_lbfarm.
our @MODULES = qw(
    mpm_event authz_core unixd mime alias headers proxy proxy_http
    proxy_balancer slotmem_shm lbmethod_byrequests lbmethod_bybusyness
);

sub preamble {
    my (%a) = @_;
    my $dir = $a{dir};
    my $t = "# generated by t/lib/LBFTest.pm\n"
          . "ServerRoot \"$dir\"\n"
          . "PidFile \"$dir/httpd.pid\"\n"
          . "ErrorLog \"$dir/error_log\"\n"
          . "LogLevel " . ($a{loglevel} // 'warn') . "\n"
          . "DefaultRuntimeDir \"$dir/run\"\n"
          . "Mutex file:$dir/run default\n";
    for my $m (@MODULES, @{ $a{modules} || [] }) {
        my $so = "$MODDIR/mod_$m.so";
        next unless -f $so;            # e.g. unixd is compiled into apache2
        $t .= "LoadModule ${m}_module $so\n";
    }
    $t .= "LoadModule lbfarm_module " . module_path() . "\n"
        unless $a{no_lbfarm};
    $t .= "Listen 127.0.0.1:$a{port}\n"
        . "ServerName 127.0.0.1\n"
        . "DocumentRoot \"$dir/htdocs\"\n"
        . "TypesConfig /etc/mime.types\n"
        . "<IfModule mpm_event_module>\n"
        . "    StartServers 2\n"
        . "    ServerLimit 16\n"
        . "    ThreadsPerChild 25\n"
        . "    MinSpareThreads 25\n"
        . "    MaxSpareThreads 150\n"
        . "    MaxRequestWorkers 150\n"
        . "    MaxConnectionsPerChild 0\n"
        . "</IfModule>\n"
        . "KeepAlive On\n"
        . "MaxKeepAliveRequests 0\n"
        . "KeepAliveTimeout 15\n"
        . "Timeout 30\n";
    $t .= "User www-data\nGroup www-data\n" if $> == 0;
    $t .= "# --- test body ---\n";
    return $t;
}

sub httpd_env {
    my %env;
    if (asan()) {
        my $lib = `gcc -print-file-name=libasan.so`;
        chomp $lib;
        die "LBF_ASAN=1 but gcc knows no libasan.so\n" unless $lib =~ m{/};
        $env{LD_PRELOAD} = $lib;
        $env{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=0';
        $env{UBSAN_OPTIONS} = 'print_stacktrace=1';
    }
    return \%env;
}

sub make_dir {
    my $dir = tempdir('lbf-httpd-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{LBF_KEEP});
    # httpd's children run as www-data: let them traverse the directory.
    chmod 0755, $dir;
    mkdir "$dir/$_" for qw(run htdocs);
    chmod 0755, "$dir/run";
    return $dir;
}

# config_test($body, %preamble_opts) -> (exit code, output of apache2 -t).
sub config_test {
    my ($body, %opt) = @_;
    my $dir = make_dir();
    my $conf = "$dir/httpd.conf";
    spit($conf, preamble(%opt, dir => $dir, port => free_port()) . $body);
    my $log = "$dir/configtest.out";
    my $pid = spawn(argv => [$HTTPD, '-t', '-f', $conf], log => $log,
                    env => httpd_env(), what => 'apache2 -t');
    my $st = reap($pid, 30);
    if (!defined $st) {
        terminate($pid, 2);
        return (-1, slurp($log) . "\n(apache2 -t timed out)\n");
    }
    my $rc = $st == -1 ? -1 : ($st & 127) ? 128 + ($st & 127) : $st >> 8;
    return ($rc, slurp($log));
}

package LBFTest::Httpd;

sub pid   { $_[0]{pid} }
sub port  { $_[0]{port} }
sub dir   { $_[0]{dir} }
sub conf  { $_[0]{conf} }
sub url   { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '/') }
sub error_log { LBFTest::slurp("$_[0]{dir}/error_log") }
sub stderr    { LBFTest::slurp("$_[0]{dir}/stderr") }
sub running   { $_[0]{pid} && kill(0, $_[0]{pid}) }

# Any HTTP answer on a path no test proxies means "the server answers".
sub answers {
    my ($self) = @_;
    my $ua = HTTP::Tiny->new(timeout => 2, keep_alive => 0,
                             max_redirect => 0);
    my $r = $ua->get($self->url('/__lbf_probe'));
    return $r->{status} != 599;
}

sub children { LBFTest::children_of($_[0]{pid}) }

sub stop {
    my ($self) = @_;
    return $self->{exit} unless $self->{pid};
    my $st = LBFTest::terminate($self->{pid}, 10);
    $self->{exit} = $st;
    delete $self->{pid};
    return $st;
}

# graceful(body => NEW_BODY): rewrites the configuration when asked, sends
# SIGUSR1 and waits (bounded) for a new generation of children that answers.
# graceful_start + graceful_wait do the same in two steps (traffic between).
sub graceful {
    my ($self, %opt) = @_;
    $self->graceful_start(%opt);
    return $self->graceful_wait;
}

# How many times the parent said "resuming normal operations" (AH00489,
# logged at notice whatever the LogLevel): once per start and restart.
sub resumed {
    my ($self) = @_;
    return scalar(() = $self->error_log =~ /AH00489:/g);
}

sub graceful_start {
    my ($self, %opt) = @_;
    die "graceful: httpd not running\n" unless $self->running;
    if (defined $opt{body}) {
        $self->{body} = $opt{body};
        LBFTest::spit($self->{conf}, $self->{preamble} . $opt{body});
    }
    $self->{old_children} = { map { $_ => 1 } $self->children };
    $self->{resumed} = $self->resumed;
    kill 'USR1', $self->{pid};
    return 1;
}

sub graceful_wait {
    my ($self, $timeout) = @_;
    $timeout //= 15;
    my $old = $self->{old_children} || {};
    my $resumed = $self->{resumed} // 0;
    # a child the old generation spawns after graceful_start is "new" and
    # answers too: only the parent's AH00489 says the restart is done
    my $ok = LBFTest::wait_until($timeout * LBFTest::slow_factor(), sub {
        return 0 unless $self->running && $self->resumed > $resumed;
        my @new = grep { !$old->{$_} } $self->children;
        return @new && $self->answers;
    }, 0.1);
    die "graceful restart did not complete in ${timeout} s; error_log:\n"
        . $self->error_log unless $ok;
    return 1;
}

# The log lines a test must account for: [error] and worse, sanitizer
# reports, crashes.  From the error_log and httpd's own stderr.
sub error_lines {
    my ($self) = @_;
    my @lines;
    for my $text ($self->error_log, $self->stderr) {
        for my $l (split /\n/, $text) {
            push @lines, $l
                if $l =~ /\[(?:[\w.-]+:)?(?:error|crit|alert|emerg)\]/
                || $l =~ /AddressSanitizer|LeakSanitizer|runtime error:/
                || $l =~ /Segmentation fault|exit signal|core dumped/i;
        }
    }
    return @lines;
}

sub DESTROY { $_[0]->stop if $$ == $OWNER && $_[0]{pid} }

package LBFTest;

# start_httpd(body => TEXT, loglevel => L, modules => [...]): writes the
# configuration, starts apache2 -DFOREGROUND, waits (10 s) until it answers.
sub start_httpd {
    my (%opt) = @_;
    my $dir = make_dir();
    my $port = free_port();
    my $pre = preamble(%opt, dir => $dir, port => $port);
    my $conf = "$dir/httpd.conf";
    local $?;
    spit($conf, $pre . $opt{body});
    my $pid = spawn(argv => [$HTTPD, '-f', $conf, '-DFOREGROUND'],
                    log => "$dir/stderr", env => httpd_env(),
                    what => "httpd :$port");
    my $self = bless { pid => $pid, port => $port, dir => $dir,
                       conf => $conf, preamble => $pre, body => $opt{body} },
                     'LBFTest::Httpd';
    my $ok = wait_until(10 * slow_factor(), sub {
        return 'dead' if waitpid($pid, WNOHANG) != 0;
        return $self->answers ? 'up' : 0;
    }, 0.1);
    if (!$ok || $ok ne 'up') {
        my $why = $ok ? 'exited' : 'did not answer in 10 s';
        delete $LIVE{$pid} if $ok;
        $self->stop;
        die "start_httpd: apache2 $why\n--- stderr:\n" . $self->stderr
            . "--- error_log:\n" . $self->error_log
            . "--- body:\n$opt{body}";
    }
    return $self;
}

# no_unexpected_errors($httpd, @allowed_regexes): stops httpd (so a crash
# at shutdown is seen too) and asserts that every error line is allowed.
sub no_unexpected_errors {
    my ($h, @allowed) = @_;
    my $st = $h->stop;
    my @bad = grep { my $l = $_; !grep { $l =~ $_ } @allowed }
              $h->error_lines;
    my $ok = ok(!@bad, 'no unexpected errors in the error log');
    diag("unexpected: $_") for @bad;
    # apache2 -DFOREGROUND exits 0 on SIGTERM.
    ok(defined $st && $st == 0, 'httpd exited cleanly on SIGTERM')
        or diag('wait status: ' . ($st // 'undef'));
    return $ok;
}

###########################################################################
# Clients

my $UA;

# A fresh keep-alive client (drops the current connection).
sub new_client {
    $UA = HTTP::Tiny->new(timeout => 10, keep_alive => 1, max_redirect => 0,
                          agent => 'lbf-test/0.1');
    return $UA;
}

sub wrap {
    my ($r) = @_;
    return {
        status  => $r->{status},
        reason  => $r->{reason},
        headers => $r->{headers},
        member  => $r->{headers}{'x-member'},
        body    => $r->{content} // '',
    };
}

# get($url) -> {status, member (X-Member), headers, body}
sub get {
    my ($url, %h) = @_;
    $UA //= new_client();
    return wrap($UA->get($url, { headers => \%h }));
}

sub post {
    my ($url, $content, %h) = @_;
    $UA //= new_client();
    $h{'content-type'} //= 'application/x-www-form-urlencoded';
    return wrap($UA->request('POST', $url,
                             { content => $content, headers => \%h }));
}

# count_members($url, $n) -> ({member => count}, [statuses not 200])
sub count_members {
    my ($url, $n) = @_;
    my (%c, @bad);
    for (1 .. $n) {
        my $r = get($url);
        if ($r->{status} == 200) {
            $c{ $r->{member} // '(none)' }++;
        } else {
            push @bad, "$r->{status} $r->{reason}";
        }
    }
    return (\%c, \@bad);
}

# A request left in flight on its own connection: start_request($url)
# sends it; finish_request($req, $timeout) reads the whole answer.
sub start_request {
    my ($url) = @_;
    my ($port, $path) = $url =~ m{^http://127\.0\.0\.1:(\d+)(/.*)$}
        or die "start_request: bad url $url";
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "start_request: connect :$port: $!";
    $s->autoflush(1);
    print {$s} "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
             . "Connection: close\r\n\r\n";
    return { sock => $s, url => $url, t0 => time };
}

sub finish_request {
    my ($req, $timeout) = @_;
    my $s = $req->{sock};
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $left = $deadline - time;
        next unless $sel->can_read($left > 0 ? $left : 0);
        my $n = sysread($s, $buf, 65536, length $buf);
        next if !defined $n && $! == EINTR;
        last unless $n;
    }
    close $s;
    my %r = (status => 599, member => undef, body => '', raw => $buf,
             elapsed => time - $req->{t0});
    if ($buf =~ m{^HTTP/1\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)\z}s) {
        $r{status} = $1;
        $r{body} = $3;
        my $hdr = $2;
        $r{member} = $1 if $hdr =~ /^x-member:\s*(\S+)/mi;
    }
    return \%r;
}

# The smooth weighted round-robin schedule of @w (indexes), $n steps:
# each step adds every weight to its current value, picks the largest
# (lowest index on a tie) and subtracts the total from it.
sub swrr_schedule {
    my ($n, @w) = @_;
    my $total = 0;
    $total += $_ for @w;
    my @cur = (0) x @w;
    my @out;
    for (1 .. $n) {
        my $best = 0;
        for my $i (0 .. $#w) {
            $cur[$i] += $w[$i];
            $best = $i if $cur[$i] > $cur[$best];
        }
        $cur[$best] -= $total;
        push @out, $best;
    }
    return @out;
}

1;

###########################################################################
# Pushed metrics (t/10_push.t, t/11_push_errors.t).  Subs added after the
# rest; call them as LBFTest::push_member_key(...) etc. (not in @EXPORT).

package LBFTest;

use Digest::SHA ();

# push_member_key($secret_line, $member) -> the member key, 64 hex digits:
# HMAC-SHA256(key = the secret line's bytes, data = "lbfarm-member:MEMBER").
sub push_member_key {
    my ($secret, $member) = @_;
    return Digest::SHA::hmac_sha256_hex("lbfarm-member:$member", $secret);
}

# push_sign($key_hex, $query) -> "$query&sig=HEX", HEX the HMAC-SHA256 of
# every byte of $query under the 32 raw bytes of the member key.
sub push_sign {
    my ($key_hex, $q) = @_;
    return "$q&sig=" . Digest::SHA::hmac_sha256_hex($q, pack('H*', $key_hex));
}

# push_seq() -> the clock in ms, strictly above every value it returned.
my $PUSH_SEQ = 0;
sub push_seq {
    my $s = int(time * 1000);
    $PUSH_SEQ = $s > $PUSH_SEQ ? $s : $PUSH_SEQ + 1;
    return $PUSH_SEQ;
}

# push_query(key => HEX, farm => F, member => M, metrics => [cpu => 0.5,
# ...], ts => T, seq => S) -> the signed query (ts: now, seq: push_seq()).
sub push_query {
    my (%a) = @_;
    my @m = @{ $a{metrics} || [] };
    my $q = "farm=$a{farm}&member=$a{member}&ts=" . ($a{ts} // int(time))
          . '&seq=' . ($a{seq} // push_seq());
    while (my ($k, $v) = splice @m, 0, 2) {
        $q .= "&$k=$v";
    }
    return push_sign($a{key}, $q);
}

# status_rows($httpd) -> { "FARM/MEMBER" => { state => .., load => ..,
# load_age_ms => .., headroom => .., requests => .., ... } } from the text
# form of the status page, /lbfarm-status?format=text (undef when it does
# not answer 200).
sub status_rows {
    my ($h, $path) = @_;
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    $path //= '/lbfarm-status';
    # the page's default form is HTML: ask for the text lines
    $path .= ($path =~ /\?/ ? '&' : '?') . 'format=text'
        unless $path =~ /[?&]format=/;
    my $r = $ua->get($h->url($path));
    return undef unless $r->{status} == 200;
    my %rows;
    for my $l (split /\n/, $r->{content} // '') {
        next unless $l =~ /^member (\S+) (\S+) (.*)$/;
        my ($f, $m, $rest) = ($1, $2, $3);
        $rows{"$f/$m"} = { map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () }
                           split / /, $rest };
    }
    return \%rows;
}

# parallel_counts($url, clients => N, total => T, timeout => S, tick =>
# CODE): N processes, each with its own keep-alive connection, send T
# requests in all (T/N each, as fast as answers come); tick, if given, is
# called about every 0.25 s while they run.  Returns ({member => count},
# [non-200 statuses], elapsed seconds).  Processes still running after S
# seconds are killed.
sub parallel_counts {
    my ($url, %o) = @_;
    my $n = $o{clients} // 20;
    my $per = int((($o{total} // 1000) + $n - 1) / $n);
    my $timeout = $o{timeout} // 30;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $t0 = time;
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $rd;
            my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
            my %c;
            my $end = $t0 + $timeout;
            for (1 .. $per) {
                last if time > $end;
                my $r = $ua->get($url);
                my $k = $r->{status} == 200
                      ? ($r->{headers}{'x-member'} // '(none)')
                      : "!$r->{status}";
                $c{$k}++;
            }
            syswrite $wr, join(' ', map { "$_=$c{$_}" } sort keys %c) . "\n";
            _exit(0);
        }
        $LIVE{$pid} = "client $i";
        push @pids, $pid;
    }
    close $wr;
    my (%count, @bad);
    my $sel = IO::Select->new($rd);
    my ($buf, $lines, $next_tick) = ('', 0, time);
    while ($lines < $n && time < $t0 + $timeout + 5) {
        if ($o{tick} && time >= $next_tick) {
            $o{tick}->();
            $next_tick = time + 0.25;
        }
        next unless $sel->can_read(0.05);
        my $got = sysread($rd, $buf, 4096, length $buf);
        last unless $got;
        while ($buf =~ s/^([^\n]*)\n//) {
            $lines++;
            for (split / /, $1) {
                my ($k, $v) = split /=/;
                if ($k =~ /^!(\d+)$/) { push @bad, ($1) x $v; }
                else { $count{$k} += $v; }
            }
        }
    }
    close $rd;
    my $elapsed = time - $t0;
    for my $pid (@pids) {
        kill 'KILL', $pid unless defined reap($pid, 2);
        reap($pid, 2);
    }
    push @bad, "only $lines of $n clients reported" if $lines < $n;
    return (\%count, \@bad, $elapsed);
}

1;

###########################################################################
# Member life cycle and sessions (t/20_lifecycle.t, t/21_sessions.t,
# t/22_instructions.t).  Subs added after the rest; call them as
# LBFTest::sess_cookie(...) etc. (not in @EXPORT).

package LBFTest;

# start_member_args(NAME, args => [...], ...): start_member with extra
# command-line arguments (e.g. args => ['--app-key-file', $path]).
sub start_member_args { return start_member(@_) }

# secret_file(@lines) -> path of a new file (in a private temporary
# directory, mode 0644 so httpd's children could read it too) holding
# one secret per line, as LBFarmSessionKey and --app-key-file read it.
my ($SECRET_DIR, $SECRET_N);
sub secret_file {
    my (@lines) = @_;
    $SECRET_DIR //= tempdir('lbf-secrets-XXXXXX', TMPDIR => 1,
                            CLEANUP => !$ENV{LBF_KEEP});
    chmod 0755, $SECRET_DIR;
    my $path = "$SECRET_DIR/secret-" . ++$SECRET_N . '.txt';
    spit($path, join('', map { "$_\n" } @lines));
    chmod 0644, $path;
    return $path;
}

# sess_keys($secret_line) -> (cookie key, app key), 32 raw bytes each:
# HMAC-SHA256(key = the secret, data = "lbfarm-cookie" / "lbfarm-app").
sub sess_keys {
    my ($secret) = @_;
    return (Digest::SHA::hmac_sha256('lbfarm-cookie', $secret),
            Digest::SHA::hmac_sha256('lbfarm-app', $secret));
}

# sess_member_id($secret, $member) -> 16 hex: the first 8 bytes of
# HMAC-SHA256(cookie key, "member:" + name).
sub sess_member_id {
    my ($secret, $member) = @_;
    my ($ck) = sess_keys($secret);
    return substr(Digest::SHA::hmac_sha256_hex("member:$member", $ck), 0, 16);
}

# sess_cookie($secret, $farm, $mode, $member, $expiry) -> the value of a
# session cookie "1.<mode>.<id>.<expiry 8 hex>.<mac 32 hex>", mac = first
# 16 bytes of HMAC-SHA256(cookie key, farm + "|" + the rest).
sub sess_cookie {
    my ($secret, $farm, $mode, $member, $expiry) = @_;
    my ($ck) = sess_keys($secret);
    my $body = sprintf('1.%s.%s.%08x', $mode, sess_member_id($secret, $member),
                       $expiry);
    return "$body." . substr(Digest::SHA::hmac_sha256_hex("$farm|$body", $ck),
                             0, 32);
}

# move_cookie($secret, $from, $to, $expiry) -> "2.<to>.<expiry>.<mac>".
sub move_cookie {
    my ($secret, $from, $to, $expiry) = @_;
    my ($ck) = sess_keys($secret);
    my $body = sprintf('2.%s.%08x', $to, $expiry);
    return "$body." . substr(Digest::SHA::hmac_sha256_hex("$from|$body", $ck),
                             0, 32);
}

# instr_sign($secret, $member, $text) -> "$text;sig=<64 hex>", sig =
# HMAC-SHA256(app key, member + "|" + text).
sub instr_sign {
    my ($secret, $member, $text) = @_;
    my (undef, $ak) = sess_keys($secret);
    return "$text;sig=" . Digest::SHA::hmac_sha256_hex("$member|$text", $ak);
}

# parse_sess_cookie($value) -> {mode, id, expiry, mac} or undef.
sub parse_sess_cookie {
    my ($v) = @_;
    return undef unless defined $v
        && $v =~ /^1\.([wa])\.([0-9a-f]{16})\.([0-9a-f]{8})\.([0-9a-f]{32})$/;
    return { mode => $1, id => $2, expiry => hex($3), mac => $4 };
}

# set_cookies($r) -> every Set-Cookie header value of response $r (from
# get/post).
sub set_cookies {
    my ($r) = @_;
    my $v = $r->{headers}{'set-cookie'};
    return () unless defined $v;
    return ref $v ? @$v : ($v);
}

# set_cookie_named($r, $name) -> (value, attributes) of the last
# Set-Cookie for $name, or () when there is none.
sub set_cookie_named {
    my ($r, $name) = @_;
    my @hit = grep { /^\Q$name\E=/ } set_cookies($r);
    return () unless @hit;
    my ($pair, $attrs) = split /;\s*/, $hit[-1], 2;
    my (undef, $value) = split /=/, $pair, 2;
    return ($value // '', $attrs // '');
}

# port_leaks($r, @ports) -> descriptions of every place where one of the
# member ports appears in response $r: in a header (name or value) or the
# body, as a number token (not inside a longer alphanumeric token, such
# as a hex mac).  The numeric counters of the status page are masked.
sub port_leaks {
    my ($r, @ports) = @_;
    my @where;
    my @parts = (['body', $r->{body} // '']);
    for my $k (sort keys %{ $r->{headers} || {} }) {
        my $v = $r->{headers}{$k};
        push @parts, ["header $k", "$k: $_"] for ref $v ? @$v : ($v);
    }
    for my $p (@parts) {
        my $text = $p->[1];
        $text =~ s/\b(?:requests|errors|inflight|error_left_ms|load_age_ms|
                      generation)=-?\d+//gx;
        for my $port (@ports) {
            push @where, "$p->[0] has $port: "
                . substr($p->[1], 0, 200)
                if $text =~ /(?<![0-9A-Za-z])\Q$port\E(?![0-9A-Za-z])/;
        }
    }
    return @where;
}

# status_get($h) -> (response as get() returns it, {"FARM/MEMBER" =>
# {state => .., requests => .., ...}}) from /lbfarm-status, on a
# connection of its own.
sub status_get {
    my ($h, $path) = @_;
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    my $r = wrap($ua->get($h->url($path // '/lbfarm-status?format=text')));
    my %rows;
    for my $l (split /\n/, $r->{body}) {
        next unless $l =~ /^member (\S+) (\S+) (.*)$/;
        my ($f, $m, $rest) = ($1, $2, $3);
        $rows{"$f/$m"} = { map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () }
                           split / /, $rest };
    }
    return ($r, \%rows);
}

1;

###########################################################################
# Fault drills (t/60..64_fault_*.t).  Subs added after the rest; call them
# as LBFTest::wrk_start(...) etc. (not in @EXPORT).

package LBFTest;

# wrk_start($url, secs => S, conns => C, threads => T, timeout => W,
# script => LUA): starts wrk (in %LIVE, output to a file of its own);
# wrk_finish($handle) waits for it (S + 15 s at most) and returns {requests,
# non2xx, connect, read, write, timeout, errors (the sum of the five),
# out}.  wrk counts a connection closed without an answer as a read error.
my $WRK_N = 0;
sub wrk_start {
    my ($url, %o) = @_;
    my $dir = $MEMBER_DIR // tempdir('lbf-wrk-XXXXXX', TMPDIR => 1,
                                     CLEANUP => !$ENV{LBF_KEEP});
    my $log = "$dir/wrk-" . ++$WRK_N . ".out";
    my @argv = ('wrk', '-t', $o{threads} // 2, '-c', $o{conns} // 20,
                '-d', ($o{secs} // 5) . 's', '--timeout',
                ($o{timeout} // 5) . 's');
    push @argv, '-s', $o{script} if $o{script};
    my $pid = spawn(argv => [@argv, $url], log => $log, what => 'wrk');
    return { pid => $pid, log => $log, secs => $o{secs} // 5, t0 => time };
}

sub wrk_finish {
    my ($w) = @_;
    my $st = reap($w->{pid}, $w->{secs} + 15);
    terminate($w->{pid}, 2) unless defined $st;
    my $out = slurp($w->{log});
    my %r = (out => $out, requests => -1, non2xx => 0);
    $r{requests} = $1 if $out =~ /^\s*(\d+) requests in /m;
    $r{non2xx} = $1 if $out =~ /Non-2xx or 3xx responses: (\d+)/;
    @r{qw(connect read write timeout)} = (0, 0, 0, 0);
    @r{qw(connect read write timeout)} = ($1, $2, $3, $4)
        if $out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), (?#
                    )timeout (\d+)/;
    $r{errors} = $r{non2xx} + $r{connect} + $r{read} + $r{write}
               + $r{timeout};
    return \%r;
}

# cpu_ticks(@pids) -> utime + stime of those processes (clock ticks, from
# /proc/PID/stat; a process gone counts 0).
sub cpu_ticks {
    my $t = 0;
    for my $p (@_) {
        my $st = slurp("/proc/$p/stat");
        next unless $st =~ /^\d+ \(.*\) (.*)$/s;
        my @f = split / /, $1;    # f[0] is field 3 (state)
        $t += $f[11] + $f[12];    # fields 14 and 15
    }
    return $t;
}


# admin_post($h, [field => value, ...], page => PATH) -> the HTTP::Tiny
# response of one administration POST to the status page ($h's
# /lbfarm-status by default): a fresh session (cookie and nonce from a GET
# of the HTML page), Origin of $h's own URL.
sub admin_post {
    my ($h, $fields, %o) = @_;
    my $page = $h->url($o{page} // '/lbfarm-status');
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
                             max_redirect => 0);
    my $r = $ua->get($page);
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    my ($nonce) = ($r->{content} // '') =~ /name="nonce" value="(\w+)"/;
    my @f = (nonce => $nonce // '', @$fields);
    my @pairs;
    while (my ($k, $v) = splice @f, 0, 2) {
        s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge for $k, $v;
        push @pairs, "$k=$v";
    }
    return $ua->request('POST', $page, {
        content => join('&', @pairs),
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     Origin => $h->url(''),
                     Cookie => 'lbfstatus_sid=' . ($sid // '') } });
}

1;
