# Signed instructions from the application (X-LBFarm-Instruction): stick,
# stick-while-up, unstick, move (and a chain of moves back), obeyed but
# never shown to the client; unsigned or wrongly signed ones are dropped
# and logged (LBF00050, at most once a second per process).  Members sign
# with tools/lbf_member --app-key-file.  Cookies come from the one builder
# (the move cookie carries the farm's Secure and SameSite like the
# session cookie); ttl= in an instruction shortens a cookie but never
# extends it past LBFarmSticky's ttl; a forged move cookie is ignored and
# logged (LBF00302).  No response may carry a member's port.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $rnd = sub { join '', map { int rand 10 } 1 .. 16 };
my $SECRET_A = 'instr-secret-A-' . $rnd->();
my $SECRET_B = 'instr-secret-B-' . $rnd->();
my $key_a = LBFTest::secret_file($SECRET_A);
my $key_b = LBFTest::secret_file('# farm B', $SECRET_B);

my %m;
$m{$_} = LBFTest::start_member_args($_, args => ['--app-key-file', $key_a])
    for qw(a1 a2 a3 c1 c2);
$m{$_} = LBFTest::start_member_args($_, args => ['--app-key-file', $key_b])
    for qw(b1 b2);
my @PORTS = map { $_->port } values %m;

sub members { join '', map { "    LBFarmMember $_ " . $m{$_}->url . "\n" } @_ }

my $body = "<LBFarm A>\n    LBFarmSessionKey $key_a\n    LBFarmSticky On\n"
  . "    LBFarmInstructions On\n" . members(qw(a1 a2 a3)) . "</LBFarm>\n"
  . "<LBFarm B>\n    LBFarmSessionKey $key_b\n"
  . "    LBFarmSticky On secure=always\n"
  . "    LBFarmInstructions On\n" . members(qw(b1 b2)) . "</LBFarm>\n"
  . "<LBFarm C>\n    LBFarmSessionKey $key_a\n"
  . "    LBFarmInstructions On\n" . members(qw(c1 c2)) . "</LBFarm>\n"
  . "ProxyPass /a/ http://A/a/\n"
  . "ProxyPass /b/ http://B/b/\n"
  . "ProxyPass /c/ http://C/c/\n";
my $h = start_httpd(body => $body);

# Every response: no member port, no instruction header.
my ($checked, @leaks, @shown) = (0);
sub req {
    my ($path, %hdr) = @_;
    my $r = get($h->url($path), %hdr);
    $checked++;
    push @leaks, map { "$path: $_" } LBFTest::port_leaks($r, @PORTS);
    push @shown, "$path: $r->{headers}{'x-lbfarm-instruction'}"
        if exists $r->{headers}{'x-lbfarm-instruction'};
    return $r;
}
sub cookie { my ($r, $n) = @_; my ($v) = LBFTest::set_cookie_named($r, $n); $v }
sub id { LBFTest::sess_member_id($_[0] =~ /^b/ ? $SECRET_B : $SECRET_A, $_[0]) }
sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; $s }

