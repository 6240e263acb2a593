# The administration's same-origin rule compares the request's Origin (or
# Referer) with the origins the server answers for -- the ServerName and
# ServerAlias names of the virtual host serving the page (wildcards too),
# or its LBFarmStatusOrigin list -- never with the Host header the client
# sent.  DNS rebinding: a page of evil.example whose name now resolves to
# this server sends Host: evil.example with a matching Origin and a valid
# nonce (it can read the page: same origin, as far as the browser knows);
# that is refused 403 and changes nothing.  Also: a member added on the
# page must have a host that can name a server (400 for "<b>", never a
# 500 later), and LBFarmStatusOrigin's values are checked at start-up.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(m1 m2);
my $vport = free_port();
my $h = start_httpd(body => <<"CONF");
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
ProxyPass /lbfarm-status !
ProxyPass /web/ http://web/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
# a name-based virtual host of its own names
Listen 127.0.0.1:$vport
<VirtualHost 127.0.0.1:$vport>
    ServerName lb.example
    ServerAlias alias.example *.wild.example
</VirtualHost>
CONF
my $P = $h->port;
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);

# A session of httpd $h: ($sid, $nonce) from its HTML page.
my ($sid, $nonce);
sub session {
    my $r = $ua->get($h->url('/lbfarm-status'));
    ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    ($nonce) = ($r->{content} // '') =~ /name="nonce" value="(\w+)"/;
    like($nonce // '', qr/^[0-9a-f]{64}$/, 'a session and its nonce');
}
session();

# raw_post($port, $host_header, $body, header => value (undef: omit)):
# a POST to /lbfarm-status with the Host header we choose (HTTP::Tiny
# will not send one), read for at most 10 s.  -> {status, content}
sub raw_post {
    my ($port, $host, $body, %hdr) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return { status => 0, content => "connect: $!" };
    my $req = "POST /lbfarm-status HTTP/1.1\r\nHost: $host\r\n"
        . "Connection: close\r\nCookie: lbfstatus_sid=$sid\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . 'Content-Length: ' . length($body) . "\r\n";
    $req .= "$_: $hdr{$_}\r\n" for grep { defined $hdr{$_} } sort keys %hdr;
    print {$s} "$req\r\n$body";
    my ($resp, $sel, $deadline) = ('', IO::Select->new($s), time + 10);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        last unless sysread($s, my $buf, 65536);
        $resp .= $buf;
    }
    close $s;
    my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    my ($content) = $resp =~ /\r\n\r\n(.*)\z/s;
    return { status => $status // 0, content => $content // '' };
}

sub weight_of { (LBFTest::status_rows($h)->{"web/$_[0]"} // {})->{weight} // '(none)' }
sub weigh { "nonce=$nonce&action=member-weight&farm=web&member=m1&weight=$_[0]" }

# The page's own origin works.
is(raw_post($P, "127.0.0.1:$P", weigh(4), Origin => "http://127.0.0.1:$P")
       ->{status}, 303, 'Origin = ServerName and port: 303');
is(weight_of('m1'), 4, 'm1 weighs 4');

# DNS rebinding: Host and Origin agree, and both are the attacker's name.
my $x = raw_post($P, "evil.example:$P", weigh(7),
                 Origin => "http://evil.example:$P");
is($x->{status}, 403, 'Host: evil.example + Origin http://evil.example + '
   . 'valid nonce: 403');
like($x->{content}, qr/^origin: refused/, 'says why');
is(weight_of('m1'), 4, 'and m1 still weighs 4');
is(raw_post($P, 'evil.example', weigh(7), Origin => 'http://evil.example')
       ->{status}, 403, 'the same on the default port: 403');
is(raw_post($P, "evil.example:$P", weigh(7), Origin => undef,
            Referer => "http://evil.example:$P/lbfarm-status")->{status},
   403, 'the same with only a Referer: 403');
is(raw_post($P, "127.0.0.1:$P", weigh(7), Origin => "http://evil.example:$P")
       ->{status}, 403, 'a foreign Origin with the right Host: 403');
is(weight_of('m1'), 4, 'm1 still weighs 4');

# A virtual host answers for its own names, wildcards included, on the
# port it was reached on -- and not for the main server's.
is(raw_post($vport, "alias.example:$vport", weigh(5),
            Origin => "http://alias.example:$vport")->{status}, 303,
   'virtual host: its ServerAlias: 303');
is(weight_of('m1'), 5, 'm1 weighs 5');
is(raw_post($vport, "x.wild.example:$vport", weigh(6),
            Origin => "http://x.wild.example:$vport")->{status}, 303,
   'virtual host: a name of its wildcard ServerAlias: 303');
is(raw_post($vport, "lb.example:$vport", weigh(3),
            Origin => "http://lb.example:$vport")->{status}, 303,
   'virtual host: its ServerName: 303');
is(weight_of('m1'), 3, 'm1 weighs 3');
for my $o ("http://127.0.0.1:$vport", "http://lb.example:$P",
           "https://lb.example:$vport", "http://wild.example:$vport") {
    is(raw_post($vport, "127.0.0.1:$vport", weigh(9), Origin => $o)
           ->{status}, 403, "virtual host: Origin $o: 403");
}
is(weight_of('m1'), 3, 'none of those changed m1');

###########################################################################
# Member hosts: validated as names or addresses

for my $url ('http://<b>:80', 'http://-x:80', 'http://1.2.3:80',
             'http://a..b:80') {
    (my $enc = $url) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    my $a = raw_post($P, "127.0.0.1:$P",
                     "nonce=$nonce&action=member-add&farm=web&member=m9"
                     . "&url=$enc", Origin => "http://127.0.0.1:$P");
    is($a->{status}, 400, "add a member at $url: 400");
    like($a->{content}, qr/^url: invalid host "[^"]*" \(expected a host name/,
         'with a clear message');
}
ok(!LBFTest::status_rows($h)->{'web/m9'}, 'no member m9');
my ($c) = count_members($h->url('/web/'), 8);
is_deeply($c, { m1 => 6, m2 => 2 }, 'the farm serves (weights 3:1), no 500');

no_unexpected_errors($h);
$h->stop;

###########################################################################
# LBFarmStatusOrigin: a list instead of the names

my $h2 = start_httpd(body => <<"CONF");
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url }
</LBFarm>
ProxyPass /lbfarm-status !
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
# behind a TLS-terminating proxy: the browser says https://lb.example.com
LBFarmStatusOrigin https://lb.example.com
LBFarmStatusOrigin http://admin.example:8080
CONF
$P = $h2->port;
$h = $h2;
session(); # another server start: another key
for my $t (['https://lb.example.com', 303], ['http://admin.example:8080', 303],
           ["http://127.0.0.1:$P", 403], ['http://lb.example.com', 403],
           ['https://lb.example.com:8443', 403]) {
    is(raw_post($P, "127.0.0.1:$P", weigh(2), Origin => $t->[0])->{status},
       $t->[1], "LBFarmStatusOrigin: Origin $t->[0]: $t->[1]");
}
is(weight_of('m1'), 2, 'm1 weighs 2');
no_unexpected_errors($h2);
$h2->stop;

for my $t (['LBFarmStatusOrigin lb.example.com', qr/LBFarmStatusOrigin: invalid origin "lb\.example\.com"/],
           ['LBFarmStatusOrigin http://lb.example.com/status', qr/invalid origin "http:\/\/lb\.example\.com\/status"/],
           ['LBFarmStatusOrigin http://*.example.com', qr/invalid origin "http:\/\/\*\.example\.com"/],
           ["<Location /x>\n    LBFarmStatusOrigin http://a\n</Location>", qr/LBFarmStatusOrigin not allowed in <Location> context/]) {
    my ($rc, $out) = config_test("$t->[0]\n");
    isnt($rc, 0, "refused at start-up: $t->[0]");
    like($out, $t->[1], 'quoting the value');
}

$_->stop for @m;
done_testing;
