# The module is built and httpd accepts a minimal farm configuration.
use strict;
use warnings;
use Test::More;
use LBFTest;

my $so = module_path();
ok(-f $so, "module exists: $so") or BAIL_OUT("module not built: run make");
ok(-x member_path(), 'member server exists: ' . member_path());

my ($rc, $out) = config_test(<<'CONF');
<LBFarm farm1>
    LBFarmMember m1 http://127.0.0.1:9001
    LBFarmMember m2 http://127.0.0.1:9002 weight=2
</LBFarm>
ProxyPass        /app/ http://farm1/app/
ProxyPassReverse /app/ http://farm1/app/
CONF
is($rc, 0, 'apache2 -t exits 0 on a minimal farm config') or diag($out);
like($out, qr/Syntax OK/, 'apache2 -t says Syntax OK');
unlike($out, qr/AddressSanitizer|runtime error:/, 'no sanitizer report');

done_testing;
