# Misconfigurations that were accepted silently (issue 12, item 8) stop
# apache2 -t with their own LBF code and say what to do (a configuration
# that cannot work), or are warned about in the error log at start-up (one
# that works but ignores something).  The good variants pass.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $tmp = tempdir('lbf-misconf-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{LBF_KEEP});
my $key = "$tmp/session.key";
LBFTest::spit($key, "session-secret-0123456789abcdef\n");

sub farm {
    my ($inside, $after) = @_;
    $after //= "ProxyPass /app/ http://farm1/app/\n";
    return "<LBFarm farm1>\n    LBFarmMember m1 http://127.0.0.1:9001\n"
         . "$inside</LBFarm>\n$after";
}

sub fails {
    my ($what, $conf, $re, %opt) = @_;
    my ($rc, $out) = config_test($conf, %opt);
    isnt($rc, 0, "$what: apache2 -t fails");
    like($out, $re, "$what: says so") or diag("config:\n$conf--- out:\n$out");
    unlike($out, qr/Syntax OK/, "$what: no Syntax OK");
}

sub passes {
    my ($what, $conf, %opt) = @_;
    my ($rc, $out) = config_test($conf, %opt);
    is($rc, 0, "$what: apache2 -t passes") or diag("config:\n$conf--- out:\n$out");
    unlike($out, qr/LBF0080[0-5]/, "$what: no LBF0080x line");
}

