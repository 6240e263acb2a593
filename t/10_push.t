# pushed-metric: members that push their load get traffic by headroom;
# the status page shows load and headroom; reports expire and are trusted
# only after the blackout; mod_heartbeat messages; the tools/lbfarm-push
# agent and tools/lbfarm-push-key against a real httpd; smoothing
# (LBFarmLoadSmoothing): one outlier moves the load by the weight's share.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $ROOT = repo_root();
my $CLIENTS = 20;             # concurrent keep-alive clients
my $SLEEP_MS = 20;            # every proxied request sleeps this long
my %CPU = (m1 => 0.9, m2 => 0.5, m3 => 0.1);

my $tmp = tempdir('lbf-push-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;
my $secret = 'push-test-secret-' . join('', map { int rand 10 } 1 .. 16);
my $secret_file = "$tmp/farm.secret";
{
    open my $fh, '>', $secret_file or die "$secret_file: $!";
    print {$fh} "$secret\n";
    close $fh;
}
chmod 0644, $secret_file;

my @m = map { start_member("m$_") } 1 .. 3;     # farm pm (and pb)
my $hb = start_member('h1');                     # farm hb (heartbeat)

my $body = "<LBFarm pm>\n"
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $secret_file\n"
         . "    LBFarmMetricBlackout 0\n"
         . "    LBFarmMetricExpiry 2\n"
         . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url
                          . "\n" } @m)
         . "</LBFarm>\n"
         . "ProxyPass /pm/ http://pm/pm/\n"
         . "<LBFarm pb>\n"
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $secret_file\n"
         . "    LBFarmMetricBlackout 2\n"
         . "    LBFarmMember b1 " . $m[0]->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /pb/ http://pb/pb/\n"
         . "<LBFarm ps>\n"
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $secret_file\n"
         . "    LBFarmPushRate 100 100\n"
         . "    LBFarmLoadSmoothing 0.25\n"
         . "    LBFarmMember s1 " . $m[1]->url . "\n"
         . "</LBFarm>\n"
         . "<LBFarm hb>\n"
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmHeartbeat On\n"
         . "    LBFarmMember h1 " . $hb->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /hb/ http://hb/hb/\n"
         . "ProxyPass /lbfarm-push !\n"
         . "ProxyPass /lbfarm-status !\n"
         . "<Location /lbfarm-push>\n    SetHandler lbfarm-push\n"
         . "    Require ip 127.0.0.1\n</Location>\n"
         . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n"
         . "</Location>\n";
my $h = start_httpd(body => $body, modules => ['authz_host']);
my $push_url = $h->url('/lbfarm-push');
my $url = $h->url("/pm/?sleep_ms=$SLEEP_MS");

my %key = map { $_ => LBFTest::push_member_key($secret, $_) }
          qw(m1 m2 m3 b1 s1);

# One signed push; returns the answer ({status, body}).
sub push_load {
    my ($farm, $member, @metrics) = @_;
    my $q = LBFTest::push_query(key => $key{$member}, farm => $farm,
                                member => $member, metrics => \@metrics);
    return get("$push_url?$q");
}

sub row {
    my ($farm, $member) = @_;
    my $rows = LBFTest::status_rows($h) or return {};
    return $rows->{"$farm/$member"} // {};
}

# The headroom a fresh report of load gives (lbf_headroom): 1 - load, at
# least LBF_HEADROOM_MIN (0.25).
sub headroom { my $h = 1 - $_[0]; return $h < 0.25 ? 0.25 : $h }

