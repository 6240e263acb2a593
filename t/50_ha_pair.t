# An HA pair on keepalived (VRRP): two real httpd balancers with
# conf/examples/ha-pair.conf and conf/ha/keepalived.conf.in, three real
# members and a client, each in its own network namespace on a private
# bridge (10.199.0.0/24, nothing on the host's interfaces).  Shows:
#   - the agent (tools/lbfarm-push --balancer x2) reaches both balancers;
#   - the virtual IP moves to the backup within 3 s of the master's httpd
#     dying (SIGKILL), timed from the client: kill to the backup's first
#     answer;
#   - a sticky cookie issued by the master is honoured by the backup (the
#     shared LBFarmSessionKey file): no session is lost;
#   - the survivor's status page (JSON and text) shows every member up and
#     counts exactly the requests the survivor served;
#   - every namespace, interface and process is gone afterwards.
# Skips (with the reason) unless root, ip netns, a bridge, veth and
# keepalived are usable.  Bounded: stops itself after 58 s.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use LBFTest;
use LBFNet;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
my $why = LBFNet::net_skip_reason();
plan skip_all => "HA pair: $why" if $why;
my ($KA) = grep { -x } qw(/usr/sbin/keepalived /sbin/keepalived);
plan skip_all => 'HA pair: keepalived is not installed '
               . '(tools/install-deps.sh installs it)' unless $KA;
my ($CURL) = grep { -x } qw(/usr/bin/curl /bin/curl);
plan skip_all => 'HA pair: curl is not installed' unless $CURL;

local $SIG{ALRM} = sub { die "t/50_ha_pair.t: still running after 58 s\n" };
alarm 58;

my $T0 = time;
my $ROOT = repo_root();
my $F = slow_factor();
my $PORT = 8080;
my $SUB = '10.199.0';
my $VIP = "$SUB.100";
my %ADDR = (lb1 => "$SUB.11", lb2 => "$SUB.12", app1 => "$SUB.21",
            app2 => "$SUB.22", app3 => "$SUB.23", cl => "$SUB.50");
my @APPS = qw(app1 app2 app3);

# What was there before: the test must leave exactly this.
sub host_links {
    my ($rc, $out) = LBFNet::ip('-o', 'link', 'show');
    return join ',', sort map { /^\d+:\s+([^:@\s]+)/ ? $1 : () }
                              split /\n/, $out;
}
sub keepalived_pids {
    my ($rc, $out) = LBFNet::run_bounded(5, 'pgrep', '-x', 'keepalived');
    return join ',', sort { $a <=> $b } grep { /^\d+$/ } split ' ', $out;
}
my $ns_before = join ',', sort grep { !/^lbfnet\d+-/ } LBFNet::ns_list();
my $links_before = host_links();
my $ka_before = keepalived_pids();

my $net = LBFNet::Net->create(nodes => \%ADDR, prefix => 24);
my $dir = $net->dir;

# The shared secrets, the same files for both balancers (0600: httpd
# reads them as root at start-up).
my %secret = (session => 'ha-session-' . join('', map { int rand 10 } 1 .. 20),
              push => 'ha-push-' . join('', map { int rand 10 } 1 .. 20));
mkdir "$dir/secrets", 0700;
for my $k (keys %secret) {
    LBFTest::spit("$dir/secrets/$k.key", "$secret{$k}\n");
    chmod 0600, "$dir/secrets/$k.key";
}

my %m = map { $_ => $net->start_member($_, $_, port => $PORT) } @APPS;

my %lb;
for my $node (qw(lb1 lb2)) {
    my $body = LBFNet::fill_template("$ROOT/conf/examples/ha-pair.conf", {
        NODE => $node, SECRETS => "$dir/secrets",
        TRUSTED_NET => "$SUB.0/24",
        map { ('MEMBER' . substr($_, 3) => $m{$_}{url}) } @APPS,
    });
    # The checks below compare each page with the last push: no smoothing
    # (LBFarmLoadSmoothing, default 0.5, would blend it with the one
    # before, or not, depending on how long the failover took).
    $body =~ s/^(\s*LBFarmMethod .*)$/$1\n    LBFarmLoadSmoothing 1/m
        or die "ha-pair.conf has no LBFarmMethod line\n";
    $lb{$node} = $net->start_httpd($node, body => $body, port => $PORT,
                                   modules => ['authz_host'],
                                   probe => '/lbfarm-status?format=text');
}

