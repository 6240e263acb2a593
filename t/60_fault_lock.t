# Fault drill (issue 12 item 11): a child SIGKILLed while it holds a
# member's row lock.  A test-only handler (mod_lbfarm_testhooks.c, built
# with -DLBF_TEST_HOOKS: make test-module) takes m1's row lock in a child
# -- once with a metrics write section open, as a child killed in the
# middle of a push would leave it -- answers "held pid N" and sleeps; the
# test SIGKILLs that child.  Then: requests keep succeeding, a push to m1
# (which takes the row lock) is accepted within a bounded time, the status
# JSON counts the recovery (lock_recoveries) and the repair of the torn
# metrics group (lock_repairs), and the Prometheus page shows the same
# counter.  Last, the pid-reuse case: a lock word naming a live process
# that does not hold it (the test itself) is taken over after
# LBF_LOCK_STALE_USEC (0.5 s) instead of wedging the member for good.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use LBFTest;

BEGIN { LBFTest::use_test_module() }

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $secret = 'fault-lock-secret-' . join('', map { int rand 10 } 1 .. 16);
my $secret_file = LBFTest::secret_file($secret);
my %key = map { $_ => LBFTest::push_member_key($secret, $_) } qw(m1 m2);

my @m = map { start_member($_) } qw(m1 m2);
my $h = start_httpd(modules => ['authz_host'], body => <<"CONF");
<LBFarm farm1>
    LBFarmPushKey $secret_file
    LBFarmPushRate 100 100
    LBFarmMetricBlackout 0
    LBFarmLoadSmoothing 1
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
ProxyPass /app/ http://farm1/app/
<Location /lbfarm-push>
    SetHandler lbfarm-push
    Require ip 127.0.0.1
</Location>
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
<Location /lbf-test-lock>
    SetHandler lbfarm-test-lock
</Location>
CONF
my $url = $h->url('/app/');

my $probe = get($h->url('/lbf-test-lock?farm=farm1&member=nobody'));
is($probe->{status}, 400, 'the module has the lock hook (400 for an '
   . 'unknown member)') or BAIL_OUT('module built without -DLBF_TEST_HOOKS: '
                                   . module_path());

# The status JSON's header counters.
sub counters {
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    my $r = $ua->get($h->url('/lbfarm-status?format=json'));
    my %c;
    for my $k (qw(lock_recoveries lock_repairs)) {
        $c{$k} = $r->{content} =~ /"$k":(\d+)/ ? $1 : -1;
    }
    return \%c;
}

# One signed push for $member (cpu=$cpu); returns (status, seconds taken).
sub push_cpu {
    my ($member, $cpu) = @_;
    my $q = LBFTest::push_query(key => $key{$member}, farm => 'farm1',
                                member => $member, metrics => [cpu => $cpu]);
    my $ua = HTTP::Tiny->new(timeout => 10 * $F, keep_alive => 0);
    my $t0 = time;
    my $r = $ua->get($h->url("/lbfarm-push?$q"));
    return ($r->{status}, time - $t0);
}

# $n requests on fresh connections (weighted: alternating), all 200 from
# both members.
sub serves {
    my ($what, $n) = @_;
    new_client();
    my ($c, $bad) = count_members($url, $n);
    is(scalar @$bad, 0, "$what: $n requests all 200") or diag("@$bad");
    ok(($c->{m1} // 0) > 0 && ($c->{m2} // 0) > 0,
       "$what: both members serve") or diag(explain($c));
}

# Starts the hold request for member $who; returns (socket, pid of the
# child that holds the lock) once the hook said so (5 s at most).
sub hold_lock {
    my ($who, $torn) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $h->port, Proto => 'tcp',
                                  Timeout => 5) or die "connect: $!";
    $s->autoflush(1);
    print {$s} "GET /lbf-test-lock?farm=farm1&member=$who&what=hold&secs=60"
             . "&torn=$torn HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             . "Connection: close\r\n\r\n";
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + 5 * $F);
    while (time < $end && $buf !~ /held pid (\d+)/) {
        next unless $sel->can_read(0.2);
        last unless sysread($s, $buf, 4096, length $buf);
    }
    return ($s, $buf =~ /held pid (\d+)/ ? $1 : undef);
}

serves('before the drill', 20);
my ($st) = push_cpu('m1', 0.2);
is($st, 200, 'a push to m1 before the drill is accepted');
my $c0 = counters();
is($c0->{lock_recoveries}, 0, 'no lock recovery before the drill');

