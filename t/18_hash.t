# LBFarmMethod hash with real members: a cookie or header key keeps its
# member, keys spread over the members, a member set offline (admin page)
# moves only its keys and they come back, slow start under hash gives a
# member back from offline a ramped share, and lbmethod=hash in a stock
# balancer:// (key from the env LBFARM_HASH_KEY, set by SetEnvIf) keeps
# keys, spreads them and ramps a member back from error.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(h1 h2 h3 h4);
my $RAMP = 6;   # s: LBFarmSlowStart of farm "hc" and of balancer://bh
my $members = join '', map { "    LBFarmMember $_->{name} ${\ $_->url }\n" } @m;
my $bmembers = join '', map { "    BalancerMember ${\ $_->url } retry=1\n" } @m;
my $body = <<"CONF";
<LBFarm hc>
    LBFarmMethod hash
    LBFarmHashKey cookie=uid
    LBFarmSlowStart ${RAMP}s
$members</LBFarm>
<LBFarm hh>
    LBFarmMethod hash
    LBFarmHashKey header=X-User balance=1.5
$members</LBFarm>
<Proxy balancer://bh>
$bmembers    ProxySet lbmethod=hash
    LBFarmSlowStart ${RAMP}s
</Proxy>
SetEnvIf X-User "^(.+)\$" LBFARM_HASH_KEY=\$1
ProxyPass /lbfarm-status !
ProxyPass /lbfarm-query !
<Location /lbfarm-query>
    SetHandler lbfarm-query
    Require ip 127.0.0.1
</Location>
ProxyPass /hc/ http://hc/
ProxyPass /hh/ http://hh/
ProxyPass /bh/ balancer://bh/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
my $h = start_httpd(body => $body, modules => [qw(setenvif authz_host)]);
my $ORIGIN = $h->url('');
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 1, max_redirect => 0);

# The member that served one GET of $path with extra headers.
sub member_of {
    my ($path, %hdr) = @_;
    my $r = $ua->get($h->url($path), { headers => \%hdr });
    return $r->{status} == 200 ? $r->{headers}{'x-member'} // '?'
                               : "status $r->{status}";
}

# key -> member for keys user0..user(N-1) with header builder $mk.
sub mapping {
    my ($path, $n, $mk) = @_;
    return { map { ("user$_" => member_of($path, $mk->("user$_"))) }
             0 .. $n - 1 };
}
my $COOKIE = sub { (Cookie => "uid=$_[0]") };
my $HEADER = sub { ('X-User' => $_[0]) };

# admin: the status page's form (nonce, session cookie, same origin).
my $aua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);
sub set_state {
    my ($farm, $member, $state) = @_;
    my $r = $aua->get($h->url('/lbfarm-status'));
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    my ($nonce) = $r->{content} =~ /name="nonce" value="(\w+)"/;
    $r = $aua->request('POST', $h->url('/lbfarm-status'), {
        content => "nonce=$nonce&action=member-state&farm=$farm"
                 . "&member=$member&state=$state",
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     Origin => $ORIGIN, Cookie => "lbfstatus_sid=$sid" } });
    return $r->{status};
}

# Keys whose member differs between mappings $a and $b.
sub moved {
    my ($a, $b) = @_;
    return grep { $a->{$_} ne $b->{$_} } sort keys %$a;
}

# 1. A cookie key keeps its member across 200 requests; so does a header
#    key; a request without the cookie is keyed by the client address.
for my $case (['/hc/', $COOKIE, 'cookie'], ['/hh/', $HEADER, 'header'],
              ['/bh/', $HEADER, 'balancer:// env']) {
    my ($path, $mk, $what) = @$case;
    my %seen;
    $seen{ member_of($path, $mk->('alice')) }++ for 1 .. 200;
    is(scalar keys %seen, 1, "$what key: 200 requests, one member")
        or diag(explain(\%seen));
    ok((keys %seen)[0] =~ /^h\d$/,
       "$what key: served (" . join(',', keys %seen) . ')');
}
{
    my %seen;
    $seen{ member_of('/hc/') }++ for 1 .. 50;
    is(scalar keys %seen, 1, 'no cookie: keyed by the client address, one '
       . 'member') or diag(explain(\%seen));
}