# keepalived runs the check script only when neither it nor a directory
# above it is writable by anyone but root (enable_script_security): a
# copy in this test's own directory, whatever the checkout's modes.
mkdir "$dir/bin", 0755;
my $CHECK = "$dir/bin/check_httpd.sh";
LBFTest::spit($CHECK, LBFTest::slurp("$ROOT/conf/ha/check_httpd.sh"));
chmod 0755, $CHECK;

my %ka;
for my $node (qw(lb1 lb2)) {
    my $master = $node eq 'lb1';
    my $conf = "$dir/keepalived-$node.conf";
    LBFTest::spit($conf, LBFNet::fill_template(
        "$ROOT/conf/ha/keepalived.conf.in", {
            ROUTER_ID => $node, STATE => $master ? 'MASTER' : 'BACKUP',
            PRIORITY => $master ? 150 : 100, INTERFACE => 'eth0',
            VRID => 51, VIP => "$VIP/24",
            CHECK_SCRIPT => $CHECK,
            STATUS_URL => "http://127.0.0.1:$PORT/lbfarm-status?format=text",
            PIDFILE => $lb{$node}->dir . '/httpd.pid',
        }));
    # -n: no fork (the PID is keepalived's), -l: log to the console (the
    # log file), -P: VRRP only; pid files of its own, no system service.
    $ka{$node} = $net->spawn($node, what => "keepalived $node",
        log => "$dir/keepalived-$node.log",
        argv => [ $KA, '-n', '-l', '-D', '-P', '-f', $conf,
                  '-p', "$dir/keepalived-$node.pid",
                  '-r', "$dir/keepalived-$node-vrrp.pid" ]);
}

sub holds_vip { return grep { $_ eq $VIP } $net->addresses($_[0]) }

ok(wait_until(15, sub { holds_vip('lb1') }, 0.1),
   sprintf('keepalived: the master lb1 holds the VIP %s (after %.1f s)',
           $VIP, time - $T0))
    or diag(LBFTest::slurp("$dir/keepalived-lb1.log"));
ok(!holds_vip('lb2'), 'keepalived: the backup lb2 does not hold it');

