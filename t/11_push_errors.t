# The push endpoint refuses what it must, with the status and the one-line
# answer of CONTRACT.md "Pushed metrics", and a refused push changes
# nothing: forged, another member's key, replayed, stale, oversized,
# malformed (each field), flooding, other methods, unknown farm.  Key
# rotation: a two-line secret file accepts keys from either line.
# Forged pushes: before authentication every refusal reads the same and
# names nothing (unknown farm, unknown member, a farm without push key, a
# known member); a forged push costs at most 2 HMACs (current + previous
# key) whatever the farm's size (a 200-member farm), counted from the
# LBF00310 trace lines; the member's rate limit applies before any crypto
# (a flood of 10 times the burst costs at most the burst in checks).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $tmp = tempdir('lbf-pusherr-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;

sub secret { 'secret-' . $_[0] . '-' . join('', map { int rand 10 } 1 .. 20) }
sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print {$fh} $text;
    close $fh or die "$path: $!";
    chmod 0644, $path;
    return $path;
}

my $sec = secret('pe');
my ($rot1, $rot2) = (secret('rot1'), secret('rot2'));
my $pe_file = write_file("$tmp/pe.secret", "$sec\n");
my $pr_file = write_file("$tmp/pr.secret", "$rot1\n$rot2\n");
my $BIG = 200;                  # members of farm big
my ($BIG_RATE, $BIG_BURST) = (1, 5);

my @m = map { start_member("e$_") } 1 .. 2;
# LBFarmLoadSmoothing 1 in pe, pf, pr: these checks read each accepted
# load back exactly (smoothing has its own test in t/10_push.t).
my $body = "<LBFarm pe>\n"
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $pe_file\n"
         . "    LBFarmMetricBlackout 0\n"
         . "    LBFarmLoadSmoothing 1\n"
         . "    LBFarmPushRate 100 100\n"
         . "    LBFarmMember e1 " . $m[0]->url . "\n"
         . "    LBFarmMember e2 " . $m[1]->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /pe/ http://pe/pe/\n"
         . "<LBFarm pf>\n"              # flood: 2 pushes/s, burst 5
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $pe_file\n"
         . "    LBFarmPushRate 2 5\n"
         . "    LBFarmLoadSmoothing 1\n"
         . "    LBFarmMember f1 " . $m[0]->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /pf/ http://pf/pf/\n"
         . "<LBFarm pr>\n"              # rotation: two secret lines
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $pr_file\n"
         . "    LBFarmLoadSmoothing 1\n"
         . "    LBFarmMember r1 " . $m[1]->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /pr/ http://pr/pr/\n"
         . "<LBFarm big>\n"             # 200 members, two live keys
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmPushKey $pr_file\n"
         . "    LBFarmPushRate $BIG_RATE $BIG_BURST\n"
         . join('', map { "    LBFarmMember m$_ " . $m[0]->url . "/big$_\n" }
                    1 .. $BIG)
         . "</LBFarm>\n"
         . "<LBFarm nk>\n"              # takes no pushes (no LBFarmPushKey)
         . "    LBFarmMethod pushed-metric\n"
         . "    LBFarmMember n1 " . $m[1]->url . "\n"
         . "</LBFarm>\n"
         . "ProxyPass /lbfarm-push !\n"
         . "ProxyPass /lbfarm-status !\n"
         . "<Location /lbfarm-push>\n    SetHandler lbfarm-push\n"
         . "</Location>\n"
         . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n"
         . "</Location>\n";
my $h = start_httpd(body => $body, loglevel => 'warn lbfarm:trace1');
my $push_url = $h->url('/lbfarm-push');

my %key = (
    e1 => LBFTest::push_member_key($sec, 'e1'),
    e2 => LBFTest::push_member_key($sec, 'e2'),
    f1 => LBFTest::push_member_key($sec, 'f1'),
    forged => LBFTest::push_member_key(secret('other'), 'e1'),
);
my @sent_sigs;    # every sig sent, to check none is logged

sub send_push {
    my ($method, $q) = @_;
    push @sent_sigs, $1 if $q =~ /sig=([0-9a-f]{64})/;
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    my $r = $ua->request($method, "$push_url?$q");
    return { status => $r->{status}, body => $r->{content} // '',
             headers => $r->{headers} };
}

sub row {
    my ($fm) = @_;
    my $rows = LBFTest::status_rows($h) or return {};
    return $rows->{$fm} // {};
}

