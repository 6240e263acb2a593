# mod_heartbeat's UDP beats (LBFarmHeartbeatListen): startup errors; a
# REAL member httpd running Debian's mod_heartbeat (unicast to 127.0.0.1)
# reports its ready/busy slots and the balancer's row load follows them
# (idle, then with slow requests in flight, then idle again); one receiver
# for the whole server (every accepted beat logged by one pid); bad beats
# and beats from no member refused and logged once; several members at one
# address are ambiguous unless the beat names a port; one server in two
# farms gets both rows; and, in a private network namespace with a
# multicast route (root only), the same with multicast 239.0.0.1.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Socket qw(inet_ntoa unpack_sockaddr_in);
use Time::HiRes qw(time sleep);
use LBFTest;

my $HB_SO = '/usr/lib/apache2/modules/mod_heartbeat.so';
plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
plan skip_all => "no $HB_SO (Debian's apache2)" unless -f $HB_SO;

my $F = slow_factor();
my $NETNS = @ARGV && $ARGV[0] eq '--multicast-netns';

# A UDP port that was free on 127.0.0.1 a moment ago.
sub free_udp_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'udp')
        or die "free_udp_port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# Send one datagram to 127.0.0.1:$port (from 127.0.0.1).
sub beat {
    my ($port, $text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'udp', LocalAddr => '127.0.0.1')
        or die "beat: $!";
    send($s, $text, 0) or die "beat send: $!";
    close $s;
}

sub row {
    my ($h, $key) = @_;
    my $rows = LBFTest::status_rows($h) or return {};
    return $rows->{$key} // {};
}

