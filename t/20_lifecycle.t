# The life cycle of members and farms: administrative states (offline,
# drain), standby members, active health checks (a killed member goes down
# within about a second and comes back up), slow start, the "down" page
# when no member can serve, an administratively offline farm, and
# LBFarmErrorStatus.  No response may carry a member's port.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();

# Members, by farm.
my %m;
$m{$_} = start_member($_) for qw(a1 a2 off1 dr1 r1 r2 sb1 h1 h2 s1 s2 d1 d2
                                 o1 o2 e1 e2);
my @dead = (free_port(), free_port());      # nothing listens there
my @PORTS = ((map { $_->port } values %m), @dead);

my $HC = 'LBFarmHealthCheck /health interval=300ms rise=1 fall=1 '
       . 'timeout=200ms';
my $body = <<"CONF";
<LBFarm states>
    LBFarmMember a1   ${\ $m{a1}->url }
    LBFarmMember a2   ${\ $m{a2}->url }
    LBFarmMember off1 ${\ $m{off1}->url } state=offline
    LBFarmMember dr1  ${\ $m{dr1}->url } state=drain
</LBFarm>
<LBFarm sb>
    LBFarmMember r1  ${\ $m{r1}->url }
    LBFarmMember r2  ${\ $m{r2}->url }
    LBFarmMember sb1 ${\ $m{sb1}->url } standby
</LBFarm>
<LBFarm hc>
    $HC
    LBFarmMember h1 ${\ $m{h1}->url }
    LBFarmMember h2 ${\ $m{h2}->url }
</LBFarm>
<LBFarm slow>
    LBFarmMethod weighted
    LBFarmSlowStart 4
    $HC
    LBFarmMember s1 ${\ $m{s1}->url }
    LBFarmMember s2 ${\ $m{s2}->url }
</LBFarm>
<LBFarm down>
    $HC
    LBFarmDownURL /down.html
    LBFarmMember d1 ${\ $m{d1}->url }
    LBFarmMember d2 ${\ $m{d2}->url }
</LBFarm>
<LBFarm downerr>
    LBFarmRetry 30
    LBFarmDownURL /down.html
    LBFarmMember x1 http://127.0.0.1:$dead[0]
    LBFarmMember x2 http://127.0.0.1:$dead[1]
</LBFarm>
<LBFarm offl>
    LBFarmState offline
    LBFarmOfflineURL http://127.0.0.1/maintenance
    LBFarmDownURL /down.html
    LBFarmMember o1 ${\ $m{o1}->url }
</LBFarm>
<LBFarm offlocal>
    LBFarmState offline
    LBFarmOfflineURL /offline.html
    LBFarmDownURL /down.html
    LBFarmMember o2 ${\ $m{o2}->url }
</LBFarm>
<LBFarm err>
    LBFarmErrorStatus 503
    LBFarmMember e1 ${\ $m{e1}->url }
    LBFarmMember e2 ${\ $m{e2}->url }
</LBFarm>
ProxyPass /down.html !
ProxyPass /offline.html !
ProxyPass /lbfarm-status !
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
ProxyPass /states/   http://states/states/
ProxyPass /sb/       http://sb/sb/
ProxyPass /hc/       http://hc/hc/
ProxyPass /slow/     http://slow/slow/
ProxyPass /down/     http://down/down/
ProxyPass /downerr/  http://downerr/downerr/
ProxyPass /offl/     http://offl/offl/
ProxyPass /offlocal/ http://offlocal/offlocal/
ProxyPass /err/      http://err/err/
CONF
my $h = start_httpd(body => $body);
my $DOWN_PAGE = "<html><body>lbf-down-page: no member can serve</body></html>\n";
my $OFFLINE_PAGE = "<html><body>lbf-offline-page: maintenance</body></html>\n";
LBFTest::spit($h->dir . '/htdocs/down.html', $DOWN_PAGE);
LBFTest::spit($h->dir . '/htdocs/offline.html', $OFFLINE_PAGE);

# Every response goes through check(): no member port anywhere in it.
my ($checked, @leaks) = (0);
sub check {
    my ($r, $what) = @_;
    $checked++;
    push @leaks, map { "$what: $_" } LBFTest::port_leaks($r, @PORTS);
    return $r;
}
sub req { my ($path, %hdr) = @_; return check(get($h->url($path), %hdr), $path) }
sub status {
    # The status page is the operator's view: every form of it names
    # each member's URL (JSON always did; the one field table gives the
    # text form the same fields), so it is not checked for ports.
    my ($r, $rows) = LBFTest::status_get($h);
    return $rows;
}
sub state_of { my ($fm) = @_; my $row = status()->{$fm}; return $row ? $row->{state} : '(none)' }