# status($node_or_address, $format) -> the response from the client.
sub status_of {
    my ($where, $fmt) = @_;
    my $host = $ADDR{$where} // $where;
    return $net->curl('cl', "http://$host:$PORT/lbfarm-status?format=$fmt");
}
sub rows_of {
    my ($where) = @_;
    my $r = status_of($where, 'text');
    my %rows;
    for my $l (split /\n/, $r->{body}) {
        next unless $l =~ /^member app (\S+) (.*)$/;
        $rows{$1} = { map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () }
                      split / /, $2 };
    }
    return \%rows;
}
sub all_ok {
    my ($rows) = @_;
    return @APPS == grep { ($rows->{$_}{state} // '') eq 'ok'
                           && ($rows->{$_}{hc_status} // '') eq '200' }
                         @APPS;
}
for my $node (qw(lb1 lb2)) {
    ok(wait_until(5 * $F, sub { all_ok(rows_of($node)) }, 0.2),
       "$node: every member up after its own health checks");
}

# ---------------------------------------------------------------------
# 1. The agent pushes to both balancers (--balancer, twice).

my %KEYS;
for my $a (@APPS) {
    my ($rc, $out) = LBFNet::run_bounded(10, "$ROOT/tools/lbfarm-push-key",
                                         "$dir/secrets/push.key", $a);
    is($rc, 0, "lbfarm-push-key $a") or diag($out);
    $KEYS{$a} = "$dir/secrets/$a.member.key";
    LBFTest::spit($KEYS{$a}, $out);
    chmod 0600, $KEYS{$a};
}

# push($member, $cpu, $loadavg, @balancers) -> (exit code, output) of one
# agent run in the member's namespace.
sub push_from {
    my ($a, $cpu, $la, @to) = @_;
    return $net->run($a, 15, "$ROOT/tools/lbfarm-push", '--once',
        (map { ('--balancer', "http://$ADDR{$_}:$PORT/lbfarm-push") } @to),
        '--farm', 'app', '--member', $a, '--key-file', $KEYS{$a},
        '--metric', "cpu=$cpu", '--metric', "loadavg=$la");
}
# The farm's formula: cpu (capacity 1, weight 2) and loadavg (4, 1).
sub load_of {
    my ($cpu, $la) = @_;
    my $c = $cpu > 1 ? 1 : $cpu;
    my $l = $la / 4 > 1 ? 1 : $la / 4;
    return sprintf('%.3f', (2 * $c + $l) / 3);
}
# The page shows 3 decimals (the last may be rounded down).
sub near { my ($got, $want) = @_; defined $got && $got =~ /^[\d.]+$/
           && abs($got - $want) < 0.0015 }
my %PUSHED = (app1 => [0.30, 1.0], app2 => [0.20, 0.4], app3 => [0.60, 2.0]);
for my $a (@APPS) {
    my ($rc, $out) = push_from($a, @{ $PUSHED{$a} }, qw(lb1 lb2));
    is($rc, 0, "agent $a: --once to both balancers exits 0") or diag($out);
}
for my $node (qw(lb1 lb2)) {
    my $rows = rows_of($node);
    for my $a (@APPS) {
        my $want = load_of(@{ $PUSHED{$a} });
        ok(near($rows->{$a}{load}, $want), "$node: pushed load of $a is "
           . "$want (shown " . ($rows->{$a}{load} // 'none') . ')');
    }
}

# ---------------------------------------------------------------------
# 2. A session on the master, through the VIP.

my $APP = "http://$VIP:$PORT/shop/cart";
my $first = $net->curl('cl', $APP);
is($first->{status}, 200, 'VIP: first request 200');
is($first->{headers}{'x-balancer'}, 'lb1', 'VIP: answered by the master lb1');
my ($cookie) = grep { /^lbf_app=/ } map { split /;\s*/ }
               LBFTest::set_cookies({ headers => $first->{headers} });
ok($cookie, 'master lb1 issued a session cookie lbf_app') or diag(explain($first->{headers}));
$cookie //= 'lbf_app=none';
my $stuck = $first->{member} // '(none)';
my $stuck_id = LBFTest::sess_member_id($secret{session}, $stuck);
like($cookie, qr/^lbf_app=1\.w\.\Q$stuck_id\E\./,
     "the cookie names $stuck (the member that served)");
my %seen;
for (1 .. 4) {
    my $r = $net->curl('cl', $APP, headers => ["Cookie: $cookie"]);
    $seen{ ($r->{headers}{'x-balancer'} // '-') . '/' . ($r->{member} // '-') }++;
}
is_deeply(\%seen, { "lb1/$stuck" => 4 }, "lb1: 4 requests with it, all on $stuck");

my $before = rows_of('lb2');
is(join(',', map { $before->{$_}{requests} // '?' } @APPS), '0,0,0',
   'lb2 (backup) has served nothing yet');
my $lb1_rows = rows_of('lb1');
my $lb1_total = 0;
$lb1_total += $lb1_rows->{$_}{requests} // 0 for @APPS;
is($lb1_total, 5, 'lb1 counts its 5 requests');

# ---------------------------------------------------------------------
# 3. The master's httpd dies: the VIP moves within 3 s.

my $poll_log = "$dir/poll.log";
LBFTest::spit($poll_log, '');
# The poller asks the VIP every 20 ms (a new connection each time, 0.25 s
# timeout), logs "start end status balancer member" per request, and exits
# by itself after 10 answers from lb2, so no request is cut off half-way
# (every request lb2 counts is in the log).
my $POLLER = <<'PERL';
use strict; use HTTP::Tiny; use Time::HiRes qw(time sleep);
my ($url, $log, $max, $stop_on, $stop_n) = @ARGV;
open my $fh, '>>', $log or die "$log: $!";
select((select($fh), $| = 1)[0]);
my $ua = HTTP::Tiny->new(timeout => 0.25, keep_alive => 0);
my ($end, $seen) = (time + $max, 0);
while (time < $end && $seen < $stop_n) {
    my $t = time;
    my $r = $ua->get($url);
    my $b = $r->{headers}{'x-balancer'} // '-';
    printf {$fh} "%.4f %.4f %d %s %s\n", $t, time, $r->{status}, $b,
        $r->{headers}{'x-member'} // '-';
    $seen++ if $r->{status} == 200 && $b eq $stop_on;
    sleep 0.02;
}
PERL
my $poller = $net->spawn('cl', what => 'VIP poller', log => "$dir/poller.out",
    argv => [ $^X, '-e', $POLLER, "http://$VIP:$PORT/poll", $poll_log, 15,
              'lb2', 10 ]);
sub polls {
    return map { [ split ' ' ] } grep { /\S/ }
           split /\n/, LBFTest::slurp($poll_log);
}
ok(wait_until(5, sub { 3 <= grep { $_->[2] == 200 && $_->[3] eq 'lb1' }
                                  polls() }, 0.05),
   'poller: the VIP answers from lb1');

my $t_kill = $lb{lb1}->kill_now;
my $first_lb2;
wait_until(8, sub {
    ($first_lb2) = grep { $_->[1] > $t_kill && $_->[2] == 200
                          && $_->[3] eq 'lb2' } polls();
    return $first_lb2;
}, 0.05);
# it stops by itself after 10 answers from lb2 (about 0.3 s more)
ok(defined LBFTest::reap($poller, 3), 'poller: done after 10 answers of lb2')
    or LBFTest::terminate($poller, 2);
my @polls = polls();
my $dt = $first_lb2 ? $first_lb2->[1] - $t_kill : undef;
ok(defined $dt && $dt < 3.0,
   'failover: first answer from lb2 '
   . (defined $dt ? sprintf('%.2f s', $dt) : 'never (8 s)')
   . ' after the master httpd was killed (< 3 s)')
    or diag(LBFTest::slurp("$dir/keepalived-lb1.log"),
            LBFTest::slurp("$dir/keepalived-lb2.log"));
my $after = grep { $_->[0] > ($first_lb2 ? $first_lb2->[1] : 9e9) } @polls;
my @bad_after = grep { $_->[0] > ($first_lb2 ? $first_lb2->[1] : 9e9)
                       && !($_->[2] == 200 && $_->[3] eq 'lb2') } @polls;
ok($after >= 1 && !@bad_after,
   "failover: every later poll ($after) answered 200 by lb2")
    or diag(explain(\@bad_after));
my $gap = grep { $_->[0] > $t_kill && $_->[2] != 200 } @polls;
note(sprintf('failover: %d polls failed between the kill and lb2 (%.2f s)',
             $gap, $dt // -1));
ok(holds_vip('lb2') && !holds_vip('lb1'), 'the VIP is on lb2, not on lb1');
my $lb2_served = grep { $_->[2] == 200 && $_->[3] eq 'lb2' } @polls;

# ---------------------------------------------------------------------
# 4. The session survives: lb2 honours lb1's cookie.

%seen = ();
my @reissued;
for (1 .. 5) {
    my $r = $net->curl('cl', $APP, headers => ["Cookie: $cookie"]);
    $lb2_served++ if $r->{status} == 200
        && ($r->{headers}{'x-balancer'} // '') eq 'lb2';
    $seen{ ($r->{headers}{'x-balancer'} // '-') . '/' . ($r->{member} // '-')
           . '/' . $r->{status} }++;
    push @reissued, grep { /^lbf_app=/ && !/^lbf_app=1\.w\.\Q$stuck_id\E\./ }
                    map { split /;\s*/ }
                    LBFTest::set_cookies({ headers => $r->{headers} });
}
is_deeply(\%seen, { "lb2/$stuck/200" => 5 },
          "lb2: the 5 requests with lb1's cookie all go to $stuck")
    or diag(explain(\%seen));
is(scalar @reissued, 0, 'lb2 issued no cookie for another member')
    or diag("@reissued");
my $new = $net->curl('cl', $APP);
$lb2_served++ if $new->{status} == 200;
ok((grep { /^lbf_app=1\.w\./ } LBFTest::set_cookies({ headers => $new->{headers} })),
   'control: lb2 gives a client without a cookie a new one');

# ---------------------------------------------------------------------
# 5. The agent keeps reporting: lb1 gives no answer, lb2 takes the push.

{
    my ($rc, $out) = push_from('app1', 0.90, 3.0, qw(lb1 lb2));
    isnt($rc, 0, 'agent: --once exits non-zero while lb1 is down');
    like($out, qr/\Q$ADDR{lb1}\E.*no answer/, 'agent: says lb1 gave no answer');
    ok(near(rows_of('lb2')->{app1}{load}, load_of(0.90, 3.0)),
       'lb2 took the push anyway: app1 load ' . load_of(0.90, 3.0));
}

# ---------------------------------------------------------------------
# 6. The survivor's status page, through the VIP.

{
    my $r = status_of($VIP, 'json');
    is($r->{status}, 200, 'status JSON through the VIP: 200');
    is($r->{headers}{'x-balancer'}, 'lb2', 'status JSON answered by lb2');
    my $j = eval { JSON::PP::decode_json($r->{body}) };
    ok($j, 'status JSON parses') or diag($@, $r->{body});
    my ($farm) = grep { $_->{name} eq 'app' } @{ $j->{farms} || [] };
    ok($farm, 'status JSON has farm app');
    my %mem = map { $_->{name} => $_ } @{ $farm->{members} || [] };
    is(join(',', sort keys %mem), join(',', @APPS), 'JSON: the three members');
    for my $a (@APPS) {
        is($mem{$a}{state}, 'ok', "JSON: $a state ok");
        is($mem{$a}{health_check} && $mem{$a}{health_check}{status}, 200,
           "JSON: $a health check 200");
    }
    my $sum = 0;
    $sum += $mem{$_}{requests} // 0 for @APPS;
    is($sum, $lb2_served, "JSON: lb2 counts exactly the $lb2_served requests "
       . 'it served (its own counters, none of lb1\'s)');
    is($mem{$stuck}{requests} >= 5 ? 1 : 0, 1,
       "JSON: $stuck has at least the 5 sticky requests");
    ok(near($mem{app1}{load}, load_of(0.90, 3.0)),
       'JSON: app1 load is the last push');
    my $rows = rows_of($VIP);
    ok(all_ok($rows), 'status text through the VIP: every member state=ok, '
       . 'hc_status=200') or diag(explain($rows));
}

# ---------------------------------------------------------------------
# 7. Clean up, and show that nothing is left.

for my $node (qw(lb1 lb2)) {
    LBFTest::terminate($ka{$node}, 5);
}
no_unexpected_errors($lb{lb2});
$net->destroy;
is(join(',', sort grep { !/^lbfnet\d+-/ } LBFNet::ns_list()), $ns_before,
   'ip netns list: as before');
is(scalar(grep { /^lbfnet$$-/ } LBFNet::ns_list()), 0,
   'ip netns list: none of ours left');
is(host_links(), $links_before, 'ip link: as before');
is(keepalived_pids(), $ka_before, 'pgrep keepalived: as before');
note(sprintf('t/50_ha_pair.t: %.1f s', time - $T0));
alarm 0;
done_testing;