# What the formula predicts for one member set: C clients that each send
# a request as soon as the previous one is answered, every answer taking
# 1 +- 10% time units; each pick is the lowest (inflight+1)/headroom (ties
# random).  Returns the share of each member over $n picks.
sub predict_shares {
    my ($n, $c, %headroom) = @_;
    my @names = sort keys %headroom;
    my %inflight = map { $_ => 0 } @names;
    my (%picks, @busy);
    srand(42);
    my $pick = sub {
        my ($best, $ties, $bs);
        for my $m (@names) {
            my $s = ($inflight{$m} + 1) / $headroom{$m};
            if (!defined $bs || $s < $bs - 1e-12) {
                ($best, $bs, $ties) = ($m, $s, 1);
            } elsif (abs($s - $bs) < 1e-12 && rand(++$ties) < 1) {
                $best = $m;
            }
        }
        $inflight{$best}++;
        $picks{$best}++;
        return $best;
    };
    my $now = 0;
    push @busy, [ $now + 0.9 + rand 0.2, $pick->() ] for 1 .. $c;
    for (($c + 1) .. $n) {
        @busy = sort { $a->[0] <=> $b->[0] } @busy;
        my $done = shift @busy;
        $now = $done->[0];
        $inflight{ $done->[1] }--;
        push @busy, [ $now + 0.9 + rand 0.2, $pick->() ];
    }
    return { map { $_ => ($picks{$_} // 0) / $n } @names };
}

# ---------------------------------------------------------------------
# 1. Loads pushed, the status page shows load and headroom.

for my $mm (sort keys %CPU) {
    my $r = push_load('pm', $mm, cpu => $CPU{$mm});
    is($r->{status}, 200, "push $mm cpu=$CPU{$mm}: 200")
        or diag("$r->{status} $r->{body}");
    like($r->{body}, qr/^ok farm=pm member=\Q$mm\E$/m, "push $mm: ok line");
}
my $rows = LBFTest::status_rows($h);
ok($rows, 'status page answers 200');
for my $mm (sort keys %CPU) {
    my $s = $rows->{"pm/$mm"} // {};
    my $load = sprintf('%.3f', $CPU{$mm});
    my $head = sprintf('%.3f', headroom($CPU{$mm}));
    is($s->{load}, $load, "status: $mm load=$load");
    is($s->{headroom}, $head, "status: $mm headroom=$head (blackout 0)");
    ok(defined $s->{load_age_ms} && $s->{load_age_ms} >= 0
       && $s->{load_age_ms} < 1000 * $F,
       "status: $mm load_age_ms small (" . ($s->{load_age_ms} // '?') . ')');
    is($s->{method}, 'pushed-metric', "status: $mm method=pushed-metric");
}

# ---------------------------------------------------------------------
# 2. Under concurrent load, requests follow the headroom.  Reports are
#    refreshed every 0.5 s (LBFarmMetricExpiry is 2 s), as an agent would.

my $N = 2000;
my %pred_h = map { $_ => headroom($CPU{$_}) } keys %CPU;
my $pred = predict_shares($N, $CLIENTS, %pred_h);
my $pred_txt = join(' ', map { sprintf('%s %.1f%%', $_, 100 * $pred->{$_}) }
                         sort keys %$pred);
note("formula predicts with $CLIENTS clients: $pred_txt");

my (@push_fail, $last_push);
my $refresh = sub {
    return if $last_push && time - $last_push < 0.5;
    $last_push = time;
    for my $mm (sort keys %CPU) {
        my $r = push_load('pm', $mm, cpu => $CPU{$mm});
        push @push_fail, "$mm: $r->{status} $r->{body}"
            unless $r->{status} == 200;
    }
};
my $before = LBFTest::status_rows($h);
my ($c, $bad, $el) = LBFTest::parallel_counts(
    $url, clients => $CLIENTS, total => $N, timeout => 30 * $F,
    tick => $refresh);
my $after = LBFTest::status_rows($h);
my $last_refresh = $last_push;
my $got = 0;
$got += $_ for values %$c;
is(scalar @$bad, 0, "$got requests from $CLIENTS clients all 200 ("
   . sprintf('%.1f s', $el) . ')') or diag(explain($bad));
ok($got >= $N, "at least $N requests answered ($got)");
is(scalar @push_fail, 0, 'every refresh push during the run 200')
    or diag(explain(\@push_fail));
my ($n1, $n2, $n3) = map { $c->{$_} // 0 } qw(m1 m2 m3);
my $dist = sprintf('m1=%d (%.1f%%) m2=%d (%.1f%%) m3=%d (%.1f%%)',
                   $n1, 100 * $n1 / ($got || 1), $n2, 100 * $n2 / ($got || 1),
                   $n3, 100 * $n3 / ($got || 1));
note("measured: $dist");
ok($n3 > $n2 && $n2 > $n1, "ordered m3 > m2 > m1: $dist");
ok(abs($n3 / ($got || 1) - $pred->{m3}) < 0.10, sprintf('m3 (cpu 0.1) '
   . 'share within 10 points of the formula\'s %.1f%%: %s',
   100 * $pred->{m3}, $dist));
if ($pred->{m1} >= 0.01) {
    ok($n1 > 0, sprintf('m1 (cpu 0.9) still served, as the formula says '
                        . '(%.1f%% predicted): %d', 100 * $pred->{m1}, $n1));
} else {
    ok($n1 <= 0.01 * $got, sprintf('m1 (cpu 0.9) next to nothing, as the '
                                   . 'formula says: %d', $n1));
}
ok(abs($n1 / ($got || 1) - $pred->{m1}) < 0.08, sprintf('m1 (cpu 0.9) '
   . 'share within 8 points of the formula\'s %.1f%%: %d of %d',
   100 * $pred->{m1}, $n1, $got));
is(join(',', sort keys %$c), 'm1,m2,m3', 'only farm members answered');
# The shm counters agree with what the clients saw.
for my $mm (qw(m1 m2 m3)) {
    my $d = ($after->{"pm/$mm"}{requests} // 0)
          - ($before->{"pm/$mm"}{requests} // 0);
    is($d, $c->{$mm} // 0, "status requests of $mm grew by "
       . ($c->{$mm} // 0));
    is($after->{"pm/$mm"}{inflight}, 0, "status inflight of $mm back to 0");
}

# ---------------------------------------------------------------------
# 3. Expiry: the pushes stop; within ~3 s every headroom is neutral and
#    the distribution is even again.

my $t_exp;
my $neutral = wait_until(4 * $F, sub {
    my $r = LBFTest::status_rows($h) or return 0;
    my $n = grep { ($r->{"pm/$_"}{headroom} // '') eq '1.000' } qw(m1 m2 m3);
    return 0 unless $n == 3;
    $t_exp = time - $last_refresh;
    return 1;
}, 0.05);
ok($neutral, sprintf('expiry: headroom=1.000 for m1 m2 m3 %.2f s after the '
                     . 'last push', $t_exp // -1));
ok(defined $t_exp && $t_exp >= 1.8 && $t_exp <= 3.0 * $F,
   'expiry: after about LBFarmMetricExpiry (2 s), not before')
    or diag("elapsed " . ($t_exp // 'never'));
my $rows_exp = LBFTest::status_rows($h);
is($rows_exp->{"pm/m1"}{load}, '0.900',
   'expiry: the last load is still shown (only its headroom is neutral)');

my $N2 = 600;
($c, $bad, $el) = LBFTest::parallel_counts(
    $url, clients => $CLIENTS, total => $N2, timeout => 20 * $F);
$got = 0;
$got += $_ for values %$c;
is(scalar @$bad, 0, "$got requests after expiry all 200")
    or diag(explain($bad));
$dist = join(' ', map { "$_=" . ($c->{$_} // 0) } qw(m1 m2 m3));
note("after expiry: $dist");
for my $mm (qw(m1 m2 m3)) {
    my $n = $c->{$mm} // 0;
    my $even = $got / 3;
    ok(abs($n - $even) <= 0.15 * $even,
       sprintf('after expiry %s within 15%% of even (%d of %d, even %.0f)',
               $mm, $n, $got, $even));
}

# ---------------------------------------------------------------------
# 4. Blackout (farm pb, LBFarmMetricBlackout 2): a new run of reports
#    shows headroom 1.000 at once and the reported one only after 2 s.

my $t0 = time;
my $r = push_load('pb', 'b1', cpu => 0.6);
is($r->{status}, 200, 'blackout: first push of b1 200')
    or diag("$r->{status} $r->{body}");
my $s = row('pb', 'b1');
is($s->{load}, '0.600', 'blackout: the load is shown at once (0.600)');
is($s->{headroom}, '1.000', 'blackout: headroom 1.000 right after the push');
my ($first_trusted, $last_neutral) = (undef, 0);
wait_until(4 * $F, sub {
    my $x = row('pb', 'b1');
    my $t = time - $t0;
    if (($x->{headroom} // '') eq '1.000') {
        $last_neutral = $t;
        return 0;
    }
    $first_trusted = $t;
    $s = $x;
    return 1;
}, 0.05);
ok(defined $first_trusted, sprintf('blackout: headroom reported after '
                                   . '%.2f s', $first_trusted // -1));
is($s->{headroom}, '0.400', 'blackout: then headroom=0.400 (1 - 0.6)');
ok(defined $first_trusted && $first_trusted >= 1.95,
   sprintf('blackout: still neutral %.2f s after the push, trusted only from '
           . '2 s on', $last_neutral));
ok(defined $first_trusted && $first_trusted <= 3.0 * $F,
   'blackout: trusted within 3 s');

# ---------------------------------------------------------------------
# 5. mod_heartbeat format (farm hb, LBFarmHeartbeat On).

$r = post($push_url, 'v=1&ready=10&busy=30&port=' . $hb->port);
is($r->{status}, 200, 'heartbeat POST v=1&ready=10&busy=30&port=P: 200')
    or diag("$r->{status} $r->{body}");
like($r->{body}, qr/^ok farm=hb member=h1$/m, 'heartbeat: ok farm=hb '
     . 'member=h1');
$s = row('hb', 'h1');
is($s->{load}, '0.750', 'heartbeat: status load=0.750 (30 / (10 + 30))');
ok(defined $s->{load_age_ms} && $s->{load_age_ms} < 1000 * $F,
   "heartbeat: load_age_ms small ($s->{load_age_ms})");
$r = post($push_url, 'v=1&ready=10&busy=30&port=' . LBFTest::free_port());
is($r->{status}, 403, 'heartbeat naming the port of no member: 403')
    or diag("$r->{status} $r->{body}");
is(row('hb', 'h1')->{load}, '0.750', 'heartbeat: refused one changed '
   . 'nothing');

# ---------------------------------------------------------------------
# 6. The agent: tools/lbfarm-push --once with a key from
#    tools/lbfarm-push-key.

# Runs argv (bounded by timeout(1)) with stdout and stderr to files;
# returns (exit code, stdout, stderr).
sub run {
    my (@argv) = @_;
    my ($out, $err) = ("$tmp/run.out", "$tmp/run.err");
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or _exit(126);
        open STDERR, '>', $err or _exit(126);
        delete @ENV{qw(http_proxy HTTP_PROXY https_proxy HTTPS_PROXY
                       all_proxy ALL_PROXY)};
        { no warnings 'exec'; exec 'timeout', '20', @argv; }
        _exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    my $slurp = sub {
        open my $fh, '<', $_[0] or return '';
        local $/;
        my $t = <$fh>;
        return $t // '';
    };
    return ($rc, $slurp->($out), $slurp->($err));
}

my $tool_key = "$ROOT/tools/lbfarm-push-key";
my $agent = "$ROOT/tools/lbfarm-push";
my ($rc, $out, $err) = run('sh', $tool_key, $secret_file, 'm2');
is($rc, 0, 'lbfarm-push-key exits 0') or diag($err);
is($out, "$key{m2}\n", 'lbfarm-push-key prints the contract key of m2');
my $key_file = "$tmp/m2.key";
{
    open my $fh, '>', $key_file or die "$key_file: $!";
    print {$fh} $out;
    close $fh;
}
chmod 0600, $key_file;

my $t_agent = time;
($rc, $out, $err) = run('sh', $agent, '--once', '--url', $push_url,
                        '--farm', 'pm', '--member', 'm2',
                        '--key-file', $key_file,
                        '--metric', 'queue=3',
                        '--metric', 'db_conns=echo "  17.25 "');
my $agent_s = time - $t_agent;
is($rc, 0, sprintf('agent --once exits 0 (HTTP 200) in %.2f s', $agent_s))
    or diag("stdout: $out\nstderr: $err");
is($err, '', 'agent --once: nothing on stderr');
unlike($out . $err, qr/\Q$key{m2}\E/i, 'agent never prints the key');
$s = row('pm', 'm2');
ok(defined $s->{load_age_ms} && $s->{load_age_ms} >= 0
   && $s->{load_age_ms} < 1500 * $F,
   "agent: status load_age_ms of m2 small ($s->{load_age_ms})");
like($s->{load} // '', qr/^[01]\.\d{3}$/, "agent: m2 load is a fraction "
     . "(load=" . ($s->{load} // '?') . ', the host cpu)');
ok(!$s->{load} || $s->{load} <= 1, 'agent: load <= 1');

# Two balancers, one of them down: the push reaches the live one, the
# exit code says one failed, stderr names the dead one.
my $dead = 'http://127.0.0.1:' . LBFTest::free_port() . '/lbfarm-push';
sleep 0.3;
my $age0 = row('pm', 'm2')->{load_age_ms} // 0;
($rc, $out, $err) = run('sh', $agent, '--once', '--url', $push_url,
                        '--url', $dead, '--farm', 'pm', '--member', 'm2',
                        '--key-file', $key_file);
isnt($rc, 0, "agent with one dead --url exits non-zero ($rc)");
like($err, qr/\Q$dead\E/, 'agent names the failed balancer on stderr');
ok((row('pm', 'm2')->{load_age_ms} // 1e9) < $age0,
   'agent: the live balancer still took the push');

# A wrong key: the balancer's answer line goes to stderr.
my $bad_key = "$tmp/bad.key";
{
    open my $fh, '>', $bad_key or die "$bad_key: $!";
    print {$fh} LBFTest::push_member_key('another-secret-0123456789', 'm2'),
                "\n", $key{m2}, "\n";
    close $fh;
}
($rc, $out, $err) = run('sh', $agent, '--once', '--url', $push_url,
                        '--farm', 'pm', '--member', 'm2',
                        '--key-file', $bad_key);
isnt($rc, 0, 'agent signing with a wrong key (first line) exits non-zero');
like($err, qr/HTTP 401: sig: bad signature/,
     'agent prints the 401 answer line on stderr');

# Loop mode: two pushes 1 s apart, then SIGTERM ends it with status 0.
my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    open STDOUT, '>', "$tmp/loop.out";
    open STDERR, '>', "$tmp/loop.err";
    no warnings 'exec';
    exec 'sh', $agent, '--interval', '1', '--url', $push_url, '--farm', 'pm',
         '--member', 'm2', '--key-file', $key_file;
    _exit(127);
}
my @ages;
wait_until(10 * $F, sub {
    my $age = row('pm', 'm2')->{load_age_ms};
    push @ages, $age if defined $age;
    # a fresh push after an older one: the age dropped at least twice
    my $drops = grep { $ages[$_] < $ages[$_ - 1] } 1 .. $#ages;
    return $drops >= 2;
}, 0.1);
my $drops = grep { $ages[$_] < $ages[$_ - 1] } 1 .. $#ages;
ok($drops >= 2, "agent loop mode pushes again every interval ($drops fresh "
   . 'pushes seen)');
kill 'TERM', $pid;
my $done = wait_until(5, sub { waitpid($pid, POSIX::WNOHANG()) == $pid });
ok($done, 'agent loop ends on SIGTERM');
kill 'KILL', $pid unless $done;
waitpid($pid, 0) unless $done;

# ---------------------------------------------------------------------
# 7. Smoothing (farm ps, LBFarmLoadSmoothing 0.25): the first report is
#    taken as is; one outlier among steady reports moves the load by a
#    quarter of its distance; steady reports bring it back.

{
    my @seen;
    for my $step ([ 0.2, '0.200' ], [ 0.2, '0.200' ], [ 1, '0.400' ],
                  [ 0.2, '0.350' ], [ 0.2, '0.312' ]) {
        my ($cpu, $want) = @$step;
        my $x = push_load('ps', 's1', cpu => $cpu);
        is($x->{status}, 200, "smoothing: push cpu=$cpu 200")
            or diag($x->{body});
        push @seen, row('ps', 's1')->{load} // '?';
        is($seen[-1], $want, "smoothing: after cpu=$cpu the load is $want");
    }
    note('smoothed loads: ' . join(' ', @seen));
    for my $bad (qw(0 1.5 abc -0.5 0.0001)) {
        my ($rc, $out) = LBFTest::config_test(
            "<LBFarm x>\n    LBFarmLoadSmoothing $bad\n"
            . "    LBFarmMember a http://127.0.0.1:9\n</LBFarm>\n");
        ok($rc != 0 && $out =~ /LBFarmLoadSmoothing: invalid weight "\Q$bad\E"/,
           "LBFarmLoadSmoothing $bad: refused at start-up, quoting it")
            or diag($out);
    }
}

no_unexpected_errors($h, qr/LBF00040/);
$_->stop for @m, $hb;
done_testing;
