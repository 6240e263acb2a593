# Outlier ejection with real members (LBFarmEject, LBFarmPanic): consecutive
# 5xx eject a member and it comes back after base; the cap holds; panic
# keeps a failing farm served from its members; a farm whose members were
# all down recovers within about a second (recovery probes) and the first
# request that finds no member gets the down page with Retry-After; a
# passed health check ends an ejection early; an explicit LBFarmRetry keeps
# stock retry= (error, not ejection); the status page shows "ejected" and
# "stalled".  Also the directives' configuration errors.
#
# Failing members are small servers of this test (one request per
# connection) that answer 500 while their flag file exists, and 200 on
# /health (their health check) unless their hcfail file exists.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $OWNER = $$;
my %KIDS;
END { if ($$ == $OWNER) { kill 'KILL', $_ for keys %KIDS;
                          waitpid($_, 0) for keys %KIDS; } }
my $DIR = tempdir('lbf-eject-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---- configuration errors --------------------------------------------
my $m0 = start_member('c0');
for my $case (
    [ 'LBFarmEject consecutive=x', qr/LBFarmEject: invalid consecutive "x"/ ],
    [ 'LBFarmEject rate=150%', qr/LBFarmEject: invalid rate "150%"/ ],
    [ 'LBFarmEject window=0', qr/LBFarmEject: invalid window "0"/ ],
    [ 'LBFarmEject base=soon', qr/LBFarmEject: invalid base "soon"/ ],
    [ 'LBFarmEject max=2h', qr/LBFarmEject: invalid max "2h"/ ],
    [ 'LBFarmEject cap=0%', qr/LBFarmEject: invalid cap "0%"/ ],
    [ 'LBFarmEject base=10 max=5', qr/LBFarmEject: max "5000ms" is below base "10000ms"/ ],
    [ 'LBFarmEject often=1', qr/LBFarmEject: unknown option "often=1"/ ],
    [ 'LBFarmEject off now', qr/LBFarmEject: "off" takes no options/ ],
    [ 'LBFarmPanic lots', qr/LBFarmPanic: invalid share "lots"/ ],
    [ 'LBFarmPanic 101%', qr/LBFarmPanic: invalid share "101%"/ ],
) {
    my ($line, $want) = @$case;
    my ($rc, $out) = config_test("<LBFarm e>\n    $line\n    LBFarmMember c0 "
                                 . $m0->url . "\n</LBFarm>\n");
    ok($rc != 0 && $out =~ $want, "config error: $line") or diag($out);
}
{
    my ($rc, $out) = config_test("<LBFarm e>\n    LBFarmEject consecutive=5 "
                                 . "rate=50% window=10 base=5 max=300 "
                                 . "cap=50%\n    LBFarmPanic 50%\n"
                                 . "    LBFarmMember c0 " . $m0->url
                                 . "\n</LBFarm>\n<LBFarm f>\n    LBFarmEject "
                                 . "off\n    LBFarmPanic off\n"
                                 . "    LBFarmMember c0 " . $m0->url
                                 . "\n</LBFarm>\n");
    is($rc, 0, 'LBFarmEject and LBFarmPanic accepted') or diag($out);
    my ($rc2) = config_test("LBFarmEject off\n");
    isnt($rc2, 0, 'LBFarmEject outside <LBFarm> refused');
}
$m0->stop;

# ---- members ------------------------------------------------------------
# A member of this test: answers 500 while $DIR/NAME.fail exists, else 200;
# /health 200 unless $DIR/NAME.hcfail exists.  Returns {name, port, url,
# pid}.
sub flag_member {
    my ($name) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                    Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "listen: $!";
    my $port = $srv->sockport;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = sub { _exit(0) };
        while (my $c = $srv->accept) {
            my $req = '';
            while (defined(my $l = <$c>)) {
                $req .= $l;
                last if $l =~ /^\r?\n$/;
            }
            my $hc = $req =~ m{^GET /health[ ?]};
            my $st = $hc ? (-e "$DIR/$name.hcfail" ? 500 : 200)
                   : -e "$DIR/$name.fail" ? 500 : 200;
            my $b = "member=$name status=$st\n";
            print $c "HTTP/1.1 $st X\r\nX-Member: $name\r\nContent-Length: "
                   . length($b) . "\r\nConnection: close\r\n\r\n$b";
            close $c;
        }
        _exit(0);
    }
    close $srv;
    $KIDS{$pid} = 1;
    return { name => $name, port => $port, pid => $pid,
             url => "http://127.0.0.1:$port" };
}
sub fail_on  { LBFTest::spit("$DIR/$_[0].fail", "1") }
sub fail_off { unlink "$DIR/$_[0].fail" }

