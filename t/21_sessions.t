# Sticky sessions: the signed lbf_<farm> cookie (opaque: no host, port or
# member name), requests with it stay on their member; forged, tampered,
# expired, transplanted and oversized cookies are ignored (balanced as new,
# a fresh cookie issued); failover when the stuck member dies; a draining
# member keeps its stuck clients and gets no new one; LBFarmRouteCookie.
# Cookie attributes (one builder: HttpOnly, SameSite, Secure, Max-Age and
# Expires; samesite= and secure= options); a cookie past half its ttl is
# re-issued, one claiming more than the ttl is re-issued capped; forged
# cookies are logged (LBF00301), at most once a second per process, never
# with their value.  No response may carry a member's port.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $SECRET = 'sessions-test-secret-' . join('', map { int rand 10 } 1 .. 16);
my $key_file = LBFTest::secret_file('# the farm session secret', $SECRET);

# web and shop have members of the same names (and share the secret), so
# that a transplanted cookie would name a real member if it were honoured.
my %m;
$m{"web/$_"} = start_member($_) for qw(m1 m2 m3);
$m{"shop/$_"} = start_member($_) for qw(m1 m2 m3);
$m{"dr/$_"} = start_member($_) for qw(d1 d2 d3);
$m{"rt/$_"} = start_member($_) for qw(m1 m2 m3);
$m{"sec/$_"} = start_member($_) for qw(s1 s2);
my $TTL = 4;                  # farm sec: short, so a refresh is seen
my @PORTS = map { $_->port } values %m;

sub members {
    my ($farm, %opt) = @_;
    return join '', map {
        my $n = (split m{/}, $_)[1];
        "    LBFarmMember $n " . $m{$_}->url
            . ($opt{$n} ? " $opt{$n}" : '') . "\n"
    } sort grep { m{^\Q$farm\E/} } keys %m;
}

my $body = "LimitRequestFieldSize 16384\n"
  . "<LBFarm web>\n    LBFarmSessionKey $key_file\n    LBFarmSticky On\n"
  . members('web') . "</LBFarm>\n"
  . "<LBFarm shop>\n    LBFarmSessionKey $key_file\n    LBFarmSticky On\n"
  . members('shop') . "</LBFarm>\n"
  . "<LBFarm dr>\n    LBFarmSessionKey $key_file\n    LBFarmSticky On\n"
  . members('dr', d1 => 'state=drain') . "</LBFarm>\n"
  . "<LBFarm rt>\n    LBFarmRouteCookie JSESSIONID\n"
  . members('rt') . "</LBFarm>\n"
  . "<LBFarm sec>\n    LBFarmSessionKey $key_file\n"
  . "    LBFarmSticky On ttl=$TTL samesite=Strict secure=always\n"
  . members('sec') . "</LBFarm>\n"
  . "ProxyPass /web/ http://web/web/\n"
  . "ProxyPass /shop/ http://shop/shop/\n"
  . "ProxyPass /dr/ http://dr/dr/\n"
  . "ProxyPass /rt/ http://rt/rt/\n"
  . "ProxyPass /sec/ http://sec/sec/\n";
my $h = start_httpd(body => $body);

my ($checked, @leaks) = (0);
sub req {
    my ($path, %hdr) = @_;
    my $r = get($h->url($path), %hdr);
    $checked++;
    push @leaks, map { "$path: $_" } LBFTest::port_leaks($r, @PORTS);
    return $r;
}