# Lines of $h's error log matching $re.
sub log_lines {
    my ($h, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $h->error_log;
}

# The real member: httpd with mod_heartbeat sending to $addr, proxying
# /slow/ to an lbf_member (slow requests occupy its worker slots).
sub start_hb_member {
    my ($addr, $slow) = @_;
    return start_httpd(
        no_lbfarm => 1, modules => ['heartbeat'],
        body => "HeartbeatAddress $addr\n"
              . "ProxyPass /slow/ " . $slow->url . "/slow/\n");
}

my $STATUS = "ProxyPass /lbfarm-status !\n"
           . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n"
           . "</Location>\n";

# The balancer's farm hb of one member (the heartbeat member) plus farm
# other of $other (no LBFarmHeartbeat).
sub balancer_body {
    my ($listen, $member_url, $other_url) = @_;
    return "LBFarmHeartbeatListen $listen\n"
         . "<LBFarm hb>\n    LBFarmMethod pushed-metric\n"
         . "    LBFarmHeartbeat On\n"
         . "    LBFarmMember hb1 $member_url\n</LBFarm>\n"
         . "<LBFarm other>\n    LBFarmMember o1 $other_url\n</LBFarm>\n"
         . "ProxyPass /hb/ http://hb/hb/\n" . $STATUS;
}

# Waits (bounded) until row hb/hb1 has a fresh load for which $cond is
# true; returns the last load seen ('' when none).
sub wait_load {
    my ($h, $secs, $cond) = @_;
    my $last = '';
    wait_until($secs * $F, sub {
        my $r = row($h, 'hb/hb1');
        return 0 unless defined $r->{load_age_ms} && $r->{load_age_ms} >= 0
            && $r->{load_age_ms} < 3000 * $F;
        $last = $r->{load};
        return $cond->($last);
    }, 0.1);
    return $last;
}

# ---------------------------------------------------------------------
# Inside the private network namespace: multicast only, then exit.

if ($NETNS) {
    my $port = free_udp_port();
    my $slow = start_member('slow');
    my $mh = start_hb_member("239.0.0.1:$port", $slow);
    my $h = start_httpd(loglevel => 'warn lbfarm:info',
                        body => balancer_body("239.0.0.1:$port", $mh->url,
                                              $slow->url));
    ok(scalar log_lines($h, qr/LBF00606: heartbeat receiver on 239\.0\.0\.1:/
                            . qr/$port \(multicast group joined\)/),
       'netns: the receiver joined 239.0.0.1');
    my $load = wait_load($h, 8, sub { 1 });
    like($load, qr/^0\.\d{3}$/, "netns: a multicast beat of the real "
         . "mod_heartbeat set hb1's load ($load)");
    my @reqs = map { start_request($mh->url('/slow/?sleep_ms=4000')) } 1 .. 12;
    $load = wait_load($h, 6, sub { $_[0] >= 0.2 });
    cmp_ok($load, '>=', 0.2, "netns: 12 slow requests on the member raise "
           . "its load ($load)");
    finish_request($_, 10) for @reqs;
    no_unexpected_errors($h);
    $mh->stop;
    done_testing();
    exit 0;
}

# ---------------------------------------------------------------------
# 1. Startup errors: bad address or port, twice, not at server level.

my @bad = (
    ['nonsense', 'invalid address "nonsense": expected IPv4-ADDRESS:PORT'],
    ['239.0.0.1:0', 'invalid port "0" in "239.0.0.1:0" (1..65535)'],
    ['239.0.0.1:99999', 'invalid port "99999"'],
    ['239.0.0.1', 'expected IPv4-ADDRESS:PORT'],
    ['localhost:27999', '"localhost" is not a dotted-quad IPv4 address'],
    ['[::1]:27999', 'IPv6 is not supported'],
    ['239.0.0.1:27999' . "\nLBFarmHeartbeatListen 239.0.0.2:27999",
     'given twice'],
);
for my $b (@bad) {
    my ($rc, $out) = config_test("LBFarmHeartbeatListen $b->[0]\n");
    (my $what = $b->[0]) =~ s/\n/ then /g;
    isnt($rc, 0, "LBFarmHeartbeatListen $what: apache2 -t fails");
    like($out, qr/LBF0060[07]: LBFarmHeartbeatListen: .*\Q$b->[1]\E/,
         "... and says: $b->[1]") or diag($out);
}
{
    my ($rc, $out) = config_test("<VirtualHost 127.0.0.1:8>\n"
                                 . "LBFarmHeartbeatListen 239.0.0.1:27999\n"
                                 . "</VirtualHost>\n");
    isnt($rc, 0, 'LBFarmHeartbeatListen in <VirtualHost>: apache2 -t fails');
    like($out, qr/LBFarmHeartbeatListen cannot occur within <VirtualHost>/,
         '... server level only') or diag($out);
    ($rc, $out) = config_test("LBFarmHeartbeatListen 239.0.0.1:27999\n");
    is($rc, 0, 'LBFarmHeartbeatListen 239.0.0.1:27999: apache2 -t passes')
        or diag($out);
}

# A port already bound: the start fails with LBF00603 (not later, in a
# child).
{
    my $hold = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'udp')
        or die "udp: $!";
    my $port = $hold->sockport;
    my $err = '';
    my $h = eval { start_httpd(body => "LBFarmHeartbeatListen "
                                      . "127.0.0.1:$port\n") };
    $err = $@;
    ok(!$h, "LBFarmHeartbeatListen on a port in use: httpd does not start");
    like($err, qr/\(98\)Address\ already\ in\ use:\ LBF00603:\ LBFarmHeartbeat
                  Listen\ 127\.0\.0\.1:$port\ .*:\ cannot\ bind/x,
         '... LBF00603 names the address and the failed step') or diag($err);
    $h->stop if $h;
    close $hold;
}

# ---------------------------------------------------------------------
# 2. A real member httpd with mod_heartbeat, unicast to 127.0.0.1.

my $udp = free_udp_port();
my $slow = start_member('slow');
my $mh = start_hb_member("127.0.0.1:$udp", $slow);

