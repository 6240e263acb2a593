# weighted: the exact SWRR schedule, the weight shares over 3000 requests,
# and ProxyPassReverse mapping a member's redirect back to the front.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @w = (3, 2, 1);
my @m = map { start_member("m$_") } 1 .. 3;

my $farm = "<LBFarm farm1>\n    LBFarmMethod weighted\n"
         . join('', map { "    LBFarmMember $m[$_]{name} " . $m[$_]->url
                          . " weight=$w[$_]\n" } 0 .. $#m)
         . "</LBFarm>\n"
         . "ProxyPass        /app/ http://farm1/app/\n"
         . "ProxyPassReverse /app/ http://farm1/app/\n";
my $h = start_httpd(body => $farm);
my $url = $h->url('/app/');

# 1. One client against a fresh server: the exact schedule.
new_client();
my @want = map { $m[$_]->name } swrr_schedule(12, @w);
is_deeply([ @want[0 .. 5] ], [qw(m1 m2 m1 m3 m2 m1)],
          'harness SWRR of {3,2,1} is a b a c b a');
my @got = map { get($url)->{member} // '(none)' } 1 .. 12;
is_deeply([ @got[0 .. 5] ], [ @want[0 .. 5] ],
          'first 6 X-Member follow the SWRR schedule')
    or diag("got @got[0..5], want @want[0..5]");
is_deeply(\@got, \@want, 'the schedule repeats with period 6');

# 2. 3000 requests (500 periods after the 12 above): the weight shares.
my $n = 3000;
my $t0 = time;
my ($c, $bad) = count_members($url, $n);
is(scalar @$bad, 0, "all $n requests 200") or diag("@$bad[0 .. 4]");
my $total = 0;
$total += $_ for @w;
for my $i (0 .. $#m) {
    my $name = $m[$i]->name;
    my $share = ($c->{$name} // 0) / $n;
    my $want = $w[$i] / $total;
    ok(abs($share - $want) <= 0.02,
       sprintf('%s share %.4f within 2%% of %.4f', $name, $share, $want))
        or diag(explain($c));
    # 3000 is a multiple of the period: the implementation is exact.
    is($c->{$name} // 0, $n * $w[$i] / $total, "$name served exactly "
       . ($n * $w[$i] / $total));
}
is(join(',', sort keys %$c), 'm1,m2,m3', 'only farm members answered');
note(sprintf('%d requests in %.1f s', $n, time - $t0));

# 3. The request reaches the member with its path and method.
my $r = get($h->url('/app/some/path?x=1'));
is($r->{status}, 200, 'GET /app/some/path 200');
like($r->{body}, qr{^member=m\d method=GET uri=/app/some/path\?x=1 },
     'member saw the proxied URI');

# 4. ProxyPassReverse: a member's redirect points at the front.
my $front = $h->port;
$r = get($h->url('/app/?redirect=/app/next'));
is($r->{status}, 302, 'redirect passes through as 302');
my $loc = $r->{headers}{location} // '';
is($loc, "http://127.0.0.1:$front/app/next",
   'Location is rewritten to the front');
for my $mm (@m) {
    unlike($loc, qr/:\Q${\ $mm->port }\E\b/,
           'Location names no member port (' . $mm->name . ')');
}
unlike($loc, qr{//farm1\b}, 'Location does not leak the farm name');

no_unexpected_errors($h);
$_->stop for @m;
done_testing;
