# Administration through the status page (POST to SetHandler
# lbfarm-status): member state (up/offline/drain), member weight, farm
# state, runtime add and remove.  Each change answers 303 back to the page,
# reaches every child at once (it is in shared memory) and survives a
# graceful restart.  Refused: a cross-origin request (Origin, or Referer
# without Origin) and a missing or wrong nonce (403); bad parameters (400
# with a message), a body over 4 KB (413), not a form (415) -- and none of
# them changes anything.  GET never changes anything.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(m1 m2 m3);
sub body {
    return <<"CONF";
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
<Proxy balancer://stock>
    BalancerMember http://127.0.0.1:9
</Proxy>
ProxyPass /lbfarm-status !
ProxyPass /web/ http://web/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
}
my $h = start_httpd(body => body());
my $page = $h->url('/lbfarm-status');
my $ORIGIN = $h->url('');
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);

# A session: (sid, nonce) from the HTML page.
sub session {
    my $r = $ua->get($page);
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    my ($nonce) = $r->{content} =~ /name="nonce" value="(\w+)"/;
    return { sid => $sid, nonce => $nonce };
}

sub enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# admin($session, [field => value, ...], header => value (undef: omit))
# -> the response.  Defaults: the session's nonce and cookie, our Origin.
sub admin {
    my ($s, $fields, %hdr) = @_;
    my @f = @$fields;
    my %given = @f;
    unshift @f, nonce => $s->{nonce} unless exists $given{nonce};
    my @pairs;
    while (my ($k, $v) = splice @f, 0, 2) {
        push @pairs, defined $v ? enc($k) . '=' . enc($v) : ();
    }
    my %h = ('Content-Type' => 'application/x-www-form-urlencoded',
             Origin => $ORIGIN, Cookie => "lbfstatus_sid=$s->{sid}", %hdr);
    delete $h{$_} for grep { !defined $h{$_} } keys %h;
    return $ua->request('POST', $page, { content => join('&', @pairs),
                                          headers => \%h });
}

# What administration can change, as one comparable string.
sub view {
    my $rows = LBFTest::status_rows($h) or return '(no status)';
    my $farm = get_json();
    return join ' ', (map { "$_:$rows->{$_}{state}:$rows->{$_}{weight}" }
                      sort keys %$rows),
                     map { "$_->{name}:$_->{state}" } @{ $farm->{farms} };
}

sub get_json {
    my $r = $ua->get("$page?format=json");
    return eval { JSON::PP::decode_json($r->{content}) } || {};
}

sub json_member {
    my ($farm, $member) = @_;
    for my $f (@{ get_json()->{farms} || [] }) {
        next unless $f->{name} eq $farm;
        my ($m) = grep { $_->{name} eq $member } @{ $f->{members} };
        return $m;
    }
    return undef;
}