# What it sends, caught before the balancer takes the port.
{
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $udp, Proto => 'udp')
        or die "udp $udp: $!";
    my $sel = IO::Select->new($s);
    my ($got, $from) = ('', '');
    if ($sel->can_read(5 * $F)) {
        $from = recv($s, $got, 2000, 0);
    }
    close $s;
    like($got, qr/^v=1&ready=\d+&busy=\d+$/, "mod_heartbeat sends "
         . "\"v=1&ready=N&busy=N\" ($got)");
    my (undef, $ip) = $from ? unpack_sockaddr_in($from) : ();
    is($ip ? inet_ntoa($ip) : '', '127.0.0.1', '... from 127.0.0.1');
}

my $h = start_httpd(loglevel => 'warn lbfarm:trace1',
                    body => balancer_body("127.0.0.1:$udp", $mh->url,
                                          $slow->url));

my $idle = wait_load($h, 8, sub { 1 });
like($idle, qr/^0\.\d{3}$/, "the real mod_heartbeat's beats set hb1's load "
     . "($idle)");
cmp_ok($idle, '<', 0.15, "... idle member: low load ($idle)");
is(row($h, 'other/o1')->{load_age_ms}, -1, 'farm without LBFarmHeartbeat '
   . 'On: no load on its member');

my @reqs = map { start_request($mh->url('/slow/?sleep_ms=' . 4000 * $F)) }
           1 .. 12;
my $busy = wait_load($h, 6, sub { $_[0] >= 0.2 });
cmp_ok($busy, '>=', 0.2, "12 slow requests in flight on the member: its "
       . "busy slots raise the load ($busy; 12 of at most 50)");
finish_request($_, 15 * $F) for @reqs;
my $after = wait_load($h, 6, sub { $_[0] < 0.15 });
cmp_ok($after, '<', 0.15, "... and it falls back when they end ($after)");

# Bad beats and a beat naming no member's port: refused, logged once.
beat($udp, 'v=2&ready=1&busy=1') for 1 .. 3;
beat($udp, "v=1&ready=1&busy=1&port=1") for 1 .. 3;
beat($udp, "\x00\x01binary") for 1 .. 2;
wait_until(3 * $F, sub { log_lines($h, qr/LBF00611/) });
sleep 0.5;
is(scalar(log_lines($h, qr/LBF00610: heartbeat from 127\.0\.0\.1 refused: /)),
   1, 'malformed beats (v=2, binary): one LBF00610 line for the source');
is(scalar(log_lines($h, qr/LBF00611: heartbeat from 127\.0\.0\.1 \(port=1\) /
                        . qr/refused: no member/)),
   1, 'a beat naming no member\'s port: one LBF00611 line');

# One receiver for the server: every accepted beat was logged by one pid.
my %pids = map { /\[pid (\d+)/ ? ($1 => 1) : () }
           log_lines($h, qr/LBF00614: heartbeat from 127\.0\.0\.1: farm hb /
                         . qr/member hb1 load/);
cmp_ok(scalar(log_lines($h, qr/LBF00614/)), '>=', 3, 'several beats '
       . 'accepted (LBF00614 at trace1)');
is(scalar(keys %pids), 1, 'all of them by one process (the watchdog '
   . 'singleton): ' . join(' ', sort keys %pids));
cmp_ok(scalar($h->children), '>=', 2, '... while httpd runs '
       . scalar($h->children) . ' children');

# A graceful restart keeps the socket (same address): beats go on.
$h->graceful;
my $t0 = time;
ok(wait_until(6 * $F, sub {
       my $r = row($h, 'hb/hb1');
       my $age = $r->{load_age_ms} // -1;
       return $age >= 0 && time - $age / 1000 > $t0;
   }, 0.1), 'after a graceful restart, new beats still arrive');
is(scalar(log_lines($h, qr/LBF00603/)), 0, '... the socket was kept, not '
   . 'bound again');
no_unexpected_errors($h);
$mh->stop;

# ---------------------------------------------------------------------
# 3. Several members at one address; one server in two farms (by address
#    and by a host name).

my @am = map { start_member("a$_") } 1 .. 2;
my $udp2 = free_udp_port();
$h = start_httpd(body => "LBFarmHeartbeatListen 127.0.0.1:$udp2\n"
    . "<LBFarm amb>\n    LBFarmHeartbeat On\n"
    . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url . "\n" }
           @am)
    . "</LBFarm>\n"
    . "<LBFarm dup>\n    LBFarmHeartbeat On\n"
    . "    LBFarmMember d2 " . $am[1]->url . "\n</LBFarm>\n"
    . "<LBFarm named>\n    LBFarmHeartbeat On\n"
    . "    LBFarmMember n1 http://localhost:" . $am[0]->port . "\n"
    . "</LBFarm>\n" . $STATUS);
