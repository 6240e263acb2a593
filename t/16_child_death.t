# A child that dies does not leak in-flight (issue 12, item 2): slow
# requests are in flight to a least-load farm while children are killed
# with SIGKILL, repeatedly, under load; within 2 s after the load every
# member's in-flight is exactly 0 again (JSON status page) and least-load
# spreads over both members; the same through a stock balancer://, and
# across a graceful restart.  Then children that exit at
# MaxConnectionsPerChild, many more of them than ServerLimit: the same,
# and every new child found a hold block.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Select;
use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $SLOW_MS = 2500;
my $ROUNDS = 5;

my @m = map { start_member("k$_", args => ['--quiet']) } 1 .. 2;

sub body {
    my ($extra) = @_;
    return $extra . <<"CONF";
<LBFarm ll>
    LBFarmMethod least-load
    LBFarmRetry 1
    LBFarmMember k1 @{[ $m[0]->url ]}
    LBFarmMember k2 @{[ $m[1]->url ]}
</LBFarm>
<Proxy "balancer://bb">
    BalancerMember @{[ $m[0]->url ]}
    BalancerMember @{[ $m[1]->url ]}
    ProxySet lbmethod=least-load
</Proxy>
ProxyPass /lbfarm-status !
ProxyPass /ll/ http://ll/ll/
ProxyPass /bb/ balancer://bb/bb/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
}

# { member => inflight } of farm ll (or of the balancer:// farm, $kind
# 'balancer') from the JSON status page, or undef.
sub inflight {
    my ($h, $kind) = @_;
    my $r = HTTP::Tiny->new(timeout => 5, keep_alive => 0)
                      ->get($h->url('/lbfarm-status?format=json'));
    return undef unless $r->{status} == 200;
    my $j = eval { decode_json($r->{content}) } or return undef;
    my ($f) = grep { $kind ? $_->{kind} eq $kind : $_->{name} eq 'll' }
              @{ $j->{farms} || [] };
    return undef unless $f;
    return { map { ($_->{name} => $_->{inflight}) } @{ $f->{members} } };
}

# The $n children holding the most sockets (the connections of the
# requests in flight): the ones to kill.  Without the right to read their
# fds (not root), the first $n by pid.
sub busiest {
    my ($h, $n) = @_;
    my %socks;
    for my $pid ($h->children) {
        $socks{$pid} = 0;
        opendir my $d, "/proc/$pid/fd" or next;
        for my $fd (readdir $d) {
            my $l = readlink("/proc/$pid/fd/$fd") // '';
            $socks{$pid}++ if $l =~ /^socket:/;
        }
        closedir $d;
    }
    my @by = sort { $socks{$b} <=> $socks{$a} || $a <=> $b } keys %socks;
    return @by[0 .. ($n > @by ? @by : $n) - 1];
}

# 1 when the server closed the connection of request $req (it was cut).
sub eof_now {
    my ($req) = @_;
    my $sel = IO::Select->new($req->{sock});
    return 0 unless $sel->can_read(0);
    my $n = sysread($req->{sock}, my $buf, 1);
    return defined $n && $n == 0;
}

sub all_zero {
    my ($h, $kind) = @_;
    my $i = inflight($h, $kind) or return 0;
    return (grep { $_ != 0 } values %$i) ? 0 : $i;
}

# A forked client sending fast GETs (new connection each) until $secs.
sub background_load {
    my ($url, $secs) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
        my $end = time + $secs;
        $ua->get($url) while time < $end;
        _exit(0);
    }
    return $pid;
}