for my $torn (1, 0) {
    my $what = $torn ? 'killed inside a write section' : 'killed holding '
             . 'the lock';
    my $before = counters();
    my ($sock, $pid) = hold_lock('m1', $torn);
    ok($pid && grep({ $_ == $pid } $h->children),
       "$what: the lock is held by child $pid of httpd")
        or BAIL_OUT('the hook did not take the lock');
    ok(kill('KILL', $pid), "$what: SIGKILL to child $pid");
    close $sock;
    # the parent reaps it; meanwhile a waiter sees a zombie (kill(pid, 0)
    # still succeeds) and takes the lock over as stale after 0.5 s
    serves("$what: traffic right after the kill", 20);
    my $cpu = $torn ? '0.4' : '0.3';
    my ($pst, $took) = push_cpu('m1', $cpu);
    is($pst, 200, "$what: a push to m1 (it takes the row lock) is "
       . 'accepted');
    cmp_ok($took, '<', 3 * $F, "$what: ... within 3 s (took "
           . sprintf('%.2f', $took) . ' s)');
    my $after = counters();
    is($after->{lock_recoveries} - $before->{lock_recoveries}, 1,
       "$what: lock_recoveries counts the recovery");
    is($after->{lock_repairs} - $before->{lock_repairs}, $torn,
       "$what: lock_repairs " . ($torn ? 'counts the torn metrics group'
                                       : 'unchanged (nothing was torn)'));
    my $row = LBFTest::status_rows($h)->{'farm1/m1'} // {};
    like($row->{load} // '', qr/^\Q$cpu\E0*$/, "$what: m1's load is the "
         . "new push's ($cpu)") or diag(explain($row));
    ($pst) = push_cpu('m1', 0.25);
    is($pst, 200, "$what: the next push to m1 is accepted too");
    serves("$what: traffic afterwards", 20);
}

# The parent logs what its monitor saw (LBF00810; httpd runs the monitor
# hook every 10 s): two locks taken over, one torn group, in one or two
# lines.
{
    my ($rec, $rep, $end) = (0, 0, time + 15 * $F);
    my $logged = qr/LBF00810: (\d+) row lock\S* taken over[^,]*, (\d+) torn/;
    while (time < $end) {
        ($rec, $rep) = (0, 0);
        my $log = $h->error_log;
        while ($log =~ /$logged/g) {
            $rec += $1;
            $rep += $2;
        }
        last if $rec >= 2;
        sleep 0.2;
    }
    is($rec, 2, 'the parent logs the 2 lock recoveries (LBF00810)');
    is($rep, 1, '... and the 1 torn metrics group reset');
}

{
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    my $r = $ua->get($h->url('/lbfarm-status?format=prometheus'));
    like($r->{content} // '', qr/^lbfarm_lock_recoveries_total 2$/m,
         'Prometheus: lbfarm_lock_recoveries_total 2');
}

# pid reuse: the owner word names a process that is alive but is not the
# owner (here: this test).  A waiter cannot tell it from a slow owner by
# kill(pid, 0); the word not changing for 0.5 s gives it away.
{
    my $before = counters();
    my $r = get($h->url("/lbf-test-lock?farm=farm1&member=m2&what=forge"
                        . "&pid=$$"));
    like($r->{body}, qr/^forged pid $$/, "pid reuse: m2's lock word names "
         . "live pid $$ (the test)");
    my ($pst, $took) = push_cpu('m2', 0.4);
    is($pst, 200, 'pid reuse: a push to m2 is accepted');
    cmp_ok($took, '>=', 0.4, 'pid reuse: ... after the stale time (took '
           . sprintf('%.2f', $took) . ' s)');
    cmp_ok($took, '<', 3 * $F, 'pid reuse: ... and within 3 s');
    is(counters()->{lock_recoveries} - $before->{lock_recoveries}, 1,
       'pid reuse: counted as a recovery');
    ($pst, $took) = push_cpu('m2', 0.45);
    is($pst, 200, 'pid reuse: the next push is accepted');
    cmp_ok($took, '<', 0.4, 'pid reuse: ... at once (the lock is sound '
           . 'again)');
    serves('pid reuse: traffic afterwards', 20);
}

# The killed children are logged by the MPM (AH00052 ... exit signal
# Killed); the hook says what it held (LBF00850, warn).
no_unexpected_errors($h, qr/AH00052: child pid \d+ exit signal Killed/);
$_->stop for @m;
done_testing;
