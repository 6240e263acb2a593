# No herding, every method: three identical real members behind a farm of
# each method (weighted, least-load, pushed-metric, least-time), the
# members' pushed reports 0.001 apart (0.500 / 0.501 / 0.502), one and
# eight connections: every member within 5 % of a third of the requests.
# Before near-equal scores were drawn at random, pushed-metric sent
# 3000/0/0 at one connection and 52/29/19 % at eight.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

# Requests per method and concurrency.  With random ties a member's share
# is binomial: at 12000, 5 % of a third is 3.9 standard deviations.
my $N = $ENV{LBF_FAIRNESS_N} // 12000;
my @METHODS = qw(weighted least-load pushed-metric least-time);

my $tmp = tempdir('lbf-fair-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;
my $secret = 'fairness-secret-' . join('', map { int rand 10 } 1 .. 16);
my $secret_file = "$tmp/farm.secret";
{
    open my $fh, '>', $secret_file or die "$secret_file: $!";
    print {$fh} "$secret\n";
    close $fh;
}
chmod 0644, $secret_file;

my @m = map { start_member("m$_") } 1 .. 3;

sub farm_name { my ($method) = @_; (my $n = "f_$method") =~ tr/-/_/; $n }

my $body = '';
for my $method (@METHODS) {
    my $f = farm_name($method);
    $body .= "<LBFarm $f>\n    LBFarmMethod $method\n"
           . "    LBFarmPushKey $secret_file\n"
           . "    LBFarmMetricBlackout 0\n"
           . "    LBFarmMetricExpiry 3600\n"
           . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url
                            . "\n" } @m)
           . "</LBFarm>\n"
           . "ProxyPass /$f/ http://$f/\n";
}
# least-time as a stock balancer:// lbmethod too.
$body .= "<Proxy balancer://blt>\n"
       . join('', map { "    BalancerMember " . $_->url . "\n" } @m)
       . "    ProxySet lbmethod=least-time\n</Proxy>\n"
       . "ProxyPass /blt/ balancer://blt/\n";
$body .= "ProxyPass /lbfarm-push !\n"
       . "<Location /lbfarm-push>\n    SetHandler lbfarm-push\n"
       . "    Require ip 127.0.0.1\n</Location>\n";
my $h = start_httpd(body => $body, modules => ['authz_host']);

# The reports: 0.500, 0.501, 0.502 to every farm (only pushed-metric and
# least-time read them).
my $push_bad = 0;
for my $method (@METHODS) {
    my $f = farm_name($method);
    for my $i (0 .. 2) {
        my $mm = $m[$i]->name;
        my $q = LBFTest::push_query(
            key => LBFTest::push_member_key($secret, $mm), farm => $f,
            member => $mm, metrics => [ cpu => sprintf('0.%03d', 500 + $i) ]);
        my $r = get($h->url("/lbfarm-push?$q"));
        $push_bad++ unless $r->{status} == 200;
    }
}
is($push_bad, 0, 'every report (0.500 / 0.501 / 0.502) accepted');

# Warm-up: every farm reaches every member (connections, first samples).
for my $method (@METHODS) {
    my ($c) = count_members($h->url('/' . farm_name($method) . '/'), 30);
    is(scalar keys %$c, 3, "$method: warm-up reaches all three members")
        or diag(explain($c));
}

sub shares_ok {
    my ($what, $c, $bad) = @_;
    is(scalar @$bad, 0, "$what: all 200") or diag("@$bad[0 .. 4]");
    my $total = 0;
    $total += $c->{$_} // 0 for map { $_->name } @m;
    my $fair = $total / 3;
    my @off = grep { abs(($c->{$_} // 0) - $fair) > 0.05 * $fair }
              map { $_->name } @m;
    ok(!@off && $total >= 0.99 * $N,
       sprintf('%s: shares %s of %d (each within 5 %% of %.0f)', $what,
               join('/', map { $c->{ $_->name } // 0 } @m), $total, $fair))
        or diag(explain($c));
}

for my $method (@METHODS) {
    my $url = $h->url('/' . farm_name($method) . '/');
    my $t0 = time;
    new_client();
    my ($c1, $bad1) = count_members($url, $N);
    shares_ok("$method, 1 connection", $c1, $bad1);
    my ($c8, $bad8) = LBFTest::parallel_counts($url, clients => 8,
                                               total => $N, timeout => 60);
    shares_ok("$method, 8 connections", $c8, $bad8);
    note(sprintf('%s: %.1f s', $method, time - $t0));
}

# balancer:// with lbmethod=least-time: the same pick, every member used.
{
    new_client();
    my ($c, $bad) = count_members($h->url('/blt/'), 3000);
    is(scalar @$bad, 0, 'balancer:// lbmethod=least-time: all 200');
    ok(!grep({ ($c->{ $_->name } // 0) < 750 } @m),
       'balancer:// lbmethod=least-time: every member gets a fair part ('
       . join('/', map { $c->{ $_->name } // 0 } @m) . ' of 3000)')
        or diag(explain($c));
}

no_unexpected_errors($h);
$_->stop for @m;
done_testing;