LBFTest::spit("$DIR/p3.hcfail", "1");   # p3 is down by its check throughout
my %fm = map { $_ => flag_member($_) }
         qw(f1 k1 k2 k3 k4 c1 c2 p1 p2 p3 q1 q2 h1);
my %lm = map { $_ => start_member($_) } qw(g1 r1 r2 s1 s2 x1);
my @rec_ports = map { $lm{$_}->port } qw(r1 r2);

sub farm {
    my ($name, $lines, @members) = @_;
    return "<LBFarm $name>\n" . join('', map { "    $_\n" } @$lines)
         . join('', map { my $u = $fm{$_} ? $fm{$_}{url} : $lm{$_}->url;
                          "    LBFarmMember $_ $u\n" } @members)
         . "</LBFarm>\nProxyPass /$name/ http://$name/$name/\n";
}
my $body = "ProxyPass /lbfarm-status !\n"
    . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n</Location>\n"
    . farm('ej', ['LBFarmEject consecutive=3 rate=0 base=3 cap=50%'],
           qw(f1 g1))
    . farm('cap', ['LBFarmMethod least-load',
                   'LBFarmEject consecutive=2 rate=0 base=60 cap=25%'],
           qw(k1 k2 k3 k4))
    . farm('cap2', ['LBFarmEject consecutive=2 rate=0 base=60'], qw(c1 c2))
    . farm('pan', ['LBFarmEject consecutive=2 rate=0 base=60 cap=100%',
                   'LBFarmPanic 50%',
                   # one check at start-up only: p3 down, p1 and p2 up (a
                   # later passing check would end their ejections)
                   'LBFarmHealthCheck /health interval=3600 rise=1 fall=1'],
           qw(p1 p2 p3))
    . farm('nopan', ['LBFarmEject consecutive=2 rate=0 base=60 cap=100%',
                     'LBFarmPanic off'], qw(q1 q2))
    . farm('rec', ['LBFarmDownURL /down.html'], qw(r1 r2))
    . farm('hc', ['LBFarmEject consecutive=2 rate=0 base=60',
                  'LBFarmHealthCheck /health interval=500ms rise=1 fall=3 '
                  . 'timeout=300ms'], qw(h1 g1))
    . farm('stk', ['LBFarmRetry 60'], qw(x1 g1))
    . farm('st', ['LBFarmMethod least-time'], qw(s1 s2));
my $h = start_httpd(body => $body, loglevel => "info");
my $DOWN = "<html><body>lbf-eject-down</body></html>\n";
LBFTest::spit($h->dir . '/htdocs/down.html', $DOWN);
my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

sub req { my $r = $ua->get($h->url($_[0])); $r->{member} =
              $r->{headers}{'x-member'}; return $r }
