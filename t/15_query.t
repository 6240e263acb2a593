# Query mode (SetHandler lbfarm-query) and member-initiated drain: for
# weighted the answer is exactly the member the next real request gets
# (the query never advances the shared cursor), 100 queries change no
# counter, a session cookie names its member (why=sticky) and a move
# cookie the farm it moves to, a farm with no usable member answers its
# fallback, text and JSON agree, bad questions are refused with the
# parameter named, a denied address gets 403, an unprotected query
# location is warned about at startup; tools/lbfarm-query prints the
# answer with a meaningful exit status; tools/lbfarm-push --drain and
# --undrain take a member out of new picks and back.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP ();
use POSIX qw(_exit);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $ROOT = repo_root();
my $tmp = tempdir('lbf-query-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;

my $secret = 'query-test-secret-' . join('', map { int rand 10 } 1 .. 16);
my $sfile = LBFTest::secret_file($secret);

my %W = (w1 => 5, w2 => 1, w3 => 1);
my %m = map { $_ => start_member($_) } qw(w1 w2 w3 s1 s2 d1 d2);
my $closed = LBFTest::free_port();   # nothing listens there

sub members {
    my (@names) = @_;
    return join '', map {
        "    LBFarmMember $_ " . $m{$_}->url
        . ($W{$_} ? " weight=$W{$_}" : '') . "\n"
    } @names;
}

my $body = "<LBFarm w>\n    LBFarmMethod weighted\n" . members(qw(w1 w2 w3))
         . "</LBFarm>\nProxyPass /w/ http://w/w/\n"
         . "<LBFarm s>\n    LBFarmSessionKey $sfile\n"
         . "    LBFarmSticky On\n" . members(qw(s1 s2))
         . "</LBFarm>\nProxyPass /s/ http://s/s/\n"
         . "<LBFarm d>\n    LBFarmPushKey $sfile\n" . members(qw(d1 d2))
         . "</LBFarm>\nProxyPass /d/ http://d/d/\n"
         . "<LBFarm dead>\n    LBFarmDownURL /sorry.html\n"
         . "    LBFarmMember x1 http://127.0.0.1:$closed state=offline\n"
         . "</LBFarm>\nProxyPass /dead/ http://dead/dead/\n"
         . "<Location /lbfarm-query>\n    SetHandler lbfarm-query\n"
         . "    Require ip 127.0.0.1\n</Location>\n"
         . "<Location /q-denied>\n    SetHandler lbfarm-query\n"
         . "    Require ip 192.0.2.1\n</Location>\n"
         . "<Location /lbfarm-push>\n    SetHandler lbfarm-push\n"
         . "    Require ip 127.0.0.1\n</Location>\n"
         . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n"
         . "    Require ip 127.0.0.1\n</Location>\n";
my $h = start_httpd(body => $body, modules => ['authz_host']);
LBFTest::spit($h->dir . '/htdocs/sorry.html', "sorry\n");

my $UA = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

# The text answer of /lbfarm-query?ARGS as {farm, member, why, ...}.
sub query {
    my ($args) = @_;
    my $r = $UA->get($h->url("/lbfarm-query?$args"));
    return { status => $r->{status}, body => $r->{content} // '',
             type => $r->{headers}{'content-type'} // '',
             map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () }
             split / /, ($r->{content} // '') =~ s/\n\z//r };
}

sub status_counts {
    my ($farm) = @_;
    my (undef, $rows) = LBFTest::status_get($h);
    return join ' ', map { "$_:$rows->{$_}{requests}/$rows->{$_}{inflight}" }
                     sort grep { m{^\Q$farm\E/} } keys %$rows;
}

# ---------------------------------------------------------------------
# 1. weighted: the query names the next pick, and does not consume it.

my @sched = map { "w$_" } map { $_ + 1 } swrr_schedule(14, 5, 1, 1);
my (@asked, @got);
for my $i (0 .. 13) {
    my $q = query('farm=w');
    my $again = query('farm=w');
    push @asked, $q->{member} // '?';
    is($again->{member}, $q->{member}, "pick $i: asking twice gives the "
       . "same member") if $i < 3;
    push @got, get($h->url('/w/'))->{member} // '?';
}
is("@asked", "@got", 'every query named the member the next request got');
is("@got", "@sched", '... and that is the documented 5 1 1 schedule');
my $q = query('farm=w');
is($q->{status}, 200, 'query: 200');
like($q->{type}, qr{^text/plain}, '... text/plain by default');
is("$q->{farm} $q->{why} $q->{method}", 'w method weighted', '... farm=w '
   . 'why=method method=weighted');

my $before = status_counts('w');
my $next = $q->{member};
for my $i (1 .. 100) {
    my $a = query($i % 2 ? 'farm=w' : 'farm=W&format=json&key=k' . $i);
    die "query $i: $a->{status}" unless $a->{status} == 200;
}
is(status_counts('w'), $before, '100 queries: requests and inflight of '
   . 'every member unchanged');
is(get($h->url('/w/'))->{member}, $next, '... and the next request still '
   . "gets the member the query named before them ($next)");

# ---------------------------------------------------------------------
# 2. JSON, and the key passed along.

{
    my $r = $UA->get($h->url('/lbfarm-query?farm=w&format=json&key=a%20b'));
    is($r->{status}, 200, 'format=json: 200');
    like($r->{headers}{'content-type'}, qr{^application/json},
         '... application/json');
    my $j = eval { JSON::PP::decode_json($r->{content}) } || {};
    is_deeply([sort keys %$j], [sort qw(farm member why method reason
                                        fallback moved_from key)],
              '... every key present');
    is($j->{member}, query('farm=w')->{member}, '... names the same member '
       . 'as the text form');
    is($j->{key}, 'a b', '... key passed along and echoed (decoded)');
    ok(!defined $j->{reason} && !defined $j->{fallback}, '... no fallback');
}

# ---------------------------------------------------------------------
# 3. Stickiness: a session cookie names its member; a move cookie the
#    farm it moves to.

{
    my $r = get($h->url('/s/'));
    my ($val) = LBFTest::set_cookie_named($r, 'lbf_s');
    ok($val, "a request to farm s got a session cookie (member "
       . ($r->{member} // '?') . ')');
    my $stuck = $r->{member} // '?';
    my $other = $stuck eq 's1' ? 's2' : 's1';
    my $a = query("farm=s&cookie=lbf_s%3D$val");
    is("$a->{member} $a->{why}", "$stuck sticky", 'query with that cookie: '
       . 'the stuck member, why=sticky');
    my $forged = LBFTest::sess_cookie($secret, 's', 'w', $other,
                                      time + 3600);
    $a = query("farm=s&cookie=other%3D1%3B%20lbf_s%3D$forged");
    is("$a->{member} $a->{why}", "$other sticky", "a cookie for $other "
       . "(among others): $other, why=sticky");
    is(get($h->url('/s/'), Cookie => "lbf_s=$forged")->{member}, $other,
       '... and a real request with it goes there');
    $a = query('farm=s&cookie=lbf_s%3D1.w.0000000000000000.00000000.'
               . ('0' x 32));
    is($a->{why}, 'method', 'a forged cookie: why=method (not sticky)');
    my $mv = LBFTest::move_cookie($secret, 's', 'w', time + 3600);
    $a = query("farm=s&cookie=lbfmv_s%3D$mv");
    like("$a->{farm} " . ($a->{moved_from} // '-'), qr/^w s$/,
         'a move cookie s -> w: farm=w moved_from=s');
    is($a->{member}, query('farm=w')->{member}, '... naming w\'s next pick');
}

# ---------------------------------------------------------------------
# 4. No usable member: the fallback.

{
    my $a = query('farm=dead');
    is($a->{status}, 200, 'farm with no usable member: 200');
    is("$a->{member} $a->{why} $a->{reason} $a->{fallback}",
       '- fallback no-usable-member /sorry.html',
       '... member=- why=fallback reason=no-usable-member '
       . 'fallback=/sorry.html');
    is(get($h->url('/dead/'))->{status}, 503, '... and a real request gets '
       . 'the fallback (503)');
}

# ---------------------------------------------------------------------
# 5. Refusals.

for my $c (['', 400, 'farm: missing'],
           ['farm=nope', 404, 'farm: unknown'],
           ['farm=w&format=xml', 400, 'format: expected text or json'],
           ['farm=w&member=w1', 400, '"member": unknown parameter'],
           ['farm=w&cookie=%zz', 400, 'cookie: bad percent-encoding'],
           ['farm=w&farm=s', 400, 'farm: duplicated']) {
    my $a = query($c->[0]);
    is($a->{status}, $c->[1], "?$c->[0]: $c->[1]");
    like($a->{body}, qr/^\Q$c->[2]\E/, "... says \"$c->[2]\"");
}
{
    my $r = $UA->request('POST', $h->url('/lbfarm-query?farm=w'));
    is($r->{status}, 405, 'POST: 405');
    like($r->{headers}{allow} // '', qr/GET/, '... Allow: GET');
    $r = $UA->get($h->url('/q-denied?farm=w'));
    is($r->{status}, 403, 'a location whose Require denies 127.0.0.1: 403');
}

# ---------------------------------------------------------------------
# 6. Startup: an unprotected query location is warned about.

{
    my ($rc, $out) = config_test("<Location /q>\n    SetHandler lbfarm-query\n"
                                 . "</Location>\n");
    is($rc, 0, 'an unprotected query location still starts');
    like($out, qr/LBF00640:\ SetHandler\ lbfarm-query\ at\ \S+httpd\.conf:\d+:
                  \ no\ Require/x, '... with an LBF00640 warning naming it')
        or diag($out);
    ($rc, $out) = config_test("<Location /q>\n    SetHandler lbfarm-query\n"
                              . "    <RequireAny>\n"
                              . "        Require ip 127.0.0.1\n"
                              . "    </RequireAny>\n</Location>\n",
                              modules => ['authz_host']);
    is($rc, 0, 'a protected one starts');
    unlike($out, qr/LBF00640/, '... without the warning') or diag($out);
}

# ---------------------------------------------------------------------
# 7. tools/lbfarm-query.

# Runs argv (bounded by timeout(1)); returns (exit code, stdout, stderr).
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
    return ($? >> 8, LBFTest::slurp($out), LBFTest::slurp($err));
}

my $tool = "$ROOT/tools/lbfarm-query";
my $qurl = $h->url('/lbfarm-query');
{
    my $want = query('farm=w')->{member};
    my ($rc, $out, $err) = run($tool, '--url', $qurl, '--farm', 'w');
    is($rc, 0, 'lbfarm-query --farm w: exit 0') or diag($err);
    is($out, "farm=w member=$want why=method method=weighted\n",
       '... prints the answer line');
    ($rc, $out, $err) = run($tool, "--url=$qurl", '--farm', 'w', '--json',
                            '--key', 'x+y z');
    my $j = eval { JSON::PP::decode_json($out) } || {};
    is("$rc " . ($j->{member} // '?') . ' ' . ($j->{key} // '?'),
       "0 $want x+y z", '--json --key: JSON with the member and the key '
       . 'as given') or diag("$out $err");
    my $r = get($h->url('/s/'));
    my ($val) = LBFTest::set_cookie_named($r, 'lbf_s');
    ($rc, $out) = run($tool, '--url', $qurl, '--farm', 's', '--cookie',
                      "a=b; lbf_s=$val");
    like($out, qr/ member=\Q$r->{member}\E why=sticky /, '--cookie: the '
         . 'stuck member');
    ($rc, $out) = run($tool, '--url', $qurl, '--farm', 'dead');
    is($rc, 3, 'a farm with no usable member: exit 3');
    like($out, qr/why=fallback/, '... prints the fallback');
    ($rc, $out, $err) = run($tool, '--url', $qurl, '--farm', 'nope');
    is($rc, 1, 'an unknown farm: exit 1');
    like($err, qr/HTTP 404: farm: unknown/, '... with the answer on stderr');
    ($rc, $out, $err) = run($tool, '--url', $h->url('/q-denied'), '--farm',
                            'w');
    is($rc, 1, 'a denied location: exit 1');
    like($err, qr/HTTP 403/, '... HTTP 403');
    ($rc, $out, $err) = run($tool, '--farm', 'w');
    is($rc, 2, 'no --url: usage, exit 2');
    ($rc, $out, $err) = run($tool, '--url', $qurl, '--farm', 'a b');
    is($rc, 2, 'an invalid farm name: exit 2');
}

# ---------------------------------------------------------------------
# 8. tools/lbfarm-push --drain / --undrain: member-initiated drain.

{
    my $keyfile = "$tmp/d1.key";
    LBFTest::spit($keyfile, LBFTest::push_member_key($secret, 'd1') . "\n");
    my @push = ("$ROOT/tools/lbfarm-push", '--url', $h->url('/lbfarm-push'),
                '--farm', 'd', '--member', 'd1', '--key-file', $keyfile,
                '--once');
    my ($rc, $out, $err) = run(@push, '--drain');
    is($rc, 0, 'lbfarm-push --once --drain: exit 0') or diag($err);
    my (undef, $rows) = LBFTest::status_get($h);
    is($rows->{'d/d1'}{state}, 'draining', '... d1 is draining');
    my (@q, @g);
    for (1 .. 6) {
        push @q, query('farm=d')->{member};
        push @g, get($h->url('/d/'))->{member};
    }
    is("@q", join(' ', ('d2') x 6), '... queries name only d2');
    is("@g", join(' ', ('d2') x 6), '... and requests go only to d2');
    ($rc, $out, $err) = run(@push, '--undrain');
    is($rc, 0, 'lbfarm-push --once --undrain: exit 0') or diag($err);
    (undef, $rows) = LBFTest::status_get($h);
    is($rows->{'d/d1'}{state}, 'ok', '... d1 is ok again');
    my %seen;
    for (1 .. 4) {
        my $a = query('farm=d')->{member};
        my $b = get($h->url('/d/'))->{member};
        is($b, $a, "... query and request agree ($a)") if $_ == 1;
        $seen{$b}++;
    }
    is(join(' ', sort keys %seen), 'd1 d2', '... and d1 takes requests '
       . 'again');
    ($rc, $out, $err) = run(@push, '--drain', '--undrain');
    is($rc, 2, '--drain with --undrain: usage error');
    like($err, qr/exclude each other/, '... says so');
}

no_unexpected_errors($h, qr/AH01630: client denied by server configuration: /
                         . qr/\S+q-denied/);
done_testing();
