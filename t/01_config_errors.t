# Every bad configuration of CONTRACT.md "Startup errors" stops apache2 -t
# with a non-zero exit and the quoted message; good ones pass.
use strict;
use warnings;
use Test::More;
use LBFTest;

plan skip_all => 'module not built' unless -f module_path();

sub farm {
    my ($inside, $after) = @_;
    $after //= "ProxyPass /app/ http://farm1/app/\n";
    return "<LBFarm farm1>\n$inside</LBFarm>\n$after";
}

my $two = "    LBFarmMember m1 http://127.0.0.1:9001\n"
        . "    LBFarmMember m2 http://127.0.0.1:9002\n";

my @bad = (
    [ 'non-numeric weight',
      farm("    LBFarmMember m1 http://127.0.0.1:1 weight=abc\n"),
      'invalid weight "abc"' ],
    [ 'same member name twice',
      farm("    LBFarmMember m1 http://127.0.0.1:9001\n"
         . "    LBFarmMember m1 http://127.0.0.1:9002\n"),
      'duplicate member "m1"' ],
    [ 'same URL twice',
      farm("    LBFarmMember m1 http://127.0.0.1:9001\n"
         . "    LBFarmMember m2 http://127.0.0.1:9001\n"),
      'duplicate member URL "http://127.0.0.1:9001"' ],
    [ 'unparseable URL',
      farm("    LBFarmMember m1 http//nope\n"),
      'cannot parse member URL "http//nope"' ],
    [ 'unsupported scheme',
      farm("    LBFarmMember m1 ftp://x:1\n"),
      'unsupported scheme "ftp"' ],
    [ 'unknown method',
      farm("    LBFarmMethod fastest\n$two"),
      'unknown method "fastest" (known: weighted, least-load, pushed-metric, least-time, hash)' ],
);

for my $case (@bad) {
    my ($what, $conf, $msg) = @$case;
    my ($rc, $out) = config_test($conf);
    isnt($rc, 0, "$what: apache2 -t exits non-zero");
    ok(index($out, $msg) >= 0, "$what: output has '$msg'")
        or diag("config:\n$conf--- output:\n$out");
    unlike($out, qr/Syntax OK/, "$what: no 'Syntax OK'");
    unlike($out, qr/AddressSanitizer|runtime error:|Segmentation fault/,
           "$what: no crash");
}

my @good = (
    [ 'weighted farm with options',
      farm("    LBFarmMethod weighted\n    LBFarmRetry 5\n"
         . "    LBFarmMember m1 http://127.0.0.1:9001 weight=3 retry=10\n"
         . "    LBFarmMember m2 http://127.0.0.1:9002/base weight=100\n"
         . "    LBFarmMember m3 http://127.0.0.1:9003 standby\n",
           "ProxyPass /app/ http://farm1/app/\n"
         . "ProxyPassReverse /app/ http://farm1/app/\n") ],
    [ 'least-load farm, two farms',
      farm("    LBFarmMethod least-load\n$two",
           "<LBFarm farm_two>\n"
         . "    LBFarmMember a http://127.0.0.1:9011\n</LBFarm>\n"
         . "ProxyPass /app/ http://farm1/app/\n"
         . "ProxyPass /x/ http://farm_two/x/\n") ],
    [ 'ordinary proxies are not farm references',
      farm($two, "ProxyPass /app/ http://farm1/app/\n"
               . "ProxyPass /l/ http://localhost/l/\n"
               . "ProxyPass /p/ http://backend:8080/p/\n"
               . "ProxyPass /d/ http://example.com/d/\n") ],
);

for my $case (@good) {
    my ($what, $conf) = @$case;
    my ($rc, $out) = config_test($conf);
    is($rc, 0, "$what: apache2 -t exits 0")
        or diag("config:\n$conf--- output:\n$out");
    like($out, qr/Syntax OK/, "$what: Syntax OK");
}

# A port-less single-label host that names no farm is a plain host to
# stock httpd (a container's service name): accepted, with a warning in
# case a farm was meant (issue 12 item 10: never refuse a config stock
# httpd accepts).
{
    my ($rc, $out) = config_test(farm($two, "ProxyPass /app/ http://farm1/app/\n"
                                          . "ProxyPass /x/ http://farm_two/x/\n"));
    is($rc, 0, 'ProxyPass to a host named like a farm: apache2 -t exits 0')
        or diag($out);
    like($out, qr/Syntax OK/, '... Syntax OK');
    like($out, qr/LBF00001: ProxyPass "\/x\/" "http:\/\/farm_two\/x\/": no LBFarm named "farm_two", so it goes to the host "farm_two"/,
         '... and warns that no farm has that name (LBF00001)');
}

done_testing;
