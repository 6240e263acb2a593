# Fault drill (issue 12 item 11): a push flood at 10x the rate limit.
#
#  1. Signed, valid pushes for one member at 50/s for 3 s against
#     LBFarmPushRate 5 10: accepted <= rate x time + burst (+1 for the
#     refill during the last request), and >= rate x time (the limit does
#     not starve a member that pushes in time); the rest are 429.
#  2. CPU: 3000 forged pushes (bad signature, naming a member: the worst
#     case, they reach that member's bucket) as fast as 4 clients can
#     send them cost the httpd children about what 3000 GETs of a small
#     static file cost (utime + stime from /proc, summed over the
#     children): at most 3x that (6x under ASan, which instruments the
#     module's push path more than httpd's static one), and under 1 ms of
#     CPU per push.  The
#     bucket comes before any HMAC, so once it is empty a forged push is
#     parsed, looked up and refused; 3x leaves room for the query parser
#     and the 429 line on a busy 2-core machine.  A farm of 1000 members
#     makes no difference (the member is found by hash): the same flood
#     against member 999 of such a farm is bounded the same way.
#  3. Meanwhile the member's good pushes, after the flood, are accepted
#     again once the bucket refills.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my ($RATE, $BURST) = (5, 10);
my $secret = 'fault-flood-secret-' . join('', map { int rand 10 } 1 .. 16);
my $secret_file = LBFTest::secret_file($secret);

my @m = map { start_member($_) } qw(m1 m2);
my $big = join('', map { "    LBFarmMember b$_ http://127.0.0.1:"
                         . (20000 + $_) . "\n" } 0 .. 999);
my $h = start_httpd(modules => ['authz_host'], body => <<"CONF");
<LBFarm farm1>
    LBFarmPushKey $secret_file
    LBFarmPushRate $RATE $BURST
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
<LBFarm big>
    LBFarmPushKey $secret_file
    LBFarmPushRate $RATE $BURST
$big</LBFarm>
ProxyPass /app/ http://farm1/app/
ProxyPass /lbfarm-push !
ProxyPass /static.txt !
<Location /lbfarm-push>
    SetHandler lbfarm-push
    Require ip 127.0.0.1
</Location>
CONF
LBFTest::spit($h->dir . '/htdocs/static.txt', "static\n");
my $push = $h->url('/lbfarm-push');

sub good_push {
    my ($farm, $member) = @_;
    my $q = LBFTest::push_query(
        key => LBFTest::push_member_key($secret, $member), farm => $farm,
        member => $member, metrics => [cpu => 0.5]);
    return get("$push?$q")->{status};
}

# 1. paced at 10x the rate
{
    my ($secs, $hz) = (3, 10 * $RATE);
    my %st;
    new_client();
    my $t0 = time;
    for my $i (0 .. $secs * $hz - 1) {
        my $due = $t0 + $i / $hz;
        sleep($due - time) if $due > time;
        $st{ good_push('farm1', 'm1') }++;
    }
    my $elapsed = time - $t0;
    my $ok = $st{200} // 0;
    my $max = int($RATE * $elapsed + $BURST) + 1;
    cmp_ok($ok, '<=', $max, "10x flood: $ok of " . ($secs * $hz)
           . sprintf(' accepted in %.2f s (at most rate x time + burst = ',
                     $elapsed) . "$max)");
    cmp_ok($ok, '>=', int($RATE * $secs), '... and at least rate x time '
           . '(a member pushing in time is never starved)');
    is(($st{200} // 0) + ($st{429} // 0), $secs * $hz,
       'every other answer is 429') or diag(explain(\%st));
}

# CPU of httpd's children while $code runs.
sub children_cpu {
    my ($code) = @_;
    my @kids = $h->children;
    my $t0 = LBFTest::cpu_ticks(@kids);
    my @r = $code->();
    return (LBFTest::cpu_ticks(@kids) - $t0, @r);
}

my $N = 3000;
my $HZ = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
my ($static, $c, $bad) = children_cpu(sub {
    LBFTest::parallel_counts($h->url('/static.txt'), clients => 4,
                             total => $N, timeout => 60 * $F) });
is(scalar @$bad, 0, "baseline: $N static GETs all 200") or diag("@$bad");

for my $t (['farm1', 'm1'], ['big', 'b999']) {
    my ($farm, $member) = @$t;
    my $q = "farm=$farm&member=$member&ts=" . int(time) . '&seq=1&cpu=0.5'
          . '&sig=' . ('0' x 64);
    my ($forged, $cnt, $st, $el) = children_cpu(sub {
        LBFTest::parallel_counts("$push?$q", clients => 4, total => $N,
                                 timeout => 60 * $F) });
    my %by;
    $by{$_}++ for @$st;
    is(($by{401} // 0) + ($by{429} // 0), $N, "forged flood on $farm/"
       . "$member: $N answers, all 401 or 429") or diag(explain(\%by));
    my $max = int($BURST + $RATE * $el) + 1;
    cmp_ok($by{401} // 0, '<=', $max, '... at most a bucket and its '
           . sprintf('refill in %.2f s (%d) reached the signature check',
                     $el, $max))
        or diag(explain(\%by));
    my $ratio = $forged / ($static || 1);
    cmp_ok($forged, '<=', 3 * $F * $static + 10, "... CPU $forged ticks "
           . "vs $static for as many static GETs (x" . sprintf('%.2f', $ratio)
           . ', at most x' . 3 * $F . ')');
    cmp_ok($forged / $HZ / $N * 1000, '<', $F, "... under $F ms of CPU per "
           . 'forged push');
}

# 3. the bucket refills: the member's own pushes count again
sleep 1.5;
is(good_push('farm1', 'm1'), 200, 'after the flood a good push is '
   . 'accepted again');
new_client();
my ($cnt) = count_members($h->url('/app/'), 10);
is(($cnt->{m1} // 0) + ($cnt->{m2} // 0), 10, 'the farm served all '
   . 'along');

no_unexpected_errors($h);
$_->stop for @m;
done_testing;
