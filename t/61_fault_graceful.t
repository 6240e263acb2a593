# Fault drill (issue 12 item 11): a graceful restart every 5 s for 60 s
# under wrk load -> 0 errors caused by the balancer.  The suite's one long
# drill (about 65 s; every other fault drill takes seconds).
#
# Two wrk runs at once on the same httpd, so both see the same restarts:
# one on the farm (/app/, three members), one on a static file served by
# httpd itself.  A graceful restart makes the old children close their
# idle keep-alive connections; a request wrk writes into such a
# connection as it closes is lost (wrk counts a read error, or a connect
# error while the new generation starts).  That is httpd's, and the static
# run measures it.  Asserted:
#  - the farm answered no 5xx, nor any other non-2xx (nor did the static
#    file);
#  - the farm's socket errors are those a restart causes: a graceful
#    restart closes each keep-alive connection of the old generation
#    once, and wrk loses at most the one request it wrote into it as it
#    closed, so at most 10 (connections) per restart; and not worse than
#    the static file's by more than half again plus 10.  A proxied
#    request stays longer on its connection (the member's 1 ms and the
#    proxy's work) than a static one, so a close races it a little more
#    often: runs saw the farm at 0.6x..1.3x the static count (24 vs 40
#    unpaced, 84 vs 65 paced).  A balancer that lost requests at restarts
#    would show 5xx (asserted 0) or close connections beyond that.
# Between restarts, the state and configuration edits README ("Shared
# memory", "Administration") says a restart carries:
#  - admin weight of m1 -> 5: kept over restarts (configuration unchanged);
#  - admin m3 offline: kept, m3 takes no requests while offline;
#  - configured weight of m2 in the file 1 -> 3: applied at the restart
#    (effective 3), while m1 keeps its admin weight 5;
#  - admin m3 up again: kept, m3 serves again.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
plan skip_all => 'wrk not installed' unless `which wrk 2>/dev/null`;

my $F = slow_factor();
my ($SECS, $EVERY) = (60, 5);
my @m = map { start_member($_, args => ['--quiet']) } qw(m1 m2 m3);

sub body {
    my ($w2) = @_;
    return <<"CONF";
<LBFarm f>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url } weight=$w2
    LBFarmMember m3 ${\ $m[2]->url }
</LBFarm>
ProxyPass /lbfarm-status !
ProxyPass /static.txt !
ProxyPass /app/ http://f/app/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
}
my $h = start_httpd(body => body(1));
LBFTest::spit($h->dir . '/htdocs/static.txt', "static file\n" x 4);
is(get($h->url('/static.txt'))->{status}, 200, 'the static file answers');

sub row { (LBFTest::status_rows($h) // {})->{"f/$_[0]"} // {} }
sub admin {
    my (@f) = @_;
    my $r = LBFTest::admin_post($h, [farm => 'f', @f]);
    return $r->{status};
}

# Each connection waits 5 ms between requests (wrk's delay() hook): about
# 2000 requests/s per run, enough to catch every restart, without taking
# both cores of the machine for a minute.
my $lua = $h->dir . '/pace.lua';
LBFTest::spit($lua, "function delay()\n    return 5\nend\n");
my $farm = LBFTest::wrk_start($h->url('/app/x?sleep_ms=1'), secs => $SECS,
                              conns => 10, threads => 1, script => $lua);
my $static = LBFTest::wrk_start($h->url('/static.txt'), secs => $SECS,
                                conns => 10, threads => 1, script => $lua);
my $t0 = time;
my ($restarts, @late) = (0);

# The edits, one before each of the first restarts; each check runs after
# the restart that follows its edit.  [edit, check]
my @steps = (
    [sub { admin(action => 'member-weight', member => 'm1', weight => 5) },
     sub {
         is(row('m1')->{weight}, 5, 'm1\'s admin weight 5 is kept over the '
            . 'restart');
     }],
    [sub { admin(action => 'member-state', member => 'm3',
                 state => 'offline') },
     sub {
         is(row('m3')->{admin}, 'offline', 'm3 stays offline over the '
            . 'restart');
         my $n = row('m3')->{requests};
         sleep 1;
         is(row('m3')->{requests}, $n, '... and takes no requests');
     }],
    [sub { $h->{body} = body(3); 303 },    # the file, for graceful_start
     sub {
         is(row('m2')->{weight}, 3, 'm2\'s weight edited in the file (1 -> '
            . '3) is applied by the restart');
         is(row('m2')->{cfg_weight}, 3, '... as its configured weight');
         is(row('m1')->{weight}, 5, 'm1 keeps its admin weight 5 (its '
            . 'configuration did not change)');
     }],
    [sub { admin(action => 'member-state', member => 'm3', state => 'up') },
     sub {
         is(row('m3')->{admin}, 'enabled', 'm3 back up is kept over the '
            . 'restart');
         my $n = row('m3')->{requests};
         wait_until(3, sub { row('m3')->{requests} > $n });
         cmp_ok(row('m3')->{requests}, '>', $n, '... and serves again');
     }],
);

my $check;
while (time < $t0 + $SECS - $EVERY + 1) {
    my $due = $t0 + ($restarts + 1) * $EVERY;
    sleep($due - time) if $due > time;
    my $step = shift @steps;
    if ($step) {
        is($step->[0]->(), 303, 'edit ' . (4 - @steps) . ' applied (303)');
        $check = $step->[1];
    }
    $h->graceful_start(body => $h->{body});
    eval { $h->graceful_wait(15); 1 } or push @late, $@;
    $restarts++;
    $check->() if $check;
    undef $check;
}
is(scalar @late, 0, "$restarts graceful restarts, each complete in 15 s")
    or diag("@late");
cmp_ok($restarts, '>=', int($SECS / $EVERY) - 1, "$restarts restarts in "
       . "$SECS s");

my $rf = LBFTest::wrk_finish($farm);
my $rs = LBFTest::wrk_finish($static);
my $sock = sub { $_[0]{connect} + $_[0]{read} + $_[0]{write}
                 + $_[0]{timeout} };
diag("farm: $rf->{requests} requests, non-2xx $rf->{non2xx}, socket "
     . "errors " . $sock->($rf) . " (connect $rf->{connect}, read "
     . "$rf->{read}, write $rf->{write}, timeout $rf->{timeout}); static: "
     . "$rs->{requests} requests, non-2xx $rs->{non2xx}, socket errors "
     . $sock->($rs));
cmp_ok($rf->{requests}, '>', 20000, "the farm served $rf->{requests} "
       . "requests in $SECS s");
cmp_ok($rs->{requests}, '>', 20000, "the static file $rs->{requests}");
is($rf->{non2xx}, 0, 'farm: no 5xx (nor any other non-2xx) answer');
is($rs->{non2xx}, 0, 'static: no non-2xx answer');
cmp_ok($sock->($rf), '<=', 10 * $restarts, 'farm: at most one lost request '
       . "per connection and restart ($restarts restarts, 10 connections)");
cmp_ok($sock->($rf), '<=', 1.5 * $sock->($rs) + 10, 'farm: socket errors '
       . 'not worse than the static file\'s by more than half again + 10');
my $r = get($h->url('/app/'));
is($r->{status}, 200, 'the farm answers after the drill');
# The event MPM's AH03092 during back-to-back graceful restarts is httpd's
# (see t/08_carry_guard.t).
no_unexpected_errors($h,
    qr/AH03092: process_lingering_close: apr_pollset_add failure/);
$_->stop for @m;
done_testing;