# $n requests to $path with Cookie $cookie: ({member or "!status" => n}).
sub counts {
    my ($path, $cookie, $n) = @_;
    my %c;
    for (1 .. $n) {
        my $r = req($path, $cookie ? (Cookie => $cookie) : ());
        $c{ $r->{status} == 200 ? ($r->{member} // '(none)')
                                : "!$r->{status}" }++;
    }
    return \%c;
}

# 1. stick: mode 'a' cookie for the member that answered; the client stays
#    there, and gets 503 once that member is gone.
my ($x, $y, $z);
{
    my $r = req('/a/?instr=stick');
    is($r->{status}, 200, 'stick: 200');
    $x = $r->{member} // '';
    ok(!exists $r->{headers}{'x-lbfarm-instruction'},
       'stick: the client does not see X-LBFarm-Instruction');
    my @ours = grep { /^lbf_A=/ } LBFTest::set_cookies($r);
    is(scalar @ours, 1, 'stick: exactly one Set-Cookie lbf_A')
        or diag(explain(\@ours));
    my $c = LBFTest::parse_sess_cookie(cookie($r, 'lbf_A'));
    is($c && $c->{mode}, 'a', 'stick: the cookie is in mode a (always)');
    is($c && $c->{id}, id($x), "stick: the cookie names $x");
    my $ck = 'lbf_A=' . (cookie($r, 'lbf_A') // '');
    my $cnt = counts('/a/', $ck, 10);
    is_deeply($cnt, { $x => 10 }, "stick: 10 requests stay on $x")
        or diag(explain($cnt));
    $m{$x}->stop;
    my $t0 = time;
    $cnt = counts('/a/', $ck, 5);
    is_deeply($cnt, { '!503' => 5 },
              "stick: $x killed: 5 requests all 503 (stick always)")
        or diag(explain($cnt));
    ok(time - $t0 < 3, 'stick: and those 503s come fast');
}

# 2. stick-while-up: mode 'w'; fails over when the member is gone.
{
    my $r = req('/a/?instr=stick-while-up');
    is($r->{status}, 200, 'stick-while-up: 200');
    $y = $r->{member} // '';
    isnt($y, $x, "stick-while-up: served by a live member ($y)");
    my $c = LBFTest::parse_sess_cookie(cookie($r, 'lbf_A'));
    is($c && $c->{mode}, 'w', 'stick-while-up: the cookie is in mode w');
    is($c && $c->{id}, id($y), "stick-while-up: the cookie names $y");
    my $ck = 'lbf_A=' . (cookie($r, 'lbf_A') // '');
    my $cnt = counts('/a/', $ck, 10);
    is_deeply($cnt, { $y => 10 }, "stick-while-up: 10 requests stay on $y")
        or diag(explain($cnt));
    $m{$y}->stop;
    $r = req('/a/', Cookie => $ck);
    is($r->{status}, 200, "stick-while-up: $y killed: the next request 200");
    ($z) = grep { $_ ne $x && $_ ne $y } qw(a1 a2 a3);
    is($r->{member}, $z, "stick-while-up: failed over to $z");
    $c = LBFTest::parse_sess_cookie(cookie($r, 'lbf_A'));
    is($c && $c->{id}, id($z), "stick-while-up: the cookie now names $z");
}

# 3. unstick clears the session cookie.
{
    my $ck = 'lbf_A=' . LBFTest::sess_cookie($SECRET_A, 'A', 'w', $z,
                                             int(time) + 600);
    my $r = req('/a/?instr=unstick', Cookie => $ck);
    is($r->{status}, 200, 'unstick: 200');
    my @sc = grep { /^lbf_A=/ } LBFTest::set_cookies($r);
    is(scalar @sc, 1, 'unstick: one Set-Cookie lbf_A');
    like($sc[0] // '', qr/^lbf_A=;.*Max-Age=0/i,
         'unstick: lbf_A emptied with Max-Age=0');
    like($sc[0] // '', qr/Expires=Thu, 01 Jan 1970 00:00:00 GMT/,
         'unstick: and an Expires in the past');
    like($sc[0] // '', qr/; HttpOnly; SameSite=Lax(?:;|$)/,
         'unstick: the same attributes as every cookie');
    ok(!exists $r->{headers}{'x-lbfarm-instruction'}, 'unstick: not shown');
}

# 4. move farm=B: the client's requests to A's URL are served by B; a move
#    back (B to A) ends at A.
{
    my $r = req('/a/?instr=move&farm=B');
    is($r->{status}, 200, 'move: 200');
    is($r->{member}, $z, 'move: answered by A\'s member');
    my $mv = cookie($r, 'lbfmv_A') // '';
    like($mv, qr/^2\.B\.[0-9a-f]{8}\.[0-9a-f]{32}$/,
         "move: Set-Cookie lbfmv_A=2.B.<expiry>.<mac> ($mv)");
    my ($exp) = $mv =~ /^2\.B\.([0-9a-f]{8})\./;
    is($mv, LBFTest::move_cookie($SECRET_A, 'A', 'B', hex($exp // 0)),
       'move: the cookie has the documented mac (farm A\'s key, from A)');
    my $cnt = counts('/a/', "lbfmv_A=$mv", 10);
    is_deeply($cnt, { b1 => 5, b2 => 5 },
              'move: 10 requests to /a/ all served by farm B')
        or diag(explain($cnt));
    # back: a member of B says "move farm=A"
    $r = req('/a/?instr=move&farm=A', Cookie => "lbfmv_A=$mv");
    like($r->{member} // '', qr/^b[12]$/, 'move back: answered by B');
    my $back = cookie($r, 'lbfmv_B') // '';
    like($back, qr/^2\.A\.[0-9a-f]{8}\.[0-9a-f]{32}$/,
         "move back: Set-Cookie lbfmv_B=2.A... ($back)");
    my (undef, $mva) = LBFTest::set_cookie_named($r, 'lbfmv_B');
    like($mva // '', qr/(?:^|;\s*)Secure(?:;|$)/,
         'move cookie: Secure, as farm B\'s policy says (secure=always)');
    like($mva // '', qr/(?:^|;\s*)HttpOnly(?:;|$)/, 'move cookie: HttpOnly');
    like($mva // '', qr/(?:^|;\s*)SameSite=Lax(?:;|$)/,
         'move cookie: SameSite=Lax');
    like($mva // '', qr/(?:^|;\s*)Max-Age=3600(?:;|$)/,
         'move cookie: Max-Age = the ttl');
    my $both = "lbfmv_A=$mv; lbfmv_B=$back";
    $cnt = counts('/a/', $both, 6);
    {
        is_deeply($cnt, { $z => 6 },
                  'move chain A->B->A: requests to /a/ end back at A')
            or diag(explain($cnt));
    }
    $cnt = counts('/b/', "lbfmv_B=$back", 4);
    is_deeply($cnt, { $z => 4 }, 'move back: requests to /b/ go to A')
        or diag(explain($cnt));
}

# 5. stick in a farm with instructions but without automatic stickiness.
{
    my $r = req('/c/?instr=stick');
    my $c1 = $r->{member} // '';
    my $v = cookie($r, 'lbf_C');
    my $c = LBFTest::parse_sess_cookie($v);
    is($c && $c->{mode}, 'a', 'C (LBFarmSticky Off): stick sets a mode a '
       . 'cookie');
    my $cnt = counts('/c/', 'lbf_C=' . ($v // ''), 8);
    {
        is_deeply($cnt, { $c1 => 8 }, "C: the client then stays on $c1")
            or diag(explain($cnt));
    }
}

# 6. Unsigned and wrongly signed instructions are dropped: no cookie
#    change, header stripped, logged (LBF00050).
my $log_before;
{
    my $r = req('/b/');
    my $bs = $r->{member} // '';
    my ($other) = grep { $_ ne $bs } qw(b1 b2);
    my $ck = 'lbf_B=' . (cookie($r, 'lbf_B') // '');
    my $now = int time;
    my $good = LBFTest::instr_sign($SECRET_B, $bs, "stick;ts=$now");
    (my $flipped = $good) =~ s/(.)$/$1 eq '0' ? '1' : '0'/e;
    my %bad = (
        unsigned => "stick;ts=$now",
        'no ts' => LBFTest::instr_sign($SECRET_B, $bs, 'stick'),
        'signed by the other member' =>
            LBFTest::instr_sign($SECRET_B, $other, "stick;ts=$now"),
        'signed with another farm\'s key' =>
            LBFTest::instr_sign($SECRET_A, $bs, "stick;ts=$now"),
        'flipped signature' => $flipped,
        'stale ts' => LBFTest::instr_sign($SECRET_B, $bs,
                                          'stick;ts=' . ($now - 3600)),
        'move to no farm' => LBFTest::instr_sign($SECRET_B, $bs,
                                                 "move;farm=nowhere;ts=$now"),
        oversized => LBFTest::instr_sign($SECRET_B, $bs,
                                         "stick;ts=$now" . (';x' x 150)),
    );
    $log_before = length $h->error_log;
    for my $what (sort keys %bad) {
        $r = req('/b/?instr_raw=' . uri_escape($bad{$what}), Cookie => $ck);
        is($r->{status}, 200, "dropped ($what): 200");
        is($r->{member}, $bs, "dropped ($what): still on $bs");
        ok(!exists $r->{headers}{'x-lbfarm-instruction'},
           "dropped ($what): header stripped");
        my @sc = grep { /^lbfmv?_B=/ } LBFTest::set_cookies($r);
        is(scalar @sc, 0, "dropped ($what): no session cookie change")
            or diag(explain(\@sc));
    }
    # the same channel with a good signature is obeyed (control)
    $r = req('/b/?instr_raw=' . uri_escape($good), Cookie => $ck);
    my $c = LBFTest::parse_sess_cookie(cookie($r, 'lbf_B'));
    ok($c && $c->{mode} eq 'a' && $c->{id} eq id($bs),
       'control: a correctly signed instr_raw is obeyed (mode a cookie)');

    # rate limit: a burst on one connection (one process) logs once
    sleep 1.1;
    my $mark = length $h->error_log;
    my $t0 = time;
    for (1 .. 10) {
        req('/b/?instr_raw=' . uri_escape("unstick;ts=$now;sig=" . ('0' x 64)),
            Cookie => $ck);
    }
    my $dt = time - $t0;
    my @burst = grep { /LBF00050/ } split /\n/, substr($h->error_log, $mark);
    ok(@burst >= 1 && @burst <= ($dt < 1 ? 1 : 2),
       sprintf('a burst of 10 bad instructions in %.2f s logs LBF00050 %d '
               . 'time(s)', $dt, scalar @burst)) or diag(join "\n", @burst);
}

# LBF00050 lines: [warn], name the member, never the signature, at most
# one a second per process.
{
    my @lines = grep { /LBF00050/ } split /\n/, substr($h->error_log,
                                                         $log_before);
    ok(@lines >= 2, scalar(@lines) . ' LBF00050 lines logged');
    is(scalar(grep { !/\[lbfarm:warn\]/ } @lines), 0, 'all at level warn');
    is(scalar(grep { !/from member b[12]/ } @lines), 0,
       'each names the member');
    is(scalar(grep { /[0-9a-f]{64}/ } @lines), 0,
       'none includes a signature');
    my (%last, @close);
    for my $l (@lines) {
        next unless $l =~ /^\[\w+ \w+ +\d+ (\d+):(\d+):(\d+\.\d+) \d+\].*\[pid (\d+)/;
        my ($t, $pid) = ($1 * 3600 + $2 * 60 + $3, $4);
        push @close, $l if defined $last{$pid} && $t - $last{$pid} < 0.999;
        $last{$pid} = $t;
    }
    is(scalar @close, 0, 'at most one LBF00050 a second per process')
        or diag(join "\n", @close);
}

# 7. ttl= in an instruction: shorter than the farm's ttl is kept, longer
#    is capped at it (farm A: the default ttl, 3600 s).
{
    my $r = req('/a/');
    my $am = $r->{member} // '';
    my $now = int time;
    for my $case ([ 60, 60 ], [ 99999, 3600 ]) {
        my ($ask, $want) = @$case;
        my $i = LBFTest::instr_sign($SECRET_A, $am,
                                    "stick;ttl=$ask;ts=$now");
        $r = req('/a/?instr_raw=' . uri_escape($i),
                 Cookie => 'lbf_A=' . LBFTest::sess_cookie(
                     $SECRET_A, 'A', 'w', $am, $now + 600));
        my ($v, $attrs) = LBFTest::set_cookie_named($r, 'lbf_A');
        my $c = LBFTest::parse_sess_cookie($v);
        ok($c && $c->{mode} eq 'a', "stick;ttl=$ask: a mode a cookie");
        like($attrs // '', qr/(?:^|;\s*)Max-Age=$want(?:;|$)/,
             "stick;ttl=$ask: Max-Age=$want");
        ok($c && $c->{expiry} >= $now + $want - 1
           && $c->{expiry} <= time + $want + 1,
           "stick;ttl=$ask: expiry about now + $want ("
           . ($c ? $c->{expiry} - $now : '?') . ')');
    }
    my $i = LBFTest::instr_sign($SECRET_A, $am, "move;farm=B;ttl=99999;ts=$now");
    $r = req('/a/?instr_raw=' . uri_escape($i));
    my (undef, $ma) = LBFTest::set_cookie_named($r, 'lbfmv_A');
    like($ma // '', qr/(?:^|;\s*)Max-Age=3600(?:;|$)/,
         'move;ttl=99999: the move cookie capped at the ttl too');
}

# 8. A forged move cookie is ignored (the request stays in A) and logged.
{
    my $mv = LBFTest::move_cookie($SECRET_A, 'A', 'B', int(time) + 600);
    (my $forged = $mv) =~ s/(.)$/$1 eq '0' ? '1' : '0'/e;
    my $other = LBFTest::move_cookie($SECRET_B, 'A', 'B', int(time) + 600);
    sleep 1.1;
    my $mark = length $h->error_log;
    my $cnt = counts('/a/', "lbfmv_A=$forged", 4);
    ok(!grep({ /^b/ } keys %$cnt) && !$cnt->{'!503'},
       'forged move cookie: the requests stay in farm A ('
       . join(', ', map { "$_=$cnt->{$_}" } sort keys %$cnt) . ')');
    $cnt = counts('/a/', "lbfmv_A=$other", 2);
    ok(!grep({ /^b/ } keys %$cnt),
       'move cookie under another farm\'s key: stays in A');
    my @lines = grep { /LBF00302/ } split /\n/, substr($h->error_log, $mark);
    ok(@lines >= 1 && @lines <= 2,
       scalar(@lines) . ' LBF00302 line(s) for 6 forged move cookies');
    is(scalar(grep { !/\[lbfarm:warn\]/ } @lines), 0, 'LBF00302 at warn');
    is(scalar(grep { /farm A/ } @lines), scalar @lines,
       'LBF00302 names the farm');
    my $log = $h->error_log;
    ok(index($log, substr($forged, -32)) < 0 && index($log, $forged) < 0,
       'the forged cookie is not in the log');
}

ok($checked > 60, "checked $checked responses for member ports");
is(scalar @leaks, 0, 'no response header or body carries a member port')
    or diag(join "\n", @leaks[0 .. ($#leaks < 9 ? $#leaks : 9)]);
is(scalar @shown, 0, 'no response showed X-LBFarm-Instruction')
    or diag(join "\n", @shown);

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
$_->stop for values %m;
done_testing;
