# Two httpd instances on one host, with the same farm configuration, never
# share or collide: each has its own (anonymous) segment, so each counts
# and balances only its own requests.
use strict;
use warnings;
use Test::More;
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(m1 m2);
my $body = <<"CONF";
<LBFarm farm1>
    LBFarmMember m1 ${\ $m[0]->url } weight=3
    LBFarmMember m2 ${\ $m[1]->url } weight=1
</LBFarm>
ProxyPass /app/ http://farm1/app/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF

my $a = start_httpd(body => $body);
my $b = start_httpd(body => $body);
isnt($a->port, $b->port, 'two instances on two ports');

my ($ca, $bad_a) = count_members($a->url('/app/'), 400);
is_deeply($ca, { m1 => 300, m2 => 100 }, 'instance A: exact 300/100')
    or diag(explain($ca));
my ($cb, $bad_b) = count_members($b->url('/app/'), 40);
is_deeply($cb, { m1 => 30, m2 => 10 },
          'instance B: its own schedule from its own cursor, exact 30/10')
    or diag(explain($cb));

my $ra = LBFTest::status_rows($a) // {};
my $rb = LBFTest::status_rows($b) // {};
is($ra->{'farm1/m1'}{requests}, 300, 'A counted its own 300 on m1');
is($rb->{'farm1/m1'}{requests}, 30, 'B counted its own 30 on m1');

no_unexpected_errors($a);
no_unexpected_errors($b);
$_->stop for @m;
done_testing;
