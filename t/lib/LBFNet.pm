# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# LBFNet -- helpers for the tests that need more than one 127.0.0.1:
# private networks of Linux network namespaces (t/50_ha_pair.t), the
# configuration templates of conf/examples/ and conf/ha/, a request tap
# that counts what reaches a member, and a client that sets Host
# (t/51_examples.t).  Builds on t/lib/LBFTest.pm: every process started
# here is recorded there and stopped by PID, even when a test dies.
#
#   my $why = LBFNet::net_skip_reason();           # '' when usable
#   my $net = LBFNet::Net->create(prefix => 24,
#       nodes => { lb1 => '10.199.0.11', cl => '10.199.0.50' });
#   my $m = $net->start_member('m1', 'm1', port => 8080);
#   my $h = $net->start_httpd('lb1', body => $conf, port => 8080);
#   my $r = $net->curl('cl', 'http://10.199.0.11:8080/', headers => [...]);
#   $net->destroy;        # also done at END
#
# Every namespace is named lbfnet<PID>-<node>; the nodes hang off one
# Linux bridge that lives in a namespace of its own (lbfnet<PID>-sw), so
# nothing -- no veth, no bridge, no address -- is created on the host's
# interfaces.  Deleting the namespaces (after their processes are
# stopped) removes every interface.  Namespaces left by a run that was
# killed (its PID gone) are removed by the next create().
#
#   my $tap = LBFNet::start_tap($member->port);   # ->port ->url ->stop
#   $tap->requests(qr{^/app/});                   # requests seen so far
#   my $text = LBFNet::fill_template($file, { MEMBER1 => $url, ... });
package LBFNet;

use strict;
use warnings;

use Errno qw(EINTR EAGAIN);
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);
use LBFTest ();

my $IP = -x '/usr/sbin/ip' ? '/usr/sbin/ip' : (-x '/sbin/ip' ? '/sbin/ip' : 'ip');
my $OWNER = $$;
my @NETS;                  # every Net created and not yet destroyed

sub ip_path { $IP }

# run_bounded($timeout, @argv) -> (exit code, output): runs @argv (no
# shell) with stdout and stderr captured together; a command still
# running after $timeout seconds is killed (exit code -1).
sub run_bounded {
    my ($timeout, @argv) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $rd;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $wr or _exit(126);
        open STDERR, '>&', $wr or _exit(126);
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        print STDERR "exec $argv[0]: $!\n";
        _exit(127);
    }
    close $wr;
    my $sel = IO::Select->new($rd);
    my ($out, $deadline) = ('', time + $timeout);
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($rd, $out, 65536, length $out);
        next if !defined $n && $! == EINTR;
        last unless $n;
    }
    close $rd;
    local $?;
    my $r = waitpid($pid, WNOHANG);
    if ($r == 0) {
        my $end = time + 0.2;            # EOF came: about to exit
        sleep 0.01 while ($r = waitpid($pid, WNOHANG)) == 0 && time < $end;
    }
    if ($r == 0) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        return (-1, $out . "\n(killed after ${timeout}s: @argv)\n");
    }
    my $st = $?;
    return (($st & 127) ? 128 + ($st & 127) : $st >> 8, $out);
}

# ip(@args) -> (exit code, output) of "ip @args", 10 s at most.
sub ip { return run_bounded(10, $IP, @_) }

# net_skip_reason() -> '' when this process can build namespace networks
# (root, iproute2, ip netns, a bridge and a veth), else why not.
sub net_skip_reason {
    return 'needs root (ip netns, veth, bridge)' if $> != 0;
    my ($rc, $out) = run_bounded(5, $IP, '-V');
    return "iproute2's ip is not usable: $out" if $rc != 0;
    my $ns = "lbfnet$$-probe";
    my $p = "$ns-p";
    ($rc, $out) = ip('netns', 'add', $ns);
    return "ip netns add is not usable: $out" if $rc != 0;
    my @steps = (
        ['-n', $ns, 'link', 'add', 'br0', 'type', 'bridge'],
        ['-n', $ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name',
         'v1'],
        ['-n', $ns, 'link', 'set', 'v0', 'master', 'br0'],
    );
    my $why = '';
    for my $s (@steps) {
        ($rc, $out) = ip(@$s);
        if ($rc != 0) { $why = "ip @$s failed: $out"; last; }
    }
    ip('netns', 'del', $ns);
    return $why;
}