# Signed query for e1 of farm pe from a raw field list (before sig).
sub signed { LBFTest::push_sign($key{e1}, $_[0]) }
sub head {
    my (%o) = @_;
    return 'farm=' . ($o{farm} // 'pe') . '&member=' . ($o{member} // 'e1')
         . '&ts=' . ($o{ts} // int(time)) . '&seq=' . ($o{seq} // LBFTest::push_seq());
}

# A few proxied requests, so the rows' request counters are not zero.
my ($c, $bad) = count_members($h->url('/pe/'), 10);
is(scalar @$bad, 0, 'warm-up: 10 requests through farm pe all 200');

# The baseline: an accepted push from e1 (cpu=0.321), then a pause so a
# later accepted push would visibly reset load_age_ms.
my $base_q = signed(head() . '&cpu=0.321');
my $r = send_push('GET', $base_q);
is($r->{status}, 200, 'baseline push of e1 (cpu=0.321): 200')
    or diag("$r->{status} $r->{body}");
like($r->{body}, qr/^ok farm=pe member=e1$/m, 'baseline: ok farm=pe member=e1');
sleep 0.3;
my $first_refused_seq;

# refused(NAME, METHOD, QUERY, STATUS, BODY_RE): the answer, and the
# status line of pe/e1 unchanged (load, headroom, requests; load_age_ms
# only grew: no push was taken).
sub refused {
    my ($name, $method, $q, $status, $re) = @_;
    $first_refused_seq //= $1 if $q =~ /[?&]?seq=(\d+)/;
    my $before = row('pe/e1');
    my $r = send_push($method, $q);
    my $after = row('pe/e1');
    is($r->{status}, $status, "$name: $method -> $status")
        or diag("query: " . substr($q, 0, 200) . "\nanswer: $r->{body}");
    like($r->{body}, $re, "$name: answer names it: "
         . (split /\n/, $r->{body})[0] // '') if $re;
    my @same = map { ($before->{$_} // 'undef') eq ($after->{$_} // 'undef') }
               qw(load headroom requests errors);
    ok(!grep({ !$_ } @same) && defined $after->{load_age_ms}
       && $after->{load_age_ms} >= $before->{load_age_ms},
       "$name: e1 unchanged (load=$after->{load} headroom=$after->{headroom}"
       . " requests=$after->{requests}, load_age_ms $before->{load_age_ms} ->"
       . " $after->{load_age_ms})")
        or diag(explain([ $before, $after ]));
    return $r;
}

my $s = row('pe/e1');
is($s->{load}, '0.321', 'status: e1 load=0.321 after the baseline push');

# --- authentication
refused('forged (key from another secret)', 'GET',
        LBFTest::push_sign($key{forged}, head() . '&cpu=0.9'),
        401, qr/^sig: bad signature$/m);
refused('signed with member e2\'s key (not told apart: that would check '
        . 'every member\'s key)', 'GET',
        LBFTest::push_sign($key{e2}, head() . '&cpu=0.9'),
        401, qr/^sig: bad signature$/m);
refused('sig altered (one hex digit)', 'GET',
        do { my $q = signed(head() . '&cpu=0.9');
             $q =~ s/sig=(.)/'sig=' . ($1 eq 'a' ? 'b' : 'a')/e; $q },
        401, qr/^sig: bad signature$/m);
refused('metric changed after signing', 'GET',
        do { my $q = signed(head() . '&cpu=0.9'); $q =~ s/cpu=0\.9/cpu=0.1/;
             $q },
        401, qr/^sig: bad signature$/m);

# --- replay and time window
refused('replayed (the baseline query again, same seq)', 'GET', $base_q,
        409, qr/^seq: not above/m);
{
    my ($bseq) = $base_q =~ /seq=(\d+)/;
    refused('seq below the last accepted', 'GET',
            signed(head(seq => $bseq - 1) . '&cpu=0.9'),
            409, qr/^seq: not above/m);
}
refused('stale ts (now - 3600)', 'GET',
        signed(head(ts => int(time) - 3600) . '&cpu=0.9'),
        409, qr/^ts: outside the accepted window \(stale/m);
refused('future ts (now + 3600)', 'GET',
        signed(head(ts => int(time) + 3600) . '&cpu=0.9'),
        409, qr/^ts: outside the accepted window/m);

# --- size and format (each signed correctly: the format is the fault)
refused('oversized query (> 2048 bytes)', 'GET',
        signed(head() . '&cpu=0.9&pad=' . ('1' x 2100)),
        400, qr/^query: longer than 2048 bytes/m);
refused('missing ts', 'GET',
        signed('farm=pe&member=e1&seq=' . LBFTest::push_seq() . '&cpu=0.9'),
        400, qr/^ts: missing/m);
refused('missing seq', 'GET',
        signed('farm=pe&member=e1&ts=' . int(time) . '&cpu=0.9'),
        400, qr/^seq: missing/m);
refused('missing sig', 'GET', head() . '&cpu=0.9',
        400, qr/^sig: missing/m);
refused('no metric', 'GET', signed(head()),
        400, qr/^metrics: none given/m);
refused('duplicated cpu', 'GET', signed(head() . '&cpu=0.5&cpu=0.6'),
        400, qr/^cpu: duplicated/m);
refused('duplicated ts', 'GET', signed(head() . '&ts=' . int(time)
                                       . '&cpu=0.5'),
        400, qr/^ts: duplicated/m);
refused('cpu out of range (2000000000)', 'GET',
        signed(head() . '&cpu=2000000000'),
        400, qr/^cpu: out of range/m);
refused('cpu=1e3', 'GET', signed(head() . '&cpu=1e3'),
        400, qr/^cpu: expected/m);
refused('cpu=-1', 'GET', signed(head() . '&cpu=-1'),
        400, qr/^cpu: expected/m);
refused('cpu with 4 decimals (0.1234)', 'GET', signed(head() . '&cpu=0.1234'),
        400, qr/^cpu: expected/m);
refused('member=a%20b', 'GET', signed(head(member => 'a%20b') . '&cpu=0.9'),
        400, qr/^member: invalid name/m);
refused('unknown member (answered as a bad signature)', 'GET',
        signed(head(member => 'zz') . '&cpu=0.9'),
        401, qr/^sig: bad signature$/m);
refused('9 metrics', 'GET',
        signed(head() . '&cpu=0.9' . join('', map { "&x$_=1" } 1 .. 8)),
        400, qr/^x8: too many metrics/m);
refused('sig not last', 'GET', signed(head() . '&cpu=0.9') . '&mem=1',
        400, qr/^sig: must be the last field/m);
refused('sig not 64 hex digits', 'GET', head() . '&cpu=0.9&sig=abc',
        400, qr/^sig: expected 64 hex digits/m);
refused('field name with upper case', 'GET', signed(head() . '&CPU=0.9'),
        400, qr/^field "CPU=0\.9"/m);

# --- methods and farm
refused('PUT of a valid signed push', 'PUT', signed(head() . '&cpu=0.9'),
        405, undef);
refused('DELETE of a valid signed push', 'DELETE',
        signed(head() . '&cpu=0.9'), 405, undef);
refused('unknown farm (answered as a bad signature)', 'GET',
        signed(head(farm => 'nofarm') . '&cpu=0.9'),
        401, qr/^sig: bad signature$/m);

# No refused push moved the row's seq: a valid push reusing the seq of the
# first refused one (above the baseline's) is accepted.
$r = send_push('GET', signed(head(seq => $first_refused_seq) . '&cpu=0.654'));
is($r->{status}, 200, "valid push reusing the first refused seq "
   . "($first_refused_seq): 200 (refusals did not advance seq)")
    or diag($r->{body});
$s = row('pe/e1');
is($s->{load}, '0.654', 'status: e1 load=0.654 after it');
ok($s->{load_age_ms} < 500 * $F, "status: e1 load_age_ms reset ($s->{load_age_ms})");
is(row('pe/e2')->{load_age_ms}, -1, 'e2 never pushed: load_age_ms=-1');

# --- flood: farm pf allows 2 pushes/s with a burst of 5.
my @codes;
my $last_ok;
for my $i (1 .. 8) {
    my $cpu = sprintf('0.1%02d', $i);
    my $q = LBFTest::push_sign($key{f1}, head(farm => 'pf', member => 'f1')
                                          . "&cpu=$cpu");
    my $x = send_push('GET', $q);
    push @codes, $x->{status};
    $last_ok = $cpu if $x->{status} == 200;
    $r = $x if $x->{status} == 429;
}
my $oks = grep { $_ == 200 } @codes;
my $rl = grep { $_ == 429 } @codes;
ok($rl >= 1 && $oks >= 5 && $oks <= 6 && $oks + $rl == 8,
   "flood of 8 pushes in a burst: $oks accepted, $rl refused (@codes)");
is_deeply([ @codes[0 .. 4] ], [ (200) x 5 ], 'the first 5 (the burst) 200');
is($codes[-1], 429, 'the last one 429');
like($r->{body} // '', qr/^rate: too many pushes from this member/m,
     '429 answer: rate: too many pushes from this member');
is(row('pf/f1')->{load}, $last_ok, "f1 load is the last accepted push's "
   . "($last_ok)");
sleep 1.1;    # two more tokens
my $x = send_push('GET', LBFTest::push_sign($key{f1},
                  head(farm => 'pf', member => 'f1') . '&cpu=0.2'));
is($x->{status}, 200, 'after 1 s the member may push again: 200')
    or diag($x->{body});

# --- rotation: farm pr's secret file has two lines.
my @tool = split /\n/, `sh '${\ repo_root()}/tools/lbfarm-push-key' '$pr_file' r1`;
is_deeply(\@tool, [ LBFTest::push_member_key($rot1, 'r1'),
                    LBFTest::push_member_key($rot2, 'r1') ],
          'lbfarm-push-key prints one key per secret line, in order');
for my $i (1, 2) {
    my $k = LBFTest::push_member_key($i == 1 ? $rot1 : $rot2, 'r1');
    my $cpu = "0.$i$i$i";
    $x = send_push('GET', LBFTest::push_sign($k, head(farm => 'pr',
                                                      member => 'r1')
                                                 . "&cpu=$cpu"));
    is($x->{status}, 200, "rotation: push signed with the key of secret "
       . "line $i: 200") or diag($x->{body});
    is(row('pr/r1')->{load}, $cpu, "rotation: r1 load=$cpu");
}
$x = send_push('GET', LBFTest::push_sign(LBFTest::push_member_key($sec, 'r1'),
               head(farm => 'pr', member => 'r1') . '&cpu=0.9'));
is($x->{status}, 401, 'rotation: a key from a secret not in the file: 401');
is(row('pr/r1')->{load}, '0.222', 'rotation: that refusal changed nothing');

# --- forged pushes: (a) before authentication, one answer for all.
{
    my @targets = (
        [ 'a known member (pe/e1)', 'pe', 'e1' ],
        [ 'a known member of a 200-member farm (big/m150)', 'big', 'm150' ],
        [ 'an unknown member (pe/zz)', 'pe', 'zz' ],
        [ 'an unknown farm (nofarm/e1)', 'nofarm', 'e1' ],
        [ 'a farm without LBFarmPushKey (nk/n1)', 'nk', 'n1' ],
    );
    my %seen;
    for my $t (@targets) {
        my ($what, $farm, $member) = @$t;
        my $x = send_push('GET', LBFTest::push_sign($key{forged},
                          head(farm => $farm, member => $member)
                          . '&cpu=0.9'));
        is($x->{status}, 401, "forged push for $what: 401");
        is($x->{body}, "sig: bad signature\n",
           "forged push for $what: the same one line, naming nothing");
        unlike($x->{body}, qr/\Q$farm\E|\Q$member\E/,
               "forged push for $what: neither $farm nor $member in the "
               . 'answer');
        $seen{"$x->{status} $x->{body}"}++;
    }
    is(scalar keys %seen, 1, 'every forged push got exactly the same answer');
}

# HMAC counts from the LBF00310 trace lines logged after offset $from:
# ({"farm/member" => [count per push, ...]}).
sub hmac_counts {
    my ($from) = @_;
    my %c;
    for my $l (split /\n/, substr($h->error_log, $from)) {
        push @{ $c{$1} }, $2
            if $l =~ /LBF00310: push for (\S+): signature checked with (\d+) HMAC/;
    }
    return \%c;
}

# --- (b) a forged push costs at most 2 HMACs whatever the farm's size.
{
    my $mark = length $h->error_log;
    my @t = ([ 'big', 'm150' ], [ 'big', 'm1' ], [ 'big', 'nosuch' ],
             [ 'pr', 'r1' ], [ 'pe', 'e1' ], [ 'nofarm', 'x1' ]);
    for my $t (@t) {
        send_push('GET', LBFTest::push_sign($key{forged},
                  head(farm => $t->[0], member => $t->[1]) . '&cpu=0.9'));
    }
    sleep 0.2;
    my $c = hmac_counts($mark);
    for my $t (@t) {
        my $k = "$t->[0]/$t->[1]";
        my @n = @{ $c->{$k} || [] };
        is(scalar @n, 1, "forged push for $k: one LBF00310 line")
            or diag(explain($c));
        ok(@n && $n[0] >= 1 && $n[0] <= 2,
           "forged push for $k: " . ($n[0] // '?') . ' HMAC(s), at most 2 '
           . '(current + previous key)');
    }
    is(($c->{'big/m150'} || [])->[0], ($c->{'pr/r1'} || [])->[0],
       "the $BIG-member farm and the 1-member farm, both with two keys: the "
       . 'same number of HMACs');
    is(($c->{'pe/e1'} || [])->[0], 1, 'one key (farm pe): one HMAC');
}

# --- (c) the member's rate limit applies before any crypto.
{
    my $N = 10 * $BIG_BURST;
    my $mark = length $h->error_log;
    my $t0 = time;
    my %codes;
    for (1 .. $N) {
        my $x = send_push('GET', LBFTest::push_sign($key{forged},
                          head(farm => 'big', member => 'm7') . '&cpu=0.9'));
        $codes{ $x->{status} }++;
    }
    my $el = time - $t0;
    sleep 0.2;
    my @n = @{ hmac_counts($mark)->{'big/m7'} || [] };
    my $hmacs = 0;
    $hmacs += $_ for @n;
    # tokens available: the burst, plus what the rate refilled meanwhile
    my $limit = $BIG_BURST + int($el * $BIG_RATE) + 1;
    note(sprintf('flood of %d forged pushes in %.2f s: %s; %d checks, %d '
                 . 'HMACs', $N, $el, join(' ', map { "$_ x$codes{$_}" }
                                                 sort keys %codes),
                 scalar @n, $hmacs));
    ok(@n >= $BIG_BURST && @n <= $limit,
       sprintf('flood of %d (10 x the burst of %d): %d signature checks, at '
               . 'most the %d tokens the bucket had', $N, $BIG_BURST,
               scalar @n, $limit));
    ok($hmacs <= 2 * $limit, "flood: $hmacs HMACs, at most 2 per token");
    is(($codes{401} // 0) + ($codes{429} // 0), $N,
       'flood: every push refused, 401 while tokens last, then 429');
    ok(($codes{429} // 0) >= $N - $limit,
       'flood: ' . ($codes{429} // 0) . ' answered 429 without any crypto');
}

# --- a member added at runtime is found by name (any case) at once, and
#     a removed one is unknown again.
{
    my $page = $h->url('/lbfarm-status');
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
                             max_redirect => 0);
    my $g = $ua->get($page);
    my ($sid) = ($g->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    my ($nonce) = ($g->{content} // '') =~ /name="nonce" value="(\w+)"/;
    my $admin = sub {
        my (%f) = @_;
        my $body = join '&', map {
            (my $v = $f{$_}) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
            "$_=$v"
        } sort keys %f;
        return $ua->request('POST', $page, {
            content => "nonce=$nonce&$body",
            headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                         Origin => $h->url(''),
                         Cookie => "lbfstatus_sid=$sid" } });
    };
    my $a = $admin->(action => 'member-add', farm => 'pe', member => 'e3',
                     url => $m[1]->url . '/e3');
    is($a->{status}, 303, 'runtime member pe/e3 added (303)')
        or diag($a->{content});
    my $k3 = LBFTest::push_member_key($sec, 'e3');
    my $x = send_push('GET', LBFTest::push_sign($k3,
                      head(member => 'e3') . '&cpu=0.333'));
    is($x->{status}, 200, 'a push from the runtime member e3: 200')
        or diag($x->{body});
    like($x->{body}, qr/^ok farm=pe member=e3$/m, 'ok farm=pe member=e3');
    $x = send_push('GET', LBFTest::push_sign($k3,
                   head(member => 'E3') . '&cpu=0.334'));
    is($x->{status}, 200, 'member=E3 (another case) finds e3: 200')
        or diag($x->{body});
    is(row('pe/e3')->{load}, '0.334', 'status: e3 load=0.334');
    $a = $admin->(action => 'member-remove', farm => 'pe', member => 'e3');
    is($a->{status}, 303, 'runtime member pe/e3 removed (303)')
        or diag($a->{content});
    $x = send_push('GET', LBFTest::push_sign($k3,
                   head(member => 'e3') . '&cpu=0.5'));
    is($x->{status}, 401, 'a push from the removed e3: 401 (unknown)');
    is($x->{body}, "sig: bad signature\n", 'answered as a bad signature');
}

# HEAD is GET to httpd: a validly signed push sent with HEAD must not count
refused('HEAD of a validly signed push', 'HEAD',
        signed(head() . '&cpu=0.9'), 405, undef);

my $log = $h->error_log;
like($log, qr/\[(?:lbfarm:)?warn\].*LBF00040: push refused/,
     'refusals are logged as LBF00040 warnings');
no_unexpected_errors($h, qr/LBF00040/);
$log = $h->error_log;
my @leaked = grep { index($log, $_) >= 0 } @sent_sigs, values %key, $sec,
                                           $rot1, $rot2;
is(scalar @leaked, 0, 'no key, secret or signature in the error log');
$_->stop for @m;
done_testing;