# --- sessions without a key
fails('LBFarmSticky On without LBFarmSessionKey',
      farm("    LBFarmSticky On\n"),
      qr/LBF00800: <LBFarm farm1> at \S+: LBFarmSticky On needs LBFarmSessionKey.*add "LBFarmSessionKey/);
fails('LBFarmInstructions On without LBFarmSessionKey',
      farm("    LBFarmInstructions On\n"),
      qr/LBF00800: <LBFarm farm1> at \S+: LBFarmInstructions On needs LBFarmSessionKey/);
passes('LBFarmSticky On and LBFarmInstructions On with a key',
       farm("    LBFarmSessionKey $key\n    LBFarmSticky On\n"
          . "    LBFarmInstructions On\n"));
passes('LBFarmSticky Off without a key', farm("    LBFarmSticky Off\n"));

# --- a fallback page proxied back to its own farm
fails('LBFarmDownURL under the farm\'s ProxyPass',
      farm("    LBFarmDownURL /app/down.html\n"),
      qr/LBF00802: <LBFarm farm1> at \S+: LBFarmDownURL "\/app\/down\.html" is proxied back to the farm \(to "http:\/\/farm1\/app\/down\.html"\).*ProxyPass "\/app\/down\.html" !/);
fails('LBFarmOfflineURL under a ProxyPassMatch to the farm',
      farm("    LBFarmOfflineURL /maint.html\n",
           "ProxyPassMatch ^/(.*)\$ http://farm1/\$1\n"),
      qr/LBF00802: .*LBFarmOfflineURL "\/maint\.html" is proxied back/);
fails('LBFarmDownURL under a <Location> ProxyPass in a vhost',
      farm("    LBFarmDownURL /v/down.html\n",
           "<VirtualHost 127.0.0.1:80>\n<Location /v/>\n"
         . "    ProxyPass http://farm1/v/\n</Location>\n</VirtualHost>\n"),
      qr/LBF00802: .*proxied back to the farm in the <VirtualHost> at /);
passes('LBFarmDownURL excluded from the ProxyPass',
       farm("    LBFarmDownURL /app/down.html\n",
            "ProxyPass /app/down.html !\nProxyPass /app/ http://farm1/app/\n"));
passes('LBFarmDownURL outside any ProxyPass, and an absolute one',
       farm("    LBFarmDownURL /down.html\n"
          . "    LBFarmOfflineURL http://status.example/farm1\n"));

# --- our lbmethods without mod_proxy_balancer
{
    local @LBFTest::MODULES = grep { !/^(?:proxy_balancer|lbmethod_)/ }
                              @LBFTest::MODULES;
    fails('lbmethod=weighted without mod_proxy_balancer',
          "<Proxy balancer://b1>\n    BalancerMember http://127.0.0.1:9001\n"
        . "    ProxySet lbmethod=weighted\n</Proxy>\n"
        . "ProxyPass /b/ balancer://b1/\n",
          qr/LBF00804: balancer:\/\/b1 uses lbmethod=weighted but mod_proxy_balancer is not loaded.*a2enmod proxy_balancer/);
    passes('farms need no mod_proxy_balancer', farm(''));
}
passes('lbmethod=weighted with mod_proxy_balancer',
       "<Proxy balancer://b1>\n    BalancerMember http://127.0.0.1:9001\n"
     . "    ProxySet lbmethod=weighted\n</Proxy>\n"
     . "ProxyPass /b/ balancer://b1/\n");

# --- trailing comments: httpd refuses them in its own directives ...
{
    my ($rc, $out) = config_test("ProxyPass /a/ http://127.0.0.1:9/ # c\n",
                                 no_lbfarm => 1);
    isnt($rc, 0, 'stock httpd refuses ProxyPass with a trailing comment');
}
# ... and in ours, with the comment quoted
fails('LBFarmMember with a trailing comment',
      farm("    LBFarmMember m2 http://127.0.0.1:9002 weight=2 # the big one\n"),
      qr/LBF00805: \S+:\d+: LBFarmMember m2 http:\/\/127\.0\.0\.1:9002 weight=2 # the big one: a comment after the arguments \("# the big one"\).*line of its own/);
fails('LBFarmMethod with a trailing comment',
      farm("    LBFarmMethod least-load # fewest in flight\n"),
      qr/LBF00805: .*LBFarmMethod least-load # fewest in flight: .*\("# fewest in flight"\)/);
fails('LBFarmMetric with a trailing comment',
      farm("    LBFarmMethod pushed-metric\n"
         . "    LBFarmMetric cpu 1.0 2 # fraction of CPUs\n"),
      qr/LBF00805: .*\("# fraction of CPUs"\)/);
passes('a quoted "#" is a value, not a comment',
       farm("    LBFarmHealthCheck \"/hc#x\"\n"));
passes('comments on lines of their own',
       farm("    # a comment\n    LBFarmMethod least-load\n"));

# --- warnings at start-up: pushed-load directives a method never reads
my @m = (start_member('m1'));
my $body = "<LBFarm w>\n    LBFarmMethod weighted\n"
         . "    LBFarmMetric cpu 1.0\n    LBFarmHeartbeat On\n"
         . "    LBFarmMember m1 " . $m[0]->url . "\n</LBFarm>\n"
         . "<LBFarm p>\n    LBFarmMethod pushed-metric\n"
         . "    LBFarmMetric cpu 1.0\n    LBFarmLoadSmoothing 0.3\n"
         . "    LBFarmMember m1 " . $m[0]->url . "\n</LBFarm>\n"
         . "<LBFarm t>\n    LBFarmMethod least-load\n"
         . "    LBFarmMetricExpiry 5\n"
         . "    LBFarmMember m1 " . $m[0]->url . "\n</LBFarm>\n"
         . "ProxyPass /w/ http://w/\nProxyPass /p/ http://p/\n"
         . "ProxyPass /t/ http://t/\n";
my $h = start_httpd(body => $body);
is(get($h->url('/w/'))->{status}, 200, 'the farm with ignored directives serves');
my $log = $h->error_log;
like($log, qr/\[lbfarm:warn\].*LBF00803: <LBFarm w> at \S+: LBFarmMetric, LBFarmHeartbeat On ignored: method weighted never reads pushed load \(use LBFarmMethod pushed-metric or least-time, or remove them\)/,
     'LBF00803 for LBFarmMetric and LBFarmHeartbeat on a weighted farm');
like($log, qr/LBF00803: <LBFarm t> at \S+: LBFarmMetricExpiry ignored: method least-load/,
     'LBF00803 for LBFarmMetricExpiry on a least-load farm');
unlike($log, qr/LBF00803: <LBFarm p>/, 'none for the pushed-metric farm');
no_unexpected_errors($h);
$_->stop for @m;
done_testing;