# ns_list() -> the names of every network namespace (ip netns list).
sub ns_list {
    my ($rc, $out) = ip('netns', 'list');
    return () if $rc != 0;
    return map { (split ' ', $_)[0] } grep { /\S/ } split /\n/, $out;
}

# pid_alive($pid): the process exists and is not a zombie (a test killed
# a moment ago may not be reaped yet).
sub pid_alive {
    my ($pid) = @_;
    return 0 unless kill(0, $pid);
    my $st = LBFTest::slurp("/proc/$pid/stat");
    return $st =~ /^\d+ \(.*\) Z /s ? 0 : 1;
}

# Removes the namespaces of earlier runs whose test process is gone:
# first the processes still inside them (those runs started them), then
# the namespaces (and with them their interfaces).
sub cleanup_stale {
    for my $ns (ns_list()) {
        next unless $ns =~ /^lbfnet(\d+)-/;
        next if $1 == $$ || pid_alive($1);
        my ($rc, $pids) = ip('netns', 'pids', $ns);
        for my $pid (split ' ', $pids // '') {
            kill 'KILL', $pid if $pid =~ /^\d+$/;
        }
        ip('netns', 'del', $ns);
    }
}

###########################################################################
# Configuration templates

# placeholders_used($text) -> sorted names of the @NAME@ placeholders
# (upper case, digits, _) in the non-comment lines of $text.
sub placeholders_used {
    my ($text) = @_;
    my %seen;
    for my $l (split /\n/, $text) {
        next if $l =~ /^\s*#/;
        $seen{$1} = 1 while $l =~ /@([A-Z][A-Z0-9_]*)@/g;
    }
    return sort keys %seen;
}

# placeholders_documented($text) -> sorted names of the placeholders that
# the file's opening comment explains: a comment line that starts with
# one or more "@NAME@" words.
sub placeholders_documented {
    my ($text) = @_;
    my %seen;
    for my $l (split /\n/, $text) {
        last unless $l =~ /^#/ || $l =~ /^\s*$/;
        next unless $l =~ /^#\s+((?:@[A-Z][A-Z0-9_]*@\s*)+)/;
        my $words = $1;
        $seen{$1} = 1 while $words =~ /@([A-Z][A-Z0-9_]*)@/g;
    }
    return sort keys %seen;
}

# fill_template($file, {NAME => value}) -> the file's text with every
# @NAME@ replaced; dies naming any placeholder left without a value.
sub fill_template {
    my ($file, $vals) = @_;
    my $text = LBFTest::slurp($file);
    die "fill_template: cannot read $file\n" unless length $text;
    $text =~ s/@([A-Z][A-Z0-9_]*)@/exists $vals->{$1} ? $vals->{$1} : "\@$1\@"/ge;
    my @left = placeholders_used($text);
    die "fill_template: $file: no value for @left\n" if @left;
    return $text;
}

###########################################################################
# A client that sets Host (HTTP::Tiny refuses to)

# http_get_host($port, $host, $path, %headers) -> {status, member,
# headers (lower-case names), body} of GET $path on 127.0.0.1:$port with
# "Host: $host", on a connection of its own (5 s at most).
sub http_get_host {
    my ($port, $host, $path, %hdr) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return { status => 599, body => "connect: $!", headers => {} };
    my $req = "GET $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n"
            . join('', map { "$_: $hdr{$_}\r\n" } sort keys %hdr) . "\r\n";
    syswrite $s, $req;
    my ($buf, $sel, $deadline) = ('', IO::Select->new($s), time + 5);
    while (time < $deadline) {
        next unless $sel->can_read($deadline - time > 0 ? $deadline - time : 0);
        my $n = sysread($s, $buf, 65536, length $buf);
        next if !defined $n && $! == EINTR;
        last unless $n;
    }
    close $s;
    return parse_response($buf);
}

