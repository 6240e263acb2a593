# Loading mod_lbfarm never refuses a configuration stock httpd accepts
# (issue 12, item 10): every file of t/conf/stock/ passes apache2 -t
# without the module (so the corpus really is stock-valid), with it, and
# with it next to a farm.  A ProxyPassMatch target whose host is a farm
# only after substitution routes to the farm's members at request time,
# and a status=H hot standby of a balancer:// shows as tier 1.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $dir = repo_root() . '/t/conf/stock';
opendir(my $dh, $dir) or die "$dir: $!";
my @files = sort grep { /\.conf$/ } readdir $dh;
closedir $dh;
cmp_ok(scalar @files, '>=', 12, 'the corpus has at least 12 configs');
ok((grep { LBFTest::slurp("$dir/$_") =~ /^ProxyPassMatch \(\.\*\) http:\/\/localhost\$1$/m }
    @files), "it has httpd-tests' ProxyPassMatch (.*) http://localhost\$1");

my $farm = "<LBFarm farm1>\n"
         . "    LBFarmMember m1 http://127.0.0.1:9001\n"
         . "</LBFarm>\n"
         . "ProxyPass /farm/ http://farm1/farm/\n";

for my $f (@files) {
    (my $body = LBFTest::slurp("$dir/$f")) =~ s/\@PORT\@/80/g;
    my ($rc, $out) = config_test($body, no_lbfarm => 1);
    is($rc, 0, "$f: apache2 -t without mod_lbfarm") or diag($out);
    ($rc, $out) = config_test($body);
    is($rc, 0, "$f: apache2 -t with mod_lbfarm") or diag($out);
    unlike($out, qr/LBF\d{5}/, "$f: no LBF line");
    ($rc, $out) = config_test($farm . $body);
    is($rc, 0, "$f: apache2 -t with mod_lbfarm and a farm") or diag($out);
}

# Request time: regex targets whose host names the farm after
# substitution reach its members; a balancer:// standby is tier 1.
my @m = map { start_member("m$_") } 1 .. 2;
my @b = map { start_member("b$_") } 1 .. 2;
my $body = "<LBFarm farm1>\n"
         . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url
                          . "\n" } @m)
         . "</LBFarm>\n"
         . "ProxyPass /lbfarm-status !\n"
         . "ProxyPassMatch ^/rx/(farm1)/(.*)\$ http://\$1/\$2\n"
         . "ProxyPassMatch ^/rx2/(.*)\$ http://farm1/\$1\n"
         . "ProxyPassMatch ^/rx3(/.*)\$ http://FARM1\$1\n"
         . "<Proxy balancer://hot>\n"
         . "    BalancerMember " . $b[0]->url . "\n"
         . "    BalancerMember " . $b[1]->url . " status=+H\n"
         . "    ProxySet lbmethod=weighted\n"
         . "</Proxy>\n"
         . "ProxyPass /hot/ balancer://hot/\n"
         . "<Location /lbfarm-status>\n    SetHandler lbfarm-status\n"
         . "</Location>\n";
my $h = start_httpd(body => $body);
for my $p ('/rx/farm1/a', '/rx2/a', '/rx3/a') {
    my %seen;
    for (1 .. 4) {
        my $r = get($h->url($p));
        is($r->{status}, 200, "$p: 200");
        $seen{ $r->{member} // '(none)' }++;
    }
    is_deeply(\%seen, { m1 => 2, m2 => 2 },
              "$p: the substituted farm URL is balanced over its members");
}
my $r = get($h->url('/hot/x'));
is($r->{member}, 'b1', 'balancer://hot: the regular member serves');
my $js = HTTP::Tiny->new(timeout => 5)
    ->get($h->url('/lbfarm-status?format=json'));
is($js->{status}, 200, 'JSON status page');
my $st = eval { decode_json($js->{content}) } || {};
my %tier;
for my $f (@{ $st->{farms} || [] }) {
    for my $mm (@{ $f->{members} || [] }) {
        $tier{ $mm->{name} } = $mm->{tier} if $f->{kind} ne 'farm';
    }
}
is(scalar keys %tier, 2, 'the balancer has two rows') or diag($js->{content});
my $hport = $b[1]->port;
my ($std) = grep { /:\Q$hport\E$/ } keys %tier;  # rows are named host:port
is($tier{$std // ''}, 1, 'the status=H member is tier 1')
    or diag(explain(\%tier));
my ($reg) = grep { $_ ne ($std // '') } keys %tier;
is($tier{$reg // ''}, 0, 'the regular member is tier 0');

no_unexpected_errors($h);
$_->stop for @m, @b;
done_testing;
