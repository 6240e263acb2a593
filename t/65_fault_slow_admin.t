# Fault drill (issue 12 item 13): 200 slow connections on the admin
# listener do not stop the traffic port, with the settings README's
# "Running it in production" shows: the status page on a Listen and
# <VirtualHost> of its own with RequestReadTimeout header=5-10,MinRate=500,
# and MaxRequestWorkers 400 (16 x 25 threads).  Each slow connection sends
# its request line, then one header byte every 0.5 s.  While they hang
# on, every request on the traffic port is answered 200 within 2 s; the
# slow connections are closed by httpd within the timeout (10 s at most,
# checked at 14 s); and the admin listener answers again afterwards.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
plan skip_all => 'mod_reqtimeout not installed'
    unless -f "$LBFTest::MODDIR/mod_reqtimeout.so";

my $F = slow_factor();
my $SLOW = 200;
$SIG{PIPE} = 'IGNORE';    # httpd closes the slow ones under our writes
my @m = map { start_member($_) } qw(m1 m2);
my $admin_port = free_port();
my $h = start_httpd(modules => ['reqtimeout', 'authz_host'], body => <<"CONF");
<IfModule mpm_event_module>
    StartServers      16
    ServerLimit       16
    ThreadsPerChild   25
    MaxRequestWorkers 400
</IfModule>
<LBFarm f>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
ProxyPass /app/ http://f/app/
Listen 127.0.0.1:$admin_port
<VirtualHost 127.0.0.1:$admin_port>
    ServerName 127.0.0.1
    RequestReadTimeout handshake=5 header=5-10,MinRate=500 body=5,MinRate=500
    KeepAliveTimeout 2
    <Location /lbfarm-status>
        SetHandler lbfarm-status
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
CONF
my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
is($ua->get("http://127.0.0.1:$admin_port/lbfarm-status?format=text")
   ->{status}, 200, 'the admin listener serves the status page');

my @slow;
for (1 .. $SLOW) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $admin_port, Proto => 'tcp',
                                  Timeout => 2) or last;
    $s->blocking(0);
    syswrite $s, "GET /lbfarm-status HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    push @slow, $s;
}
is(scalar @slow, $SLOW, "$SLOW slow connections to the admin listener");

my ($worst, $bad, $n, $next_byte) = (0, 0, 0, time);
my $t0 = time;
while (time < $t0 + 8) {
    if (time >= $next_byte) {            # one byte each, every 0.5 s
        syswrite $_, 'X' for @slow;
        $next_byte = time + 0.5;
    }
    my $t = time;
    my $r = $ua->get($h->url('/app/'));
    my $took = time - $t;
    $n++;
    $bad++ unless $r->{status} == 200;
    $worst = $took if $took > $worst;
    sleep 0.1;
}
is($bad, 0, "traffic port: $n requests in 8 s, all 200");
cmp_ok($worst, '<', 2 * $F, 'traffic port: the slowest took '
       . sprintf('%.2f', $worst) . ' s (under 2 s)');

# httpd closes them: a read returns 0 (EOF) or an error
my $closed = 0;
my %open = map { $_ => $_ } @slow;
wait_until(14 * $F - (time - $t0), sub {
    for my $k (keys %open) {
        my $s = $open{$k};
        syswrite $s, 'X';
        my $buf;
        my $got = sysread($s, $buf, 4096);
        if ((defined $got && $got == 0)
            || (!defined $got && !$!{EAGAIN} && !$!{EWOULDBLOCK})
            || (defined $got && $buf =~ /^HTTP\/1\.1 408/)) {
            delete $open{$k};
            $closed++;
        }
    }
    return !%open;
}, 0.25);
is($closed, $SLOW, "httpd closed all $SLOW slow connections within "
   . sprintf('%.1f', time - $t0) . ' s (RequestReadTimeout)');
close $_ for @slow;
is($ua->get("http://127.0.0.1:$admin_port/lbfarm-status?format=text")
   ->{status}, 200, 'the admin listener answers again');
# mod_reqtimeout logs each timeout at info; httpd may log AH00484 /
# AH03490 (scoreboard full) at error if threads ran out: not allowed.
no_unexpected_errors($h);
$_->stop for @m;
done_testing;