# parse_response($raw) -> {status, member, headers, body} of the first
# HTTP response in $raw (status 599 when there is none).  A chunked body
# is decoded.
sub parse_response {
    my ($raw) = @_;
    my %r = (status => 599, member => undef, headers => {}, body => '');
    return \%r unless defined $raw
        && $raw =~ m{\AHTTP/1\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)\z}s;
    $r{status} = $1;
    my ($head, $body) = ($2, $3);
    for my $l (split /\r\n/, $head) {
        next unless $l =~ /^([^:]+):\s*(.*)$/;
        my ($k, $v) = (lc $1, $2);
        if (exists $r{headers}{$k}) {
            $r{headers}{$k} = [ ref $r{headers}{$k} ? @{ $r{headers}{$k} }
                                : $r{headers}{$k}, $v ];
        } else {
            $r{headers}{$k} = $v;
        }
    }
    if (($r{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $dec = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $dec .= substr($body, 0, $n, '');
            $body =~ s/\A\r\n//;
        }
        $body = $dec;
    }
    $r{body} = $body;
    $r{member} = $r{headers}{'x-member'};
    return \%r;
}

###########################################################################
# The request tap: a relay in front of a member that logs every request
# line it forwards, so a test can count what reached the member.

package LBFNet::Tap;

sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" }
sub pid  { $_[0]{pid} }

# ->targets: every request target the member received, in order.
sub targets {
    my ($self) = @_;
    return map { (split ' ', $_)[1] // '' }
           grep { /\S/ } split /\n/, LBFTest::slurp($self->{log});
}

# ->requests($re): how many of them match $re (all when no $re).
sub requests {
    my ($self, $re) = @_;
    return scalar grep { !defined $re || $_ =~ $re } $self->targets;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    LBFNet::tap_stop($self->{pid});
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop if $$ == $OWNER && $_[0]{pid} }

package LBFNet;

my $TAP_DIR;
# LBFTest records only the processes it spawns; the taps (forked here)
# are recorded in %TAPS and stopped by tap_stop, at the latest at END.
my %TAPS;
sub tap_register { $TAPS{ $_[0] } = $_[1] }

# tap_stop($pid): SIGTERM, a bounded wait (2 s), then SIGKILL.
sub tap_stop {
    my ($pid) = @_;
    return unless delete $TAPS{$pid};
    local $?;
    kill 'TERM', $pid;
    my $end = time + 2;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $end) { kill 'KILL', $pid; waitpid($pid, 0); last; }
        sleep 0.02;
    }
}

# start_tap($member_port) -> a tap listening on a free 127.0.0.1 port:
# each connection is relayed to 127.0.0.1:$member_port; every request
# head read from the client side is logged ("METHOD TARGET") before it is
# forwarded, so by the time its answer arrives the line is in the log.
# Request bodies (Content-Length) are skipped; chunked request bodies are
# not supported (the tests send none).  A connection whose member side
# cannot connect is closed.
sub start_tap {
    my ($upstream) = @_;
    $TAP_DIR //= File::Temp::tempdir('lbf-taps-XXXXXX', TMPDIR => 1,
                                     CLEANUP => !$ENV{LBF_KEEP});
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 128,
                                  ReuseAddr => 1)
        or die "start_tap: listen: $!";
    my $port = $l->sockport;
    my $log = "$TAP_DIR/tap-$port.log";
    open my $touch, '>', $log or die "start_tap: $log: $!";
    close $touch;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = $SIG{INT} = sub { _exit(0) };
        tap_loop($l, $upstream, $log);
        _exit(0);
    }
    close $l;
    tap_register($pid, $port);
    return bless { pid => $pid, port => $port, log => $log }, 'LBFNet::Tap';
}