# {member => [statuses]} of n requests to path
sub send_n {
    my ($path, $n) = @_;
    my %got;
    for (1 .. $n) {
        my $r = req($path);
        push @{ $got{$r->{member} // "none-$r->{status}"} }, $r->{status};
    }
    return \%got;
}
sub rows  { LBFTest::status_rows($h) }
sub state { my $r = rows(); return $r->{$_[0]} ? $r->{$_[0]}{state} : '?' }

# 1. consecutive 5xx eject; no requests during base (3 s); back after it
{
    fail_on('f1');
    my $t0 = time;
    my $got = send_n('/ej/', 20);
    my $t1 = time;
    is(scalar @{ $got->{f1} // [] }, 3, 'ej: f1 answered 3 failures, then '
       . 'no more requests') or diag(explain($got));
    is(scalar @{ $got->{g1} // [] }, 17, 'ej: g1 took the rest');
    my $row = rows()->{'ej/f1'};
    is($row->{state}, 'ejected', 'ej: status page says ejected')
        or diag(explain(rows()));
    is($row->{eject_n}, 1, 'ej: n=1');
    ok($row->{eject_left_ms} > 0 && $row->{eject_left_ms} <= 3000,
       "ej: time left $row->{eject_left_ms} ms of 3 s");
    like($h->error_log, qr/LBF00720: farm ej: member f1 ejected for 3\.000s \(n=1\) after failed answers/,
         'ej: LBF00720 logged');
    # f1 answers well now, but it is ejected: nothing reaches it until
    # 2.4 s after the first failure (the ejection started after $t0)
    fail_off('f1');
    my ($n, $f1) = (0, 0);
    while (time < $t0 + 2.4 && $n < 200) {
        my $r = req('/ej/');
        $n++;
        $f1++ if ($r->{member} // '') eq 'f1';
        sleep 0.05;
    }
    ok($n >= 5, "ej: $n requests during the ejection");
    is($f1, 0, 'ej: none of them reached f1');
    my $left = $t1 + 3.2 - time;
    sleep $left if $left > 0;
    $got = send_n('/ej/', 10);
    ok(@{ $got->{f1} // [] } >= 4, 'ej: f1 serves again after base')
        or diag(explain($got));
    is(state('ej/f1'), 'ok', 'ej: f1 ok again');
}

# 2a. the default cap (50 %) on a 2-member farm where both fail: one is
# ejected, the other keeps its requests (and no panic: 1 of 2 usable is
# not below LBFarmPanic's default 50 %, so the ejected one gets nothing)
{
    fail_on($_) for qw(c1 c2);
    send_n('/cap2/', 10);
    my $r = rows();
    my @ej = grep { $r->{"cap2/$_"}{state} eq 'ejected' } qw(c1 c2);
    is(scalar @ej, 1, 'cap2: exactly one of two ejected (' . "@ej" . ')')
        or diag(explain($r));
    my ($kept) = grep { $_ ne ($ej[0] // '') } qw(c1 c2);
    my $got = send_n('/cap2/', 20);
    is(scalar @{ $got->{$kept} // [] }, 20, "cap2: $kept, over the cap, "
       . 'takes all 20 requests') or diag(explain($got));
    is(scalar @{ $got->{$ej[0] // 'x'} // [] }, 0, 'cap2: the ejected one '
       . 'none');
    like($h->error_log, qr/LBF00721: farm cap2: member $kept fails but is not ejected/,
         'cap2: LBF00721 logged for the member the cap kept');
    $r = rows();
    is(join(' ', map { $r->{"cap2/$_"}{state} } qw(c1 c2)),
       join(' ', map { $_ eq $kept ? 'ok' : 'ejected' } qw(c1 c2)),
       'cap2: still one ejected after 20 more failures');
    fail_off($_) for qw(c1 c2);
}

# 2b. the cap: 2 of 4 failing with cap 25 % -> only one ejected
{
    fail_on($_) for qw(k1 k2);
    send_n('/cap/', 40);
    my $r = rows();
    my @ej = grep { $r->{"cap/$_"}{state} eq 'ejected' } qw(k1 k2 k3 k4);
    is(scalar @ej, 1, 'cap: exactly one member ejected (' . "@ej" . ')');
    ok(grep({ $_ eq 'k1' || $_ eq 'k2' } @ej), 'cap: a failing one');
    my ($kept) = grep { $_ ne ($ej[0] // '') } qw(k1 k2);
    my $got = send_n('/cap/', 20);
    ok(@{ $got->{$kept} // [] } > 0, "cap: $kept, over the cap, still gets "
       . 'requests') or diag(explain($got));
    fail_off($_) for qw(k1 k2);
}

# 3. panic: every member up by its check fails and is ejected -- the farm
# keeps serving, balanced over them, never from p3 (down by its check)
{
    my $ok = LBFTest::wait_until(5 * $F, sub { state('pan/p3') eq 'down' });
    ok($ok, 'panic: p3 is down by its check') or diag(explain(rows()));
    is(state('pan/p1') . ' ' . state('pan/p2'), 'ok ok',
       'panic: p1 and p2 up');
    fail_on($_) for qw(p1 p2 q1 q2);
    send_n('/pan/', 10);
    send_n('/nopan/', 10);
    my $r = rows();
    is($r->{'pan/p1'}{state} . ' ' . $r->{'pan/p2'}{state}, 'ejected ejected',
       'panic: both members ejected');
    my $got = send_n('/pan/', 20);
    my ($n1, $n2) = map { $got->{$_} ? scalar @{ $got->{$_} } : 0 } qw(p1 p2);
    is($n1 + $n2, 20, 'panic: all 20 requests reached members')
        or diag(explain($got));
    ok($n1 >= 5 && $n2 >= 5, "panic: balanced over p1 and p2 ($n1/$n2)");
    ok(!$got->{p3}, 'panic: none to p3, down by its check');
    my $n = req('/nopan/');
    is($n->{status}, 503, 'no panic (LBFarmPanic off): the farm answers 503');
    ok(!defined $n->{member}, 'no panic: from the balancer, not a member');
    fail_off($_) for qw(p1 p2 q1 q2);
    my $back = req('/pan/');
    is($back->{status}, 200, 'panic: a member answering well is served');
}

# 4. recovery: both members down, then back
{
    is(req('/rec/')->{status}, 200, 'rec: serving');
    $lm{$_}->stop for qw(r1 r2);
    my $r = req('/rec/');
    is($r->{status}, 503, 'rec: the first request with both down: 503');
    is(join(' ', sort map { state("rec/$_") } qw(r1 r2)), 'ejected error',
       'rec: one ejected (the cap is full then), the other, which nothing '
       . 'reaches either, in error for base, not kept in');
    is($r->{content}, $DOWN, 'rec: ... with the down page');
    like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'rec: ... and '
         . 'Retry-After');
    $r = req('/rec/');
    is($r->{status} . ' ' . ($r->{headers}{'retry-after'} // '-'), '503 5',
       'rec: the next one the same');
    is($r->{content}, $DOWN, 'rec: ... with the down page');
    $lm{r1} = start_member('r1', port => $rec_ports[0]);
    $lm{r2} = start_member('r2', port => $rec_ports[1]);
    my $t0 = time;
    my $ok = LBFTest::wait_until(10 * $F, sub { req('/rec/')->{status} == 200 });
    my $dt = time - $t0;
    ok($ok && $dt < 2.5 * $F, sprintf('rec: served again %.2f s after the '
       . 'members came back (not retry=60)', $dt));
    # the member ejected for its connect failure is back after base (5 s)
    my $got;
    $ok = LBFTest::wait_until(8 * $F, sub {
        $got = send_n('/rec/', 6);
        return join(',', sort keys %$got) eq 'r1,r2';
    });
    ok($ok, 'rec: both members serve again within base') or diag(explain($got));
}

# 4b. LBFarmRetry given (even its default value): stock retry= semantics, a
# refused connection puts the member in error, it is not ejected
{
    $lm{x1}->stop;
    my $got = send_n('/stk/', 4);
    is(scalar @{ $got->{g1} // [] }, 4, 'stk: g1 answered all 4')
        or diag(explain($got));
    my $row = rows()->{'stk/x1'};
    is($row->{state}, 'error', 'stk: x1 in error, not ejected')
        or diag(explain($row));
    ok($row->{error_left_ms} > 50_000, "stk: for its retry=60 "
       . "($row->{error_left_ms} ms left)");
    like($h->error_log, qr/LBF00020: farm stk: member x1 failed; in error for (59\d{3}|60000) ms/,
         'stk: LBF00020 logged');
}

# 5. a passed health check ends an ejection early (base is 60 s)
{
    fail_on('h1');
    my $t0 = time;
    send_n('/hc/', 10);
    my $ok = LBFTest::wait_until(3 * $F, sub {
        $h->error_log =~ /LBF00720: farm hc: member h1 ejected for 60\.000s/
            && $h->error_log =~ /LBF00723: farm hc: member h1 passed its check/
    });
    ok($ok, 'hc: h1 ejected for 60 s, and its passing check ended that')
        or diag(join("\n", grep { /farm hc/ } split /\n/, $h->error_log));
    fail_off('h1');
    # send_n's last requests may have ejected h1 again after a check
    # ended the first ejection: the next passing check (every 500 ms) ends
    # that one too
    ok(LBFTest::wait_until(3 * $F, sub { state('hc/h1') eq 'ok' }),
       'hc: not ejected any more') or diag(explain(rows()->{'hc/h1'}));
    my $got = send_n('/hc/', 10);
    ok(@{ $got->{h1} // [] } >= 3, 'hc: h1 takes requests again')
        or diag(explain($got));
    ok(time - $t0 < 5 * $F, 'hc: within seconds, not 60 s');
}

# 6. a stalled member shows as "stalled" in JSON
{
    my $d = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    is($d->get($lm{s1}->url . '/?freeze=on')->{content}, "frozen=1\n",
       'st: s1 frozen');
    my @pids;
    for (1 .. 4) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            HTTP::Tiny->new(timeout => 4)->get($h->url('/st/'));
            _exit(0);
        }
        push @pids, $pid;
        $KIDS{$pid} = 1;
    }
    my $json;
    my $ok = LBFTest::wait_until(3 * $F, sub {
        my $r = $d->get($h->url('/lbfarm-status?format=json'));
        return 0 unless $r->{status} == 200;
        $json = decode_json($r->{content});
        my ($farm) = grep { $_->{name} eq 'st' } @{ $json->{farms} };
        my ($m) = grep { $_->{name} eq 's1' } @{ $farm->{members} };
        return $m && $m->{state} eq 'stalled';
    });
    ok($ok, 'st: JSON shows s1 "stalled"');
    $d->get($lm{s1}->url . '/?freeze=off');
    for my $pid (@pids) {
        LBFTest::reap($pid, 10) // do { kill 'KILL', $pid; waitpid($pid, 0) };
        delete $KIDS{$pid};
    }
}

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
kill 'TERM', $_->{pid} for values %fm;
for (values %fm) { waitpid($_->{pid}, 0); delete $KIDS{$_->{pid}} }
done_testing();
