# Graceful restarts (SIGUSR1): serving continues, requests in flight
# finish, the distribution stays exact, and a changed config applies.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(m1 m2);

sub body {
    my ($w1, $w2) = @_;
    return <<"CONF";
<LBFarm farm1>
    LBFarmMember m1 ${\ $m[0]->url } weight=$w1
    LBFarmMember m2 ${\ $m[1]->url } weight=$w2
</LBFarm>
ProxyPass /app/ http://farm1/app/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
}

# The status rows of farm1 (text form).
sub rows { LBFTest::status_rows($_[0]) // {} }

my $h = start_httpd(body => body(3, 1));
my $url = $h->url('/app/');

sub exact {
    my ($what, $n, %want) = @_;
    new_client();                     # a connection to the current children
    my ($c, $bad) = count_members($url, $n);
    is(scalar @$bad, 0, "$what: $n requests all 200") or diag("@$bad[0..4]");
    is_deeply($c, \%want, "$what: exact split "
              . join(' ', map { "$_=$want{$_}" } sort keys %want))
        or diag(explain($c));
}

exact('before restart', 400, m1 => 300, m2 => 100);
my $before = rows($h);
is($before->{'farm1/m1'}{requests}, 300, 'status: m1 counted 300 requests');

# Graceful restart with a slow request in flight and traffic going on.
my $slow = start_request("${url}?sleep_ms=1500");
sleep 0.3 * slow_factor();
new_client();                          # drop our keep-alive connection
$h->graceful_start;
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);
# (A connection caught by an exiting old child may wait ~1 s: stock httpd
# does that too; the client timeout is 10 s.)
my @during = map { $ua->get($url)->{status} } 1 .. 30;
is(scalar(grep { $_ != 200 } @during), 0,
   '30 requests on new connections during the restart all 200')
    or diag("@during");
my $sr = finish_request($slow, 15);
is($sr->{status}, 200, 'request in flight across the restart finished 200')
    or diag($sr->{raw});
ok(eval { $h->graceful_wait(15) }, 'new generation of children answers')
    or diag($@);

# What a graceful restart keeps (README, "Shared memory"): the counters
# carried into the new segment; in-flight is not carried (0 once the old
# children's requests are done, never negative in the new segment).
my $after = rows($h);
cmp_ok($after->{'farm1/m1'}{requests} // 0, '>=', 300,
       'restart kept m1\'s request counter ('
       . ($after->{'farm1/m1'}{requests} // 'none') . ' >= 300)');
is($after->{"farm1/$_"}{inflight}, 0, "restart: $_ in-flight is 0 (not "
   . "carried, not negative)") for qw(m1 m2);

# The picks taken during the restart may have left the cursor anywhere:
# a whole number of periods is still exact.
exact('after graceful restart', 400, m1 => 300, m2 => 100);

# A second graceful restart with new weights: they apply.
ok(eval { $h->graceful(body => body(1, 4)) }, 'graceful with new weights')
    or diag($@);
exact('after restart with weights 1:4', 500, m1 => 100, m2 => 400);

# Exact schedule of the new weights from a fresh client: SWRR of {1,4}
# is b b a b b (as a rotation, since the cursor may have moved).
new_client();
my @got = map { get($url)->{member} // '(none)' } 1 .. 10;
my @sched = map { ('m1', 'm2')[$_] } swrr_schedule(5, 1, 4);
my $period = join ' ', @sched;
my $ok = grep { join(' ', (@sched, @sched)[$_ .. $_ + 4]) eq "@got[0..4]" }
         0 .. 4;
ok($ok && "@got[0..4]" eq "@got[5..9]",
   "sequence is a rotation of the SWRR schedule ($period)")
    or diag("got @got");

no_unexpected_errors($h);
$_->stop for @m;

# Health survives a graceful restart (issue 12): a member failing its
# checks stays down, so it gets no request in the seconds after the
# restart -- without the carry it would be up again until `fall` checks
# failed (here about 2.5 s, up to 15 s with the defaults).  hb answers its
# check 100 times slower than hg (--slow 100): 500 ms, past the timeout.
{
    my $hg = start_member('hg');
    my $hb = start_member('hb', args => ['--slow', '100']);
    my $hc = 'LBFarmHealthCheck /health?sleep_ms=5 interval=1s timeout=200ms '
           . 'rise=2 fall=3';
    my $h2 = start_httpd(body => <<"CONF");
<LBFarm hcfarm>
    $hc
    LBFarmMember hg ${\ $hg->url }
    LBFarmMember hb ${\ $hb->url }
</LBFarm>
ProxyPass /hc/ http://hcfarm/hc/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
    my $state = sub {
        my $rows = LBFTest::status_rows($h2) // {};
        return $rows->{"hcfarm/$_[0]"}{state} // '(none)';
    };
    ok(wait_until(8 * slow_factor(), sub { $state->('hb') eq 'down' }, 0.1),
       'health: hb failing its checks is down') or diag($state->('hb'));
    is($state->('hg'), 'ok', 'health: hg passing its checks is ok');
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
                             max_redirect => 0);
    my %c;
    $c{ $ua->get($h2->url('/hc/'))->{headers}{'x-member'} // '(none)' }++
        for 1 .. 10;
    is_deeply(\%c, { hg => 10 }, 'health: before the restart all 10 on hg')
        or diag(explain(\%c));
    ok(eval { $h2->graceful }, 'health: graceful restart') or diag($@);
    is($state->('hb'), 'down', 'health: hb is still down right after the '
       . 'restart');
    # requests on new connections for 2.5 s, the window in which a
    # forgotten health would give hb about half of them
    my ($t0, $n) = (time, 0);
    %c = ();
    while (time - $t0 < 2.5 * slow_factor()) {
        my $r = $ua->get($h2->url('/hc/'));
        $c{ $r->{status} == 200 ? ($r->{headers}{'x-member'} // '(none)')
                                : "!$r->{status}" }++;
        $n++;
        sleep 0.05;
    }
    cmp_ok($n, '>=', 20, "health: $n requests in the 2.5 s after the "
           . 'restart');
    is_deeply(\%c, { hg => $n }, 'health: hb, down before the restart, got '
              . 'none of them') or diag(explain(\%c));
    no_unexpected_errors($h2);
    $_->stop for $hg, $hb;
}
done_testing;