# The tap's event loop (in the forked process).  %peer maps each socket
# to its other side; %cli holds the client sockets' parse state.
sub tap_loop {
    my ($l, $upstream, $log) = @_;
    open my $lf, '>>', $log or _exit(1);
    select((select($lf), $| = 1)[0]);
    my $sel = IO::Select->new($l);
    my (%peer, %cli);
    my $close = sub {
        my ($s) = @_;
        my @both = ($s, $peer{$s} // ());
        for my $x (@both) {
            $sel->remove($x);
            delete $cli{$x};
            delete $peer{$x};
            close $x;
        }
    };
    while (1) {
        my @ready = $sel->can_read(1);
        for my $s (@ready) {
            next unless $s == $l || exists $peer{$s};
            if ($s == $l) {
                my $c = $l->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $upstream,
                                              Proto => 'tcp', Timeout => 2);
                if (!$u) { close $c; next; }
                $peer{$c} = $u;
                $peer{$u} = $c;
                $cli{$c} = { buf => '', skip => 0 };
                $sel->add($c, $u);
                next;
            }
            my $n = sysread($s, my $data, 65536);
            next if !defined $n && ($! == EINTR || $! == EAGAIN);
            if (!$n) { $close->($s); next; }
            tap_count($cli{$s}, $data, $lf) if $cli{$s};
            my $to = $peer{$s} or next;
            my $off = 0;
            while ($off < length $data) {
                my $w = syswrite($to, $data, length($data) - $off, $off);
                if (!defined $w) {
                    next if $! == EINTR || $! == EAGAIN;
                    last;
                }
                $off += $w;
            }
            $close->($s) if $off < length $data;
        }
    }
}