# $n requests to $path with cookie header $cookie (undef: none):
# ({member => count}, [non-200], [lbf_<farm> cookie values issued]).
sub with_cookie {
    my ($path, $cookie, $n, $name) = @_;
    my (%c, @bad, @issued);
    for (1 .. $n) {
        my $r = req($path, defined $cookie ? (Cookie => $cookie) : ());
        if ($r->{status} == 200) { $c{ $r->{member} // '(none)' }++ }
        else { push @bad, $r->{status} }
        my ($v) = LBFTest::set_cookie_named($r, $name);
        push @issued, $v if defined $v;
    }
    return (\%c, \@bad, \@issued);
}

my $now = time;
my %id = map { $_ => LBFTest::sess_member_id($SECRET, $_) }
         qw(m1 m2 m3 d1 s1 s2);

# 1. A new client gets a cookie lbf_web, opaque and well formed, naming the
#    member that served it; with it, 20 requests stay on that member.
my ($first, $val, $attrs);
{
    $first = req('/web/');
    is($first->{status}, 200, 'web: first request 200');
    ($val, $attrs) = LBFTest::set_cookie_named($first, 'lbf_web');
    ok(defined $val, 'web: first response sets cookie lbf_web')
        or diag(explain($first->{headers}));
    $val //= '';
    my $c = LBFTest::parse_sess_cookie($val);
    ok($c, "web: cookie value has the documented format ($val)");
    is(length $val, 62, 'web: cookie value is 62 bytes');
    is($c && $c->{mode}, 'w', 'web: automatic stickiness is mode w');
    is($c && $c->{id}, $id{ $first->{member} // '' },
       'web: the id is the HMAC id of the member that served');
    ok($c && $c->{expiry} > $now + 3000 && $c->{expiry} < $now + 3700,
       'web: expiry about an hour ahead (default ttl)');
    like($attrs // '', qr/(?:^|;\s*)Path=\/(?:;|$)/i, 'web: Path=/');
    like($attrs // '', qr/(?:^|;\s*)HttpOnly(?:;|$)/, 'web: HttpOnly');
    like($attrs // '', qr/(?:^|;\s*)SameSite=Lax(?:;|$)/, 'web: SameSite=Lax');
    like($attrs // '', qr/(?:^|;\s*)Max-Age=3600(?:;|$)/, 'web: Max-Age=3600');
    like($attrs // '', qr/(?:^|;\s*)Expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT(?:;|$)/,
         'web: Expires, an IMF date');
    unlike($attrs // '', qr/Secure/i, 'web: no Secure over plain http');
    unlike($val, qr/127\.0\.0\.1|localhost/, 'cookie has no host');
    ok(!(grep { index($val, $_) >= 0 } @PORTS), 'cookie holds no port');
    ok(!(grep { $val =~ /\Q$_\E/i } qw(m1 m2 m3 web)),
       'cookie holds no member or farm name');
    my ($cnt, $bad) = with_cookie('/web/', "lbf_web=$val", 20, 'lbf_web');
    is_deeply($cnt, { $first->{member} => 20 },
              "web: 20 requests with the cookie all on $first->{member}")
        or diag(explain($cnt, $bad));
}
my $stuck = $first->{member} // 'm1';

# A cookie built here from the secret and the documented format works the
# same (so the negative cases below differ from a valid one only in what
# they change).
{
    my $mine = LBFTest::sess_cookie($SECRET, 'web', 'w', 'm3', int($now) + 600);
    my ($cnt) = with_cookie('/web/', "a=1; lbf_web=$mine; b=2", 12, 'lbf_web');
    is_deeply($cnt, { m3 => 12 },
              'web: a cookie built from the documented format is honoured')
        or diag(explain($cnt));
}

# 2. Cookies that must be ignored: balanced as new (several members), 200,
#    each answer issues a fresh, valid cookie.
{
    my $valid = LBFTest::sess_cookie($SECRET, 'web', 'w', 'm2',
                                     int($now) + 600);
    (my $forged = $valid) =~ s/(.)$/$1 eq '0' ? '1' : '0'/e;
    my $tampered = $valid;
    substr($tampered, 4, 1) = substr($tampered, 4, 1) eq 'a' ? 'b' : 'a';
    my $tampered_mode = $valid;
    substr($tampered_mode, 2, 1) = 'a';
    my $expired = LBFTest::sess_cookie($SECRET, 'web', 'w', 'm2',
                                       int($now) - 10);
    my $other_key = LBFTest::sess_cookie('another-secret-0123456789', 'web',
                                         'w', 'm2', int($now) + 600);
    my %cases = (
        forged => $forged, tampered => $tampered,
        'tampered mode' => $tampered_mode, expired => $expired,
        'other secret' => $other_key,
        oversized => $valid . ('x' x (8192 - length $valid)),
        garbage => 'not-a-cookie',
    );
    for my $what (sort keys %cases) {
        my ($cnt, $bad, $issued) =
            with_cookie('/web/', "lbf_web=$cases{$what}", 9, 'lbf_web');
        is(scalar @$bad, 0, "$what cookie: 9 requests all 200")
            or diag("@$bad");
        ok(keys %$cnt >= 2, "$what cookie: balanced as new ("
           . join(', ', map { "$_=$cnt->{$_}" } sort keys %$cnt) . ')');
        is(scalar(grep { LBFTest::parse_sess_cookie($_) } @$issued), 9,
           "$what cookie: each answer issues a fresh valid cookie");
    }
    # transplanted: web's cookie presented to shop, whose members have the
    # same names (same ids under the shared secret)
    my ($cnt, $bad, $issued) =
        with_cookie('/shop/', "lbf_shop=$val", 9, 'lbf_shop');
    is(scalar @$bad, 0, 'transplanted cookie: 9 requests all 200');
    ok(keys %$cnt >= 2, 'transplanted cookie (web to shop): balanced as new ('
       . join(', ', map { "$_=$cnt->{$_}" } sort keys %$cnt) . ')');
    is(scalar(grep { LBFTest::parse_sess_cookie($_) } @$issued), 9,
       'transplanted cookie: a fresh shop cookie on each answer');
    my ($control) = with_cookie('/shop/', 'lbf_shop='
        . LBFTest::sess_cookie($SECRET, 'shop', 'w', $stuck, int($now) + 600),
        6, 'lbf_shop');
    is_deeply($control, { $stuck => 6 },
              "control: shop's own cookie for $stuck is honoured");
}

# 3. Draining: d1 (state=drain) keeps the clients stuck to it, and gets no
#    new one.
{
    my ($cnt, $bad) = with_cookie('/dr/', undef, 30, 'lbf_dr');
    is(scalar @$bad, 0, 'dr: 30 new clients all 200');
    ok(!$cnt->{d1}, 'dr: no new client on the draining d1')
        or diag(explain($cnt));
    my $c = LBFTest::sess_cookie($SECRET, 'dr', 'w', 'd1', int($now) + 600);
    ($cnt, $bad) = with_cookie('/dr/', "lbf_dr=$c", 20, 'lbf_dr');
    is_deeply($cnt, { d1 => 20 },
              'dr: a client stuck to d1 stays on it while it drains')
        or diag(explain($cnt, $bad));
}

# 4. LBFarmRouteCookie JSESSIONID: "abc.m2" goes to m2 (cookie or query).
{
    my ($cnt) = with_cookie('/rt/', 'JSESSIONID=abc.m2', 10, 'x');
    is_deeply($cnt, { m2 => 10 }, 'rt: cookie JSESSIONID=abc.m2 -> m2')
        or diag(explain($cnt));
    ($cnt) = with_cookie('/rt/', 'other=1; JSESSIONID=5F3A.x.m3', 10, 'x');
    is_deeply($cnt, { m3 => 10 }, 'rt: JSESSIONID=5F3A.x.m3 -> m3');
    ($cnt) = with_cookie('/rt/?JSESSIONID=abc.m1', undef, 10, 'x');
    is_deeply($cnt, { m1 => 10 }, 'rt: query JSESSIONID=abc.m1 -> m1');
    ($cnt) = with_cookie('/rt/', 'JSESSIONID=abc.m9', 9, 'x');
    is(keys %$cnt, 3, 'rt: an unknown route is balanced over all three');
}

# 5. Sticky failover: the stuck member dies; the next request is served
#    by another member with a re-issued cookie, which then sticks.
{
    my $m = $m{"web/$stuck"};
    $m->stop;
    my $r = req('/web/', Cookie => "lbf_web=$val");
    is($r->{status}, 200, "failover: $stuck killed, the next request 200");
    my $to = $r->{member} // '';
    isnt($to, $stuck, "failover: served by another member ($to)");
    my ($nv) = LBFTest::set_cookie_named($r, 'lbf_web');
    my $nc = LBFTest::parse_sess_cookie($nv);
    ok($nc && $nc->{id} eq ($id{$to} // ''),
       'failover: a new cookie naming the new member');
    my ($cnt) = with_cookie('/web/', 'lbf_web=' . ($nv // ''), 10, 'lbf_web');
    is_deeply($cnt, { $to => 10 }, "failover: the new cookie sticks to $to");
    ($cnt) = with_cookie('/web/', "lbf_web=$val", 6, 'lbf_web');
    ok(!$cnt->{$stuck} && ($cnt->{m1} // 0) + ($cnt->{m2} // 0)
       + ($cnt->{m3} // 0) == 6, 'failover: the old cookie keeps failing '
       . 'over, all 200');
}

# 6. Attributes, refresh and cap (farm sec: ttl=4, samesite=Strict,
#    secure=always).
{
    my $r = req('/sec/');
    my ($v, $a) = LBFTest::set_cookie_named($r, 'lbf_sec');
    my $c = LBFTest::parse_sess_cookie($v);
    my $who = $r->{member} // '';
    ok($c && $c->{id} eq ($id{$who} // ''), "sec: a cookie for $who");
    like($a // '', qr/(?:^|;\s*)SameSite=Strict(?:;|$)/, 'sec: samesite=Strict');
    like($a // '', qr/(?:^|;\s*)Secure(?:;|$)/,
         'sec: secure=always sets Secure over plain http');
    like($a // '', qr/(?:^|;\s*)HttpOnly(?:;|$)/, 'sec: HttpOnly');
    like($a // '', qr/(?:^|;\s*)Max-Age=$TTL(?:;|$)/, "sec: Max-Age=$TTL");
    ok($c && $c->{expiry} <= time + $TTL + 1, "sec: expiry within the ttl");
    # at once: stuck, no new cookie
    my $r2 = req('/sec/', Cookie => "lbf_sec=$v");
    is($r2->{member}, $who, "sec: the cookie sticks to $who");
    is(scalar(grep { /^lbf_sec=/ } LBFTest::set_cookies($r2)), 0,
       'sec: no Set-Cookie before half the ttl');
    # past half the ttl: the same member, the same mode, a fresh expiry
    sleep($TTL / 2 + 0.3);
    my $r3 = req('/sec/', Cookie => "lbf_sec=$v");
    is($r3->{member}, $who, "sec: still on $who past half the ttl");
    my ($nv) = LBFTest::set_cookie_named($r3, 'lbf_sec');
    my $nc = LBFTest::parse_sess_cookie($nv);
    ok($nc, 'sec: past half its ttl the cookie is re-issued')
        or diag(explain([ LBFTest::set_cookies($r3) ]));
    ok($nc && $c && $nc->{expiry} > $c->{expiry}
       && $nc->{id} eq $c->{id} && $nc->{mode} eq $c->{mode},
       'sec: re-issued for the same member and mode, with a later expiry');
    # the old cookie runs out; the refreshed one still holds
    sleep($TTL / 2 + 0.8);
    my ($cnt) = with_cookie('/sec/', 'lbf_sec=' . ($nv // ''), 4, 'lbf_sec');
    is_deeply($cnt, { $who => 4 },
              "sec: after the first cookie's expiry the refreshed one "
              . "still sticks to $who") or diag(explain($cnt));
    # a cookie claiming an hour on a 4-second farm: honoured, re-issued
    # capped at the ttl
    my $long = LBFTest::sess_cookie($SECRET, 'sec', 'w', 's2', int(time) + 3600);
    my $r4 = req('/sec/', Cookie => "lbf_sec=$long");
    is($r4->{member}, 's2', 'sec: a cookie beyond the ttl is still honoured');
    my ($cv, $ca) = LBFTest::set_cookie_named($r4, 'lbf_sec');
    my $cc = LBFTest::parse_sess_cookie($cv);
    ok($cc && $cc->{id} eq $id{s2} && $cc->{expiry} <= time + $TTL + 1,
       'sec: ... and re-issued with its expiry capped at now + ttl ('
       . ($cc ? $cc->{expiry} - int(time) : '?') . ' s)');
    like($ca // '', qr/Max-Age=$TTL(?:;|$)/, "sec: capped Max-Age=$TTL");
}

# 7. Forged cookies are logged: LBF00301 at warn, at most once a second
#    per process, counting what it did not log, never the cookie value.
{
    my $valid = LBFTest::sess_cookie($SECRET, 'web', 'w', 'm2',
                                     int(time) + 600);
    my @forged = map { (my $f = $valid) =~ s/.{4}$/sprintf('%04x', $_)/e; $f }
                 1 .. 12;
    sleep 1.1;
    my $mark = length $h->error_log;
    my $t0 = time;
    req('/web/', Cookie => "lbf_web=$_") for @forged[0 .. 9];
    my $dt = time - $t0;
    my @burst = grep { /LBF00301/ } split /\n/, substr($h->error_log, $mark);
    ok(@burst >= 1 && @burst <= ($dt < 1 ? 1 : 1 + int($dt) + 1),
       sprintf('a burst of 10 forged cookies in %.2f s logs LBF00301 %d '
               . 'time(s)', $dt, scalar @burst)) or diag(join "\n", @burst);
    sleep 1.1;
    req('/web/', Cookie => "lbf_web=$forged[10]");
    my @lines = grep { /LBF00301/ } split /\n/, substr($h->error_log, $mark);
    ok(@lines > @burst, 'the next forged cookie a second later is logged');
    like($lines[-1] // '', qr/\(\d+ more not logged\)/,
         'that line counts the forged cookies not logged');
    is(scalar(grep { !/\[lbfarm:warn\]/ } @lines), 0, 'LBF00301 at warn');
    is(scalar(grep { /farm web/ } @lines), scalar @lines,
       'LBF00301 names the farm');
    my $log = $h->error_log;
    is(scalar(grep { index($log, substr($_, 30)) >= 0 } @forged, $valid), 0,
       'no cookie value (nor its mac) in the error log');
    my (%last, @close);
    for my $l (@lines) {
        next unless $l =~ /^\[\w+ \w+ +\d+ (\d+):(\d+):(\d+\.\d+) \d+\].*\[pid (\d+)/;
        my ($t, $pid) = ($1 * 3600 + $2 * 60 + $3, $4);
        push @close, $l if defined $last{$pid} && $t - $last{$pid} < 0.999;
        $last{$pid} = $t;
    }
    is(scalar @close, 0, 'at most one LBF00301 a second per process')
        or diag(join "\n", @close);
}

ok($checked > 150, "checked $checked responses for member ports");
is(scalar @leaks, 0, 'no response header or body carries a member port')
    or diag(join "\n", @leaks[0 .. ($#leaks < 9 ? $#leaks : 9)]);

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
$_->stop for values %m;
done_testing;