# Counts members over $n sequential requests to $path; non-200 answers
# are counted as "!<status>".
sub counts {
    my ($path, $n) = @_;
    my %c;
    for (1 .. $n) {
        my $r = req($path);
        $c{ $r->{status} == 200 ? ($r->{member} // '(none)')
                                : "!$r->{status}" }++;
    }
    return \%c;
}

# Waits (bounded) until FARM/MEMBER shows state $want; returns the seconds
# it took, or undef.
sub wait_state {
    my ($fm, $want, $timeout) = @_;
    my $t0 = time;
    my $ok = wait_until($timeout * $F, sub { state_of($fm) eq $want }, 0.05);
    return $ok ? time - $t0 : undef;
}

# 1. Administrative states: offline and draining members take no new
#    client; the status page names their states.
{
    my $c = counts('/states/', 40);
    is(($c->{a1} // 0) + ($c->{a2} // 0), 40,
       'states: 40 new clients all 200 and all on a1/a2 (none on the '
       . 'offline or the draining member)') or diag(explain($c));
    {
        is_deeply($c, { a1 => 20, a2 => 20 },
                  'states: a1 and a2 (equal weights) share exactly')
            or diag(explain($c));
    }
    is(state_of('states/off1'), 'offline', 'status: off1 is offline');
    is(state_of('states/dr1'), 'draining', 'status: dr1 is draining');
    is(status()->{'states/off1'}{requests}, 0, 'off1 counted no request');
    is(status()->{'states/dr1'}{requests}, 0, 'dr1 counted no request');
}

# 2. Standby: unused while a regular member is up; takes everything when
#    both are gone (refused connections fail over at once, no 5xx).
{
    my $c = counts('/sb/', 30);
    is(($c->{r1} // 0) + ($c->{r2} // 0), 30, 'sb: the standby gets nothing '
       . 'while the regular members are up (30 x 200 on r1/r2)')
        or diag(explain($c));
    {
        is_deeply($c, { r1 => 15, r2 => 15 },
                  'sb: r1 and r2 (equal weights) share exactly')
            or diag(explain($c));
    }
    $m{$_}->stop for qw(r1 r2);
    $c = counts('/sb/', 20);
    is_deeply($c, { sb1 => 20 }, 'sb: with r1 and r2 killed, all 20 on the '
              . 'standby, all 200') or diag(explain($c));
}

# 3. Health checks: a killed member is marked down within about a second,
#    traffic avoids it; restarted, it is marked up again and used.
{
    is(state_of('hc/h1'), 'ok', 'hc: h1 ok at first');
    my $port = $m{h1}->port;
    $m{h1}->stop;
    my $t = wait_state('hc/h1', 'down', 3);
    ok(defined $t && $t < 1.2 * $F, 'hc: killed h1 shown down in '
       . (defined $t ? sprintf('%.2f s', $t) : 'more than 3 s')
       . ' (interval 300ms, fall 1)');
    my $c = counts('/hc/', 20);
    is_deeply($c, { h2 => 20 }, 'hc: all 20 requests on h2, all 200')
        or diag(explain($c));
    $m{h1} = start_member('h1', port => $port);
    $t = wait_state('hc/h1', 'ok', 3);
    ok(defined $t && $t < 1.2 * $F, 'hc: restarted h1 shown up in '
       . (defined $t ? sprintf('%.2f s', $t) : 'more than 3 s'));
    $c = counts('/hc/', 20);
    is_deeply($c, { h1 => 10, h2 => 10 }, 'hc: h1 takes its share again')
        or diag(explain($c));
}

# 4. Slow start (4 s, weighted, 2 members): s2 comes back and its share
#    grows from about 10 % toward half.
{
    my $port = $m{s2}->port;
    $m{s2}->stop;
    ok(defined wait_state('slow/s2', 'down', 3), 'slow: s2 down');
    $m{s2} = start_member('s2', port => $port);
    ok(defined wait_state('slow/s2', 'ok', 3), 'slow: s2 up again');
    my $t0 = time;
    # share of s2 over the window [from, to) seconds after it came back
    my $window = sub {
        my ($from, $to) = @_;
        sleep($t0 + $from - time) if time < $t0 + $from;
        my ($n, $s2, $bad) = (0, 0, 0);
        while (time < $t0 + $to && $n < 3000) {
            my $r = req('/slow/');
            $bad++ if $r->{status} != 200;
            $n++;
            $s2++ if ($r->{member} // '') eq 's2';
        }
        is($bad, 0, "slow: window ${from}-${to}s: all 200");
        return $n ? $s2 / $n : -1;
    };
    my $first = $window->(0, 1);
    my $mid = $window->(2, 2.6);
    my $ramp = status()->{'slow/s2'}{ramp} // -1;
    ok($ramp > 0.1 && $ramp < 1,
       "slow: the status page shows s2's ramp in progress ($ramp)");
    my $late = $window->(4.3, 5.0);
    is(status()->{'slow/s2'}{ramp}, '1.000', 'slow: the ramp is over');
    diag(sprintf('slow start: s2 share %.3f (0-1 s), %.3f (2-2.6 s), '
                 . '%.3f (4.3-5 s)', $first, $mid, $late));
    ok($first >= 0 && $first < 0.25,
       sprintf('slow: s2 share in the first second %.3f < 0.25', $first));
    ok($mid > $first, 'slow: the share grows (2 s > first second)');
    ok($late > 0.42 && $late < 0.58,
       sprintf('slow: s2 share after 4.3 s %.3f is about half', $late));
}

# 5. All members down (known from health checks): the down page with
#    status 503 and Retry-After, at once.
{
    $m{$_}->stop for qw(d1 d2);
    ok(defined wait_state('down/d1', 'down', 3)
       && defined wait_state('down/d2', 'down', 3), 'down: d1, d2 down');
    for my $i (1 .. 3) {
        my $t0 = time;
        my $r = req('/down/page');
        my $dt = time - $t0;
        is($r->{status}, 503, "down: request $i answered 503");
        is($r->{body}, $DOWN_PAGE, "down: request $i has the down page");
        like($r->{headers}{'retry-after'} // '', qr/^\d+$/,
             "down: request $i has Retry-After");
        ok($dt < 1, sprintf('down: request %d answered in %.3f s', $i, $dt));
    }
}

# 6. Members refusing connections (no health check): once they are in
#    error, the down page at once.
{
    my $r = req('/downerr/');
    is($r->{status}, 503, 'downerr: first request 503 (both refused)');
    for my $i (1 .. 3) {
        my $t0 = time;
        $r = req('/downerr/');
        my $dt = time - $t0;
        is($r->{status}, 503, "downerr: request $i 503");
        is($r->{body}, $DOWN_PAGE, "downerr: request $i has the down page");
        ok(defined $r->{headers}{'retry-after'}, "downerr: Retry-After");
        ok($dt < 1, sprintf('downerr: request %d in %.3f s', $i, $dt));
    }
    like(state_of('downerr/x1'), qr/^error$/, 'downerr: x1 in error');
}

# 7. An offline farm: a redirect to its offline URL (absolute), or its
#    local offline page with 503; either way with Retry-After, no request
#    reaches its member, and the offline page is not the down page.
{
    my $r = req('/offl/x');
    is($r->{status}, 302, 'offline: 302');
    is($r->{headers}{location}, 'http://127.0.0.1/maintenance',
       'offline: Location is the LBFarmOfflineURL');
    like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'offline: Retry-After');
    $r = req('/offlocal/x');
    is($r->{status}, 503, 'offline (local page): 503');
    is($r->{body}, $OFFLINE_PAGE, 'offline (local page): the offline page');
    like($r->{headers}{'retry-after'} // '', qr/^\d+$/,
         'offline (local page): Retry-After');
    isnt($r->{body}, $DOWN_PAGE, 'the offline page is not the down page');
    my $rows = status();
    is($rows->{'offl/o1'}{requests}, 0, 'offline: o1 got no request');
    is($rows->{'offlocal/o2'}{requests}, 0, 'offline: o2 got no request');
}

# 8. LBFarmErrorStatus 503: a member answering 503 is put in error (the
#    answer itself still reaches the client) and traffic moves.
{
    my $r = req('/err/?status=503');
    is($r->{status}, 503, 'err: the member\'s 503 reaches the client');
    my $bad = $r->{member} // '';
    like($bad, qr/^e[12]$/, "err: it came from a member ($bad)");
    my ($other) = grep { $_ ne $bad } qw(e1 e2);
    is(state_of("err/$bad"), 'error', "err: status page shows $bad in error");
    my $c = counts('/err/', 20);
    is_deeply($c, { $other => 20 }, "err: the next 20 requests all on $other")
        or diag(explain($c));
}

ok($checked > 300, "checked $checked responses for member ports");
is(scalar @leaks, 0, 'no response header or body carries a member port')
    or diag(join "\n", @leaks[0 .. ($#leaks < 9 ? $#leaks : 9)]);

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
$_->stop for values %m;
done_testing;
