# Requests that stock mod_proxy owns stay stock with the module loaded
# (issue 12 item 10).  A "unix:/path|http://app/" target whose host is
# also a farm's name goes to the socket, never to the farm: mod_proxy
# hands the pre_request hook only the part after "|" (the socket is in
# r->notes), which alone reads like a farm URL.  The farm itself still
# serves its own ProxyPass.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $m = start_member('m1');
my $dir = tempdir('lbf-uds-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sock = "$dir/app.sock";
my $h = start_httpd(body => <<"CONF");
<LBFarm app>
    LBFarmMember m1 ${\ $m->url }
</LBFarm>
ProxyPass /app/ http://app/app/
ProxyPass /sock/ "unix:$sock|http://app/"
CONF

my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
my $r = $ua->get($h->url('/app/x'));
is($r->{status}, 200, 'the farm serves its own ProxyPass');
is($r->{headers}{'x-member'}, 'm1', '... from its member');

# No one listens on the socket: stock mod_proxy answers 503 for it.
$r = $ua->get($h->url('/sock/x'));
isnt($r->{headers}{'x-member'} // '', 'm1',
     'a unix: socket target named like the farm does not reach the farm');
is($r->{status}, 503, '... stock mod_proxy answers 503 (nothing on the '
   . 'socket)');

no_unexpected_errors($h, qr/AH02454|AH00957|AH00959|AH01114|AH00940/);
$m->stop;
done_testing;