sub state_of { (LBFTest::status_rows($h)->{"web/$_[0]"} // {})->{state} // '(none)' }

# $n requests, each on a new connection (so they spread over the children).
sub spread {
    my ($n) = @_;
    my %c;
    for (1 .. $n) {
        my $r = $ua->get($h->url('/web/'));
        $c{ $r->{status} == 200 ? $r->{headers}{'x-member'} : "!$r->{status}" }++;
    }
    return \%c;
}

my $s = session();
like($s->{sid} // '', qr/^[0-9a-f]{32}$/, 'a session id from the page');
like($s->{nonce} // '', qr/^[0-9a-f]{64}$/, 'and its nonce');

###########################################################################
# Refusals change nothing

my $before = view();
my @refused = (
    ['no Origin, no Referer', 403, [qw(action member-state farm web member m1
                                       state offline)], Origin => undef],
    ['foreign Origin', 403, [qw(action member-state farm web member m1 state
                                offline)], Origin => 'http://evil.example'],
    ['Origin of another port', 403, [qw(action member-state farm web member
                                        m1 state offline)],
     Origin => 'http://127.0.0.1:1'],
    ['Origin null', 403, [qw(action member-state farm web member m1 state
                             offline)], Origin => 'null'],
    ['foreign Referer without Origin', 403, [qw(action member-state farm web
                                                member m1 state offline)],
     Origin => undef, Referer => 'http://evil.example/lbfarm-status'],
    ['no nonce', 403, [nonce => undef, qw(action member-state farm web member
                                          m1 state offline)]],
    ['wrong nonce', 403, [nonce => 'f' x 64, qw(action member-state farm web
                                                member m1 state offline)]],
    ['no session cookie', 403, [qw(action member-state farm web member m1
                                   state offline)], Cookie => undef],
    ['another session\'s cookie', 403, [qw(action member-state farm web member
                                           m1 state offline)],
     Cookie => 'lbfstatus_sid=' . ('0' x 32)],
    ['missing action', 400, [qw(farm web member m1 state offline)]],
    ['unknown action', 400, [qw(action reboot farm web member m1)]],
    ['unknown farm', 400, [qw(action member-state farm nope member m1 state
                              offline)]],
    ['balancer:// farm (read only)', 400, [action => 'member-state',
        farm => '~stock', member => '127.0.0.1:9', state => 'offline']],
    ['unknown member', 400, [qw(action member-state farm web member m9 state
                                offline)]],
    ['bad state', 400, [qw(action member-state farm web member m1 state
                           sleepy)]],
    ['drain is no farm state', 400, [qw(action farm-state farm web state
                                        drain)]],
    ['weight 0', 400, [qw(action member-weight farm web member m1 weight 0)]],
    ['weight 101', 400, [qw(action member-weight farm web member m1 weight
                            101)]],
    ['weight abc', 400, [qw(action member-weight farm web member m1 weight
                            abc)]],
    ['weight missing', 400, [qw(action member-weight farm web member m1)]],
    ['invalid member name', 400, [action => 'member-add', farm => 'web',
        member => 'a b', url => $m[2]->url]],
    ['ftp URL', 400, [qw(action member-add farm web member m3 url
                         ftp://127.0.0.1:21)]],
    ['URL with a query', 400, [action => 'member-add', farm => 'web',
        member => 'm3', url => $m[2]->url . '/?x=1']],
    ['URL with a space', 400, [action => 'member-add', farm => 'web',
        member => 'm3', url => $m[2]->url . '/a b']],
    ['URL of m2 again', 400, [action => 'member-add', farm => 'web',
        member => 'm3', url => $m[1]->url . '/']],
    ['name of m1 again', 400, [action => 'member-add', farm => 'web',
        member => 'm1', url => $m[2]->url]],
    ['unknown field', 400, [qw(action member-state farm web member m1 state
                               offline colour red)]],
    ['repeated field', 400, [qw(action member-state farm web member m1 state
                                offline state up)]],
);
for my $t (@refused) {
    my ($what, $want, $fields, %hdr) = @$t;
    my $r = admin($s, $fields, %hdr);
    is($r->{status}, $want, "$what: $want")
        or diag("$r->{status} $r->{content}");
    (my $why = $r->{content} // '') =~ s/\n//g;
    like($why, qr/^\w+: \S/, "$what: says why ($why)") if $want == 400;
}
my $r = $ua->request('POST', $page, { content => 'action=member-state%zz',
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                 Origin => $ORIGIN, Cookie => "lbfstatus_sid=$s->{sid}" } });
is($r->{status}, 400, 'bad percent-encoding: 400');
$r = $ua->request('POST', $page, { content => 'x=' . ('a' x 5000),
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                 Origin => $ORIGIN, Cookie => "lbfstatus_sid=$s->{sid}" } });
is($r->{status}, 413, 'body over 4 KB: 413');
$r = $ua->request('POST', $page, { content => '{"action":"member-remove"}',
    headers => { 'Content-Type' => 'application/json', Origin => $ORIGIN,
                 Cookie => "lbfstatus_sid=$s->{sid}" } });
is($r->{status}, 415, 'not a form: 415');
$r = $ua->get("$page?nonce=$s->{nonce}&action=member-remove&farm=web&member=m1",
              { headers => { Origin => $ORIGIN,
                             Cookie => "lbfstatus_sid=$s->{sid}" } });
is($r->{status}, 200, 'GET with the fields of a removal: 200');
is(view(), $before, 'after all of that, nothing changed');

###########################################################################
# Member state

$r = admin($s, [qw(action member-state farm web member m1 state offline)]);
is($r->{status}, 303, 'm1 offline: 303 See Other');
is($r->{headers}{location}, '/lbfarm-status', 'back to the page');
is(state_of('m1'), 'offline', 'm1 offline');
is_deeply(spread(20), { m2 => 20 }, 'every child sends m2 only');
$r = admin($s, [qw(action member-state farm web member m1 state drain)],
           Origin => undef, Referer => "$page?format=html");
is($r->{status}, 303, 'drain with a same-origin Referer and no Origin: 303');
is(state_of('m1'), 'draining', 'm1 draining');
is(admin($s, [qw(action member-state farm web member m1 state up)])
       ->{status}, 303, 'm1 up: 303');
is(state_of('m1'), 'ok', 'm1 ok');

# Member weight: 3:1 gives an exact 30/10 over 40.
is(admin($s, [qw(action member-weight farm web member m1 weight 3)])
       ->{status}, 303, 'm1 weight 3: 303');
my $row = LBFTest::status_rows($h)->{'web/m1'};
is("$row->{weight}/$row->{cfg_weight}", '3/1', 'effective 3, configured 1');
new_client();
my ($c) = count_members($h->url('/web/'), 40);
is_deeply($c, { m1 => 30, m2 => 10 }, 'weighted split 30/10');

# Farm state.
is(admin($s, [qw(action farm-state farm WEB state offline)])->{status}, 303,
   'farm offline (name without regard to case): 303');
is(get_json()->{farms}[0]{state}, 'offline', 'farm offline in JSON');
is($ua->get($h->url('/web/'))->{status}, 503, 'the farm answers 503');
is(admin($s, [qw(action farm-state farm web state online)])->{status}, 303,
   'farm online: 303');
is($ua->get($h->url('/web/'))->{status}, 200, 'the farm serves again');

###########################################################################
# Runtime members

$r = admin($s, [action => 'member-add', farm => 'web', member => 'm3',
                url => 'HTTP://127.0.0.1:' . $m[2]->port . '/', weight => 2]);
is($r->{status}, 303, 'add m3: 303') or diag($r->{content});
my $m3 = json_member('web', 'm3');
is($m3 && $m3->{url}, $m[2]->url, 'm3 stored with its normalized URL');
ok($m3 && $m3->{runtime}, 'm3 marked as added at runtime');
new_client();
($c) = count_members($h->url('/web/'), 60);
is_deeply($c, { m1 => 30, m2 => 10, m3 => 20 }, 'weights 3:1:2 give 30/10/20');
is(admin($s, [qw(action member-add farm web member m3 url), $m[2]->url])
       ->{status}, 400, 'adding m3 twice: 400');

# A URL with & < > " ' in its path is stored as given and escaped in
# every output (no traffic goes to it: it is offline at once).
my $hostile = 'http://127.0.0.1:9/x&y<z>"q\'';
is(admin($s, [action => 'member-add', farm => 'web', member => 'mh',
              url => $hostile])->{status}, 303, 'add mh with a hostile URL');
admin($s, [qw(action member-state farm web member mh state offline)]);
my $html = $ua->get($page)->{content};
ok(index($html, '/x&amp;y&lt;z&gt;&quot;q&#39;') >= 0
   && index($html, '<z>') < 0, 'HTML: the URL escaped');
is(json_member('web', 'mh')->{url}, $hostile, 'JSON: the URL round-trips');
is(admin($s, [qw(action member-remove farm web member mh)])->{status}, 303,
   'remove mh: 303');
ok(!json_member('web', 'mh'), 'mh gone');

# Remove m3: traffic back to an exact 3:1 (the slots of removed rows are
# spread by weight over the members that serve).
is(admin($s, [qw(action member-remove farm web member m3)])->{status}, 303,
   'remove m3: 303');
ok(!LBFTest::status_rows($h)->{'web/m3'}, 'm3 no longer listed');
new_client();
($c) = count_members($h->url('/web/'), 40);
is_deeply($c, { m1 => 30, m2 => 10 }, 'back to 30/10');
is(admin($s, [qw(action member-remove farm web member m3)])->{status}, 400,
   'removing m3 again: 400');

###########################################################################
# A graceful restart keeps it all (and the session stays valid)

admin($s, [qw(action member-state farm web member m2 state drain)]);
admin($s, [action => 'member-add', farm => 'web', member => 'm3',
           url => $m[2]->url, weight => 2]);
admin($s, [qw(action farm-state farm web state offline)]);
my $kept = view();
ok(eval { $h->graceful }, 'graceful restart') or diag($@);
is(view(), $kept, 'after the restart: states, weights, runtime member and '
   . 'farm state as they were');
is(json_member('web', 'm3')->{url}, $m[2]->url, 'm3 kept with its URL');
is($ua->get($h->url('/web/'))->{status}, 503, 'farm still offline');
is(admin($s, [qw(action farm-state farm web state online)])->{status}, 303,
   'the session of before the restart still administers');
admin($s, [qw(action member-state farm web member m2 state up)]);
new_client();
($c) = count_members($h->url('/web/'), 60);
is_deeply($c, { m1 => 30, m2 => 10, m3 => 20 },
          'after the restart m3 serves its share (weights 3:1:2)');

like($h->error_log, qr/LBF00071: status page: member web\/m1 state=offline/,
     'changes are logged (LBF00071)');
like($h->error_log, qr/LBF00072: status page: administrative request refused/,
     'refusals are logged (LBF00072)');
no_unexpected_errors($h);
$_->stop for @m;
done_testing;