sub wait_load {
    my ($pid, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

# Both members picked by least-load once idle: 40 fast requests, each
# member at least 8 (a member still counted busy would get none).
sub fair {
    my ($h, $what) = @_;
    my ($c, $bad) = count_members($h->url('/ll/'), 40);
    is(scalar @$bad, 0, "$what: 40 fast requests all 200")
        or diag("@$bad");
    ok(($c->{k1} // 0) >= 8 && ($c->{k2} // 0) >= 8,
       "$what: least-load spreads over both members again")
        or diag(explain($c));
}

###########################################################################
# SIGKILL under load

my $h = start_httpd(loglevel => 'warn lbfarm:info', body => body(<<'MPM'));
StartServers 4
MinSpareThreads 75
MaxSpareThreads 150
MPM
my $u = $h->url('/ll/');
my ($c0, $bad0) = count_members($u, 10);
is(@$bad0, 0, 'warm-up requests all 200');
ok(wait_until(10 * $F, sub { $h->children >= 4 }), 'four children up');

my $load = background_load($u, $ROUNDS * 1.5 * $F + 2);
my ($killed, $lost, $served) = (0, 0, 0);
for my $round (1 .. $ROUNDS) {
    my @slow = map { start_request("${u}?sleep_ms=$SLOW_MS") } 1 .. 8;
    # all eight in flight (the status page counts them), then kill the two
    # children holding most of them
    wait_until(3 * $F, sub {
        my $i = inflight($h) or return 0;
        return ($i->{k1} // 0) + ($i->{k2} // 0) >= 8;
    });
    for my $pid (busiest($h, 2)) {
        $killed += kill 'KILL', $pid;
    }
    for my $s (@slow) {
        my $r = finish_request($s, $SLOW_MS / 1000 + 10);
        $r->{status} == 200 ? $served++ : $lost++;
    }
    # the parent starts new children within a second or so
    wait_until(5 * $F, sub { $h->children >= 3 });
}
ok(wait_load($load, 30), 'the background load ended in time');
is($killed, 2 * $ROUNDS, "SIGKILLed $killed children");
ok($lost > 0, "the kills cut requests in flight ($lost of "
              . ($lost + $served) . ' slow requests lost)');

my $t0 = time;
my $zero = wait_until(2 * $F, sub { all_zero($h) }, 0.05);
ok($zero, sprintf('every member at 0 in flight %.2f s after the load',
                  time - $t0))
    or diag(explain(inflight($h)));
fair($h, 'after the kills');

# How fast: 8 long requests in flight, kill two children; the requests
# they held end at once on the client side (EOF), and the farm's count
# drops to the survivors within about a second -- long before those end.
{
    my @slow = map { start_request("${u}?sleep_ms=" . 6000 * $F) } 1 .. 8;
    wait_until(3 * $F, sub {
        my $i = inflight($h) or return 0;
        return ($i->{k1} // 0) + ($i->{k2} // 0) >= 8;
    });
    kill 'KILL', busiest($h, 2);
    my $tk = time;
    sleep 0.3;
    my @cut = grep { eof_now($_) } @slow;
    my $left = 8 - @cut;
    my $dropped = wait_until(3 * $F, sub {
        my $i = inflight($h) or return 0;
        return ($i->{k1} // 0) + ($i->{k2} // 0) == $left;
    }, 0.02);
    my $took = time - $tk;
    ok(@cut > 0, scalar(@cut) . ' of 8 requests cut by the kills');
    ok($dropped && $took < 1.5 * $F,
       sprintf('in flight down to the %d survivors %.2f s after the kill',
               $left, $took)) or diag(explain(inflight($h)));
    finish_request($_, 6 * $F + 10) for @slow;
    ok(wait_until(2 * $F, sub { all_zero($h) }, 0.05),
       'and to 0 when the survivors end');
}
# The same through a stock balancer:// with lbmethod=least-load (the
# provider's finder takes the row).
{
    my $ub = $h->url('/bb/');
    my @slow = map { start_request("${ub}?sleep_ms=" . 3000 * $F) } 1 .. 8;
    my $busy = wait_until(3 * $F, sub {
        my $i = inflight($h, 'balancer') or return 0;
        my $n = 0;
        $n += $_ for values %$i;
        return $n >= 8;
    });
    ok($busy, 'balancer://: 8 requests in flight');
    kill 'KILL', busiest($h, 2);
    my $cut = 0;
    for my $s (@slow) {
        $cut++ if finish_request($s, 3 * $F + 10)->{status} != 200;
    }
    ok($cut > 0, "balancer://: $cut of 8 cut by the kills");
    ok(wait_until(2 * $F, sub { all_zero($h, 'balancer') }, 0.05),
       'balancer://: every member at 0 in flight after the load')
        or diag(explain(inflight($h, 'balancer')));
}
# A graceful restart with requests in flight: the old children finish them
# on the old segment (in-flight is not carried), an old child killed then
# gives nothing back in the new one, and the new counts stay exact.
{
    my @slow = map { start_request("${u}?sleep_ms=" . 3000 * $F) } 1 .. 6;
    wait_until(3 * $F, sub {
        my $i = inflight($h) or return 0;
        return ($i->{k1} // 0) + ($i->{k2} // 0) >= 6;
    });
    my ($old) = busiest($h, 1);
    ok(eval { $h->graceful }, 'graceful restart with requests in flight')
        or diag($@);
    is(kill('KILL', $old), 1, 'an old-generation child killed after it');
    my ($c, $bad) = count_members($u, 20);
    is(scalar @$bad, 0, 'graceful: the new generation serves');
    finish_request($_, 3 * $F + 10) for @slow;
    ok(wait_until(2 * $F, sub { all_zero($h) }, 0.05),
       'graceful: every member at 0 in flight in the new generation')
        or diag(explain(inflight($h)));
    fair($h, 'after a graceful restart and a killed old child');
}
like($h->error_log, qr/LBF0070[15]: .*returned/,
     'the log says a dead child\'s requests were returned');
# the event MPM's own note when a graceful restart meets a lingering close
no_unexpected_errors($h, qr/AH03092: process_lingering_close/);

###########################################################################
# MaxConnectionsPerChild: children come and go, far more than ServerLimit

$h = start_httpd(loglevel => 'warn lbfarm:info', body => body(<<'MPM'));
StartServers 2
ServerLimit 8
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75
MaxConnectionsPerChild 3
MPM
$u = $h->url('/ll/');
my %seen;
my $t1 = time;
for my $i (1 .. 40) {
    last if time - $t1 > 60 * $F;
    $seen{$_} = 1 for $h->children;
    # a slow request across the child's exit, then fast ones (every GET
    # is a new connection: count_members' client keeps one, so use ours)
    my $s = start_request("${u}?sleep_ms=300");
    my $r = HTTP::Tiny->new(timeout => 10, keep_alive => 0)->get($u);
    finish_request($s, 10);
}
$seen{$_} = 1 for $h->children;
ok(keys(%seen) > 8, scalar(keys %seen) . ' children seen over 40 rounds '
                    . '(ServerLimit 8)');
$t0 = time;
$zero = wait_until(2 * $F, sub { all_zero($h) }, 0.05);
ok($zero, sprintf('MaxConnectionsPerChild: every member at 0 in flight '
                  . '%.2f s after the load', time - $t0))
    or diag(explain(inflight($h)));
fair($h, 'after MaxConnectionsPerChild exits');
unlike($h->error_log, qr/LBF00703/, 'every new child found a hold block');
# children still finishing their exit hold scoreboard slots: httpd's note
no_unexpected_errors($h, qr/AH03490: scoreboard is full/);

$_->stop for @m;
done_testing;
