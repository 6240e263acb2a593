# Our methods as mod_proxy lbmethod providers in stock balancer:// configs.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $SLOW_MS = 3000;
my @s = map { start_member($_) } qw(s1 s2);      # balancer://stock
my @l = map { start_member($_) } qw(l1 l2);      # balancer://stockll

my $body = <<"CONF";
<Proxy balancer://stock>
    BalancerMember ${\ $s[0]->url } loadfactor=3
    BalancerMember ${\ $s[1]->url } loadfactor=1
    ProxySet lbmethod=weighted
</Proxy>
<Proxy balancer://stockll>
    BalancerMember ${\ $l[0]->url }
    BalancerMember ${\ $l[1]->url }
    ProxySet lbmethod=least-load
</Proxy>
ProxyPass /stock/   balancer://stock/
ProxyPass /stockll/ balancer://stockll/
CONF
my $h = start_httpd(body => $body);

# weighted: loadfactor 3:1 over 400 requests.
new_client();
my ($c, $bad) = count_members($h->url('/stock/'), 400);
is(scalar @$bad, 0, 'weighted: 400 requests all 200') or diag("@$bad[0..4]");
is(($c->{s1} // 0) + ($c->{s2} // 0), 400, 'weighted: all served by s1/s2')
    or diag(explain($c));
ok(abs(($c->{s1} // 0) / 400 - 0.75) <= 0.02,
   'weighted: s1 share within 2% of 3/4 (' . ($c->{s1} // 0) . ')');
ok(abs(($c->{s2} // 0) / 400 - 0.25) <= 0.02,
   'weighted: s2 share within 2% of 1/4 (' . ($c->{s2} // 0) . ')');
my $r = get($h->url('/stock/x/y?z=1'));
like($r->{body}, qr{ uri=/x/y\?z=1 }, 'weighted: member saw the mapped URI');

# least-load: all 200, both used when idle, slow request steering.
my $ll = $h->url('/stockll/');
($c, $bad) = count_members($ll, 40);
is(scalar @$bad, 0, 'least-load: 40 requests all 200');
is(scalar keys %$c, 2, 'least-load: both members used when idle')
    or diag(explain($c));

my $t0 = time;
my $slow = start_request("${ll}?sleep_ms=$SLOW_MS");
sleep 0.4 * slow_factor();
my ($f, $fbad) = count_members($ll, 30);
my $elapsed = time - $t0;
my $sr = finish_request($slow, $SLOW_MS / 1000 + 10);
is($sr->{status}, 200, 'least-load: slow request 200') or diag($sr->{raw});
is(scalar @$fbad, 0, 'least-load: 30 fast requests all 200');
ok($elapsed < $SLOW_MS / 1000 - 0.3,
   sprintf('fast requests ran while the slow one was in flight (%.2f s)',
           $elapsed));
my ($other) = grep { $_ ne ($sr->{member} // '?') } qw(l1 l2);
is_deeply($f, { $other => 30 },
          'least-load: all 30 fast requests on the member without the slow '
          . "one ($other)") or diag(explain($f));

no_unexpected_errors($h);
$_->stop for @s, @l;
done_testing;