# tap_count($state, $data, $logfh): feeds client bytes to the parser and
# logs "METHOD TARGET" for every complete request head.
sub tap_count {
    my ($st, $data, $lf) = @_;
    $st->{buf} .= $data;
    while (1) {
        if ($st->{skip}) {
            my $n = $st->{skip} < length $st->{buf} ? $st->{skip}
                                                     : length $st->{buf};
            substr($st->{buf}, 0, $n, '');
            $st->{skip} -= $n;
            return if $st->{skip};
        }
        my $end = index($st->{buf}, "\r\n\r\n");
        return if $end < 0;
        my $head = substr($st->{buf}, 0, $end + 4, '');
        my ($line) = $head =~ /\A([^\r\n]*)/;
        my ($m, $t) = split ' ', $line // '';
        print {$lf} ($m // '-') . ' ' . ($t // '-') . "\n";
        $st->{skip} = $1 if $head =~ /^content-length:\s*(\d+)/mi;
    }
}

###########################################################################
# Networks of namespaces

package LBFNet::Net;

# LBFNet::Net->create(nodes => {NODE => ADDRESS, ...}, prefix => 24):
# one namespace per node, each with lo up and eth0 (a veth whose other end
# is a port of bridge br0 in the switch namespace) holding ADDRESS/prefix.
# Dies (after removing what it made) when a step fails.
sub create {
    my ($class, %o) = @_;
    LBFNet::cleanup_stale();
    my $self = bless { tag => "lbfnet$$", nodes => { %{ $o{nodes} } },
                       prefix => $o{prefix} // 24, made => [], pids => [] },
                     $class;
    push @NETS, $self;
    my $sw = $self->ns('sw');
    eval {
        $self->must('netns', 'add', $sw);
        push @{ $self->{made} }, $sw;
        $self->must('-n', $sw, 'link', 'set', 'lo', 'up');
        $self->must('-n', $sw, 'link', 'add', 'br0', 'type', 'bridge');
        $self->must('-n', $sw, 'link', 'set', 'br0', 'up');
        for my $node (sort keys %{ $self->{nodes} }) {
            $self->add_node($node);
        }
        1;
    } or do {
        my $err = $@;
        $self->destroy;
        die $err;
    };
    return $self;
}

sub ns { "$_[0]{tag}-$_[1]" }

sub addr { $_[0]{nodes}{ $_[1] } // die "no node $_[1]\n" }

sub must {
    my ($self, @args) = @_;
    my ($rc, $out) = LBFNet::ip(@args);
    die "ip @args: exit $rc: $out" if $rc != 0;
    return $out;
}

sub add_node {
    my ($self, $node) = @_;
    my ($ns, $sw) = ($self->ns($node), $self->ns('sw'));
    my $port = "v-$node";
    die "node name too long for an interface: $node\n" if length $port > 15;
    $self->must('netns', 'add', $ns);
    push @{ $self->{made} }, $ns;
    $self->must('-n', $sw, 'link', 'add', $port, 'type', 'veth',
                'peer', 'name', 'eth0', 'netns', $ns);
    $self->must('-n', $sw, 'link', 'set', $port, 'master', 'br0');
    $self->must('-n', $sw, 'link', 'set', $port, 'up');
    $self->must('-n', $ns, 'link', 'set', 'lo', 'up');
    $self->must('-n', $ns, 'addr', 'add',
                $self->addr($node) . "/$self->{prefix}", 'dev', 'eth0');
    $self->must('-n', $ns, 'link', 'set', 'eth0', 'up');
}

# ->run($node, $timeout, @argv) -> (exit code, output) of @argv in the
# node's namespace.
sub run {
    my ($self, $node, $timeout, @argv) = @_;
    return LBFNet::run_bounded($timeout, $IP, 'netns', 'exec',
                               $self->ns($node), @argv);
}

# ->addresses($node) -> the IPv4 addresses on the node's eth0.
sub addresses {
    my ($self, $node) = @_;
    my ($rc, $out) = LBFNet::ip('-n', $self->ns($node), '-4', '-o', 'addr',
                                'show', 'dev', 'eth0');
    return () if $rc != 0;
    return $out =~ m{\binet (\d+\.\d+\.\d+\.\d+)/}g;
}

# ->spawn($node, argv => [...], log => FILE, what => TEXT, env => {...})
# -> PID: the command runs in the node's namespace ("ip netns exec"
# execs it, so the PID is the command's); LBFTest stops it at END.
sub spawn {
    my ($self, $node, %a) = @_;
    my $pid = LBFTest::spawn(%a, argv => [ $IP, 'netns', 'exec',
                                           $self->ns($node), @{ $a{argv} } ]);
    push @{ $self->{pids} }, $pid;
    return $pid;
}

# ->curl($node, $url, headers => [H, ...], timeout => S, data => BODY)
# -> {status (0: no answer), member, headers, body, rc, error}.
sub curl {
    my ($self, $node, $url, %o) = @_;
    my $t = $o{timeout} // 3;
    my @argv = ('curl', '-sS', '-i', '--max-time', $t, '--connect-timeout',
                $t);
    push @argv, '-H', $_ for @{ $o{headers} || [] };
    push @argv, '--data-binary', $o{data} if defined $o{data};
    my ($rc, $out) = $self->run($node, $t + 5, @argv, $url);
    my $r = LBFNet::parse_response($out);
    $r->{status} = 0 if $rc != 0;
    $r->{rc} = $rc;
    $r->{error} = $rc != 0 ? $out : '';
    return $r;
}

# ->start_member($node, $name, port => P, args => [...]): tools/lbf_member
# in the node's namespace on its address; waits (5 s) for "ready".
sub start_member {
    my ($self, $node, $name, %o) = @_;
    my $port = $o{port} // 8080;
    my $dir = $self->dir;
    my $log = "$dir/member-$name.log";
    my $pid = $self->spawn($node, log => $log, what => "member $name",
        argv => [ LBFTest::member_path(), '--port', $port, '--name', $name,
                  '--bind', $self->addr($node), @{ $o{args} || [] } ]);
    my $ok = LBFTest::wait_until(5 * LBFTest::slow_factor(), sub {
        return 1 if LBFTest::slurp($log) =~ /^ready \Q$name\E \Q$port\E/m;
        return -1 if waitpid($pid, POSIX::WNOHANG()) == $pid;
        return 0;
    });
    die "member $name in $node did not start:\n" . LBFTest::slurp($log)
        unless $ok && $ok == 1;
    return { pid => $pid, name => $name, node => $node,
             url => 'http://' . $self->addr($node) . ":$port" };
}

# ->dir: a private temporary directory for this network's files.
sub dir {
    my ($self) = @_;
    $self->{dir} //= File::Temp::tempdir('lbf-net-XXXXXX', TMPDIR => 1,
                                         CLEANUP => !$ENV{LBF_KEEP});
    chmod 0755, $self->{dir};
    return $self->{dir};
}

# ->start_httpd($node, body => TEXT, port => P, modules => [...], probe =>
# PATH) -> an LBFNet::Httpd: apache2 -DFOREGROUND in the node's namespace
# with LBFTest's preamble, listening on every address of the namespace on
# port P (so it answers on a virtual IP the moment the node holds it);
# waits (10 s) until PATH (default /__lbf_probe; give a path that is not
# proxied when ProxyPass / would count the probe) answers on 127.0.0.1
# inside the namespace.
sub start_httpd {
    my ($self, $node, %o) = @_;
    my $port = $o{port} // 8080;
    my $dir = LBFTest::make_dir();
    my $pre = LBFTest::preamble(%o, dir => $dir, port => $port);
    $pre =~ s/^Listen 127\.0\.0\.1:\Q$port\E$/Listen $port/m
        or die "start_httpd: no Listen line in LBFTest's preamble\n";
    my $conf = "$dir/httpd.conf";
    LBFTest::spit($conf, $pre . $o{body});
    my $pid = $self->spawn($node, log => "$dir/stderr",
                           env => LBFTest::httpd_env(), what => "httpd $node",
                           argv => [ $LBFTest::HTTPD, '-f', $conf,
                                     '-DFOREGROUND' ]);
    my $h = bless { pid => $pid, port => $port, dir => $dir, conf => $conf,
                    preamble => $pre, body => $o{body}, net => $self,
                    node => $node, probe => $o{probe} // '/__lbf_probe' },
                  'LBFNet::Httpd';
    my $ok = LBFTest::wait_until(10 * LBFTest::slow_factor(), sub {
        return -1 if waitpid($pid, POSIX::WNOHANG()) != 0;
        return $h->answers ? 1 : 0;
    }, 0.1);
    if (!$ok || $ok != 1) {
        my $err = "httpd in $node did not start:\n" . $h->stderr
                . $h->error_log;
        $h->stop;
        die $err;
    }
    return $h;
}

# ->destroy: stops every process started in this network (by PID), then
# deletes its namespaces (with their veths and the bridge).  Idempotent.
sub destroy {
    my ($self) = @_;
    for my $pid (reverse @{ $self->{pids} }) {
        LBFTest::terminate($pid, 5);
    }
    $self->{pids} = [];
    for my $ns (reverse @{ $self->{made} }) {
        my ($rc, $pids) = LBFNet::ip('netns', 'pids', $ns);
        # only processes this test started live there; anything left is
        # a grandchild of one (a keepalived child, an httpd worker)
        for my $pid (split ' ', $pids // '') {
            kill 'KILL', $pid if $pid =~ /^\d+$/;
        }
        LBFNet::ip('netns', 'del', $ns);
    }
    $self->{made} = [];
    @NETS = grep { $_ != $self } @NETS;
}

package LBFNet::Httpd;
our @ISA = ('LBFTest::Httpd');

sub url { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '/') }

# Any HTTP answer from inside the namespace means "the server answers".
sub answers {
    my ($self) = @_;
    my $r = $self->{net}->curl($self->{node}, $self->url($self->{probe}),
                               timeout => 2);
    return $r->{status} != 0;
}

# ->kill_now: SIGKILL to httpd and its worker processes at once, as a
# crash would; returns the time it was sent.
sub kill_now {
    my ($self) = @_;
    my @kids = $self->children;
    my $t = Time::HiRes::time();
    kill 'KILL', $self->{pid}, @kids;
    return $t;
}

package LBFNet;

END {
    if ($$ == $OWNER) {
        my $keep = $?;
        $_->destroy for @NETS;
        tap_stop($_) for keys %TAPS;
        $? = $keep;
    }
}

1;