my ($p1, $p2) = map { $_->port } @am;
sleep 1.5 * $F; # the singleton takes its mutex
beat($udp2, 'v=1&ready=1&busy=1') for 1 .. 3;
ok(wait_until(3 * $F, sub { log_lines($h, qr/LBF00611: .* ambiguous/) }),
   'a beat with no port from an address of two members: refused as '
   . 'ambiguous');
sleep 0.5;
is(scalar(log_lines($h, qr/LBF00611: .* ambiguous/)), 1, '... logged once');
is(row($h, 'amb/a1')->{load_age_ms}, -1, '... a1 untouched');
is(row($h, 'amb/a2')->{load_age_ms}, -1, '... a2 untouched');

beat($udp2, "v=1&ready=3&busy=1&port=$p2");
ok(wait_until(3 * $F, sub { (row($h, 'amb/a2')->{load} // '') eq '0.250' }),
   'port= names the member: a2 load 0.250 (1 / (3 + 1))');
is(row($h, 'dup/d2')->{load}, '0.250', '... and d2 (the same server in '
   . 'farm dup) too');
is(row($h, 'amb/a1')->{load_age_ms}, -1, '... a1 still untouched');
beat($udp2, "v=1&ready=1&busy=1&port=$p1");
ok(wait_until(3 * $F, sub { (row($h, 'amb/a1')->{load} // '') eq '0.500' }),
   'port= of a1: a1 load 0.500');
is(row($h, 'named/n1')->{load}, '0.500', '... and n1, whose URL names the '
   . 'same server as localhost (resolved at start-up)');
no_unexpected_errors($h);

# ---------------------------------------------------------------------
# 4. Multicast: 239.0.0.1 in a private network namespace whose loopback
#    has a route for it (the host's network is left alone).

SKIP: {
    skip 'multicast: needs root, unshare(1) and ip(8)', 3
        unless $> == 0 && -x '/usr/bin/unshare' && -x '/usr/sbin/ip';
    my $log = LBFTest::make_dir() . '/netns.out';
    my $inner = 'ip link set lo up && ip link set lo multicast on '
              . '&& ip route add 239.0.0.0/8 dev lo src 127.0.0.1 && exec "$@"';
    my $pid = LBFTest::spawn(
        argv => ['timeout', 120 * $F, 'unshare', '--net', '--', 'sh', '-c',
                 $inner, 'sh', $^X, '-I', LBFTest::repo_root() . '/t/lib',
                 $0, '--multicast-netns'],
        log => $log, what => 'multicast netns test');
    my $st = LBFTest::reap($pid, 150 * $F);
    LBFTest::terminate($pid, 5) unless defined $st;
    my $out = LBFTest::slurp($log);
    if ($out =~ /unshare failed|Operation not permitted/) {
        skip "multicast: cannot make a network namespace here", 3;
    }
    is($st, 0, 'multicast run in a private network namespace passed')
        or diag($out);
    like($out, qr/^ok \d+ - netns: a multicast beat/m, '... a multicast beat '
         . 'of the real mod_heartbeat reached the balancer');
    unlike($out, qr/^not ok/m, '... no failed check') or diag($out);
}

done_testing();