# 2. Keys spread over the members (and map the same way every time).
my %base;
for my $case (['/hc/', $COOKIE, 'hc'], ['/hh/', $HEADER, 'hh'],
              ['/bh/', $HEADER, 'bh']) {
    my ($path, $mk, $what) = @$case;
    my $map = mapping($path, 200, $mk);
    my %n;
    $n{$_}++ for values %$map;
    is(scalar(grep { /^h\d$/ } keys %n), 4, "$what: 200 keys reach all 4 "
       . 'members') or diag(explain(\%n));
    ok(!grep({ $_ < 20 } values %n), "$what: every member has >= 10 % of "
       . 'the keys') or diag(explain(\%n));
    my $again = mapping($path, 200, $mk);
    is_deeply([moved($map, $again)], [], "$what: the same mapping again");
    $base{$what} = $map;
}

# Query mode names the member a key goes to, taking nothing.
{
    my $bad = 0;
    for my $k (map { "user$_" } 0 .. 19) {
        my $r = $ua->get($h->url("/lbfarm-query?farm=hh&key=$k"));
        my ($who) = ($r->{content} // '') =~ /\bmember=(\S+)/;
        $bad++ unless defined $who && $who eq $base{hh}{$k};
    }
    is($bad, 0, 'query mode: key=K names the member K is served by');
}

# 3. A member set offline moves only its keys; back online they return
#    (hh: no slow start, at once).
{
    my $map = $base{hh};
    my $victim = $map->{user0};
    is(set_state('hh', $victim, 'offline'), 303, "hh: $victim set offline");
    my $off = mapping('/hh/', 200, $HEADER);
    my @mv = moved($map, $off);
    my @theirs = grep { $map->{$_} eq $victim } keys %$map;
    is(scalar @mv, scalar @theirs, "hh: exactly $victim\'s keys moved ("
       . scalar(@mv) . ')');
    ok(!grep({ $map->{$_} ne $victim } @mv), 'hh: no other key moved');
    ok(!grep({ $_ eq $victim } values %$off), "hh: $victim gets no key");
    is(set_state('hh', $victim, 'up'), 303, "hh: $victim back up");
    my $on = mapping('/hh/', 200, $HEADER);
    is_deeply([moved($map, $on)], [], 'hh: every key back on its member');
}

# 4. Slow start under hash (hc): back from offline, the member takes a
#    ramped share of its keys (a growing subset), all of them after the
#    ramp; no other key moves.
{
    my $map = $base{hc};
    my $victim = $map->{user0};
    my @theirs = grep { $map->{$_} eq $victim } keys %$map;
    is(set_state('hc', $victim, 'offline'), 303, "hc: $victim offline");
    my $off = mapping('/hc/', 200, $COOKIE);
    ok(!grep({ $_ eq $victim } values %$off), "hc: $victim gets no key");
    is(set_state('hc', $victim, 'up'), 303, "hc: $victim back up");
    my $t0 = time;
    my $early = mapping('/hc/', 200, $COOKIE);
    my $el = time - $t0;
    my @back = grep { $early->{$_} eq $victim } @theirs;
    ok(!grep({ $map->{$_} ne $victim && $early->{$_} eq $victim }
             keys %$map), 'hc: it takes only its own keys');
    ok(!grep({ $map->{$_} ne $victim && $early->{$_} ne $map->{$_} }
             keys %$map), 'hc: no other key moves');
    ok(@back < 0.7 * @theirs, sprintf('hc: ramping, %d of its %d keys back '
       . 'after %.1f s of %d', scalar @back, scalar @theirs, $el, $RAMP));
    sleep $RAMP + 0.5 - (time - $t0) if time - $t0 < $RAMP + 0.5;
    my $late = mapping('/hc/', 200, $COOKIE);
    is_deeply([moved($map, $late)], [], 'hc: after the ramp every key is '
       . 'back on its member');
}

# 5. balancer://bh: a member in error (stopped) loses its keys; started
#    again, it comes back with a ramped share (slow start in balancer://
#    mode, LBFarmSlowStart in <Proxy>).
{
    my $map = $base{bh};
    my $victim = $map->{user0};
    my ($mem) = grep { $_->name eq $victim } @m;
    my @theirs = grep { $map->{$_} eq $victim } keys %$map;
    my $port = $mem->port;
    $mem->stop;
    my $off = mapping('/bh/', 200, $HEADER);
    ok(!grep({ $_ eq $victim } values %$off), "bh: stopped $victim gets "
       . 'no key');
    is(scalar(grep { !/^h\d$/ } values %$off), 0, 'bh: every key served '
       . '(failover)') or diag(explain($off));
    $mem = start_member($victim, port => $port);
    @m = map { $_->name eq $victim ? $mem : $_ } @m;
    sleep 1.5 * slow_factor(); # its retry=1 runs out
    my $early = mapping('/bh/', 200, $HEADER);
    my @back = grep { $early->{$_} eq $victim } @theirs;
    ok(@back >= 1 && @back < 0.7 * @theirs, sprintf('bh: ramping, %d of '
       . 'its %d keys back', scalar @back, scalar @theirs));
    ok(!grep({ $map->{$_} ne $victim && $early->{$_} eq $victim }
             keys %$map), 'bh: it takes only its own keys');
}

# 6. Configuration errors quote the bad value.
my $farm = sub {
    "<LBFarm f>\n    LBFarmMethod hash\n    $_[0]\n"
  . "    LBFarmMember a http://127.0.0.1:9001\n</LBFarm>\n"
  . "ProxyPass /f/ http://f/\n" . ($_[1] // '');
};
for my $case (
    ['LBFarmHashKey session', 'unknown key "session" (cookie=NAME, '
     . 'header=NAME, path, query=NAME, client; balance=C)'],
    ['LBFarmHashKey cookie=', 'invalid name "" in "cookie="'],
    ['LBFarmHashKey header=a;b', 'invalid name "a;b" in "header=a;b"'],
    ['LBFarmHashKey path balance=0.9', 'invalid balance "0.9" (a factor '
     . '1..100, e.g. 1.25)'],
    ['LBFarmHashKey path balance=x', 'invalid balance "x"'],
    ['LBFarmHashKey path client', 'one key only, "client" is a second one'],
) {
    my ($line, $msg) = @$case;
    my ($rc, $out) = config_test($farm->($line));
    isnt($rc, 0, "$line: apache2 -t fails");
    ok(index($out, $msg) >= 0, "$line: says '$msg'") or diag($out);
}
{
    my ($rc, $out) = config_test($farm->('LBFarmHashKey query=u',
        "<Location /x>\n    LBFarmSlowStart 5s\n</Location>\n"));
    isnt($rc, 0, 'LBFarmSlowStart in <Location>: apache2 -t fails');
    ok(index($out, 'LBFarmSlowStart: only inside <LBFarm> or <Proxy '
             . '"balancer://...">, not in "/x"') >= 0, '... and says where')
        or diag($out);
    ($rc, $out) = config_test($farm->('LBFarmHashKey query=u balance=2',
        "<Proxy balancer://b>\n    BalancerMember http://127.0.0.1:9\n"
      . "    LBFarmSlowStart 9x\n</Proxy>\n"));
    isnt($rc, 0, 'bad LBFarmSlowStart in <Proxy>: apache2 -t fails');
    like($out, qr/LBFarmSlowStart: invalid time "9x"/, '... quoting it')
        or diag($out);
    ($rc, $out) = config_test($farm->('LBFarmHashKey query=u balance=2'));
    is($rc, 0, 'LBFarmHashKey query=u balance=2: Syntax OK') or diag($out);
}

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
$_->stop for @m;
done_testing;
