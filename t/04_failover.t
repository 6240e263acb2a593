# A member refusing connections: requests (GET and POST) are retried on the
# live members, never fail, and the dead member's slots go elsewhere; a
# member back after its retry period is picked again.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $dead_port = free_port();          # nothing listens there
my $late_port = free_port();          # a member starts there later
my @live = map { start_member($_) } qw(m2 m3);
my $c1 = start_member('c1');

my $body = <<"CONF";
<LBFarm farm1>
    LBFarmMethod weighted
    LBFarmMember m1 http://127.0.0.1:$dead_port
    LBFarmMember m2 ${\ $live[0]->url }
    LBFarmMember m3 ${\ $live[1]->url }
</LBFarm>
<LBFarm farm2>
    LBFarmRetry 1
    LBFarmMember c1 ${\ $c1->url }
    LBFarmMember late http://127.0.0.1:$late_port
</LBFarm>
ProxyPass /app/ http://farm1/app/
ProxyPass /two/ http://farm2/two/
CONF
my $h = start_httpd(body => $body);
my $url = $h->url('/app/');

# 1. The very first pick of {1,1,1} is m1, the dead one: a POST must still
#    arrive whole at a live member.
new_client();
my $payload = 'hello=world&n=12345';
my $r = post($url, $payload);
is($r->{status}, 200, 'first request (POST, dead member first) 200');
like($r->{member} // '', qr/^m[23]$/, 'POST served by a live member');
like($r->{body}, qr/ method=POST uri=\/app\/ body_len=${\ length $payload }$/m,
     'the member received the whole POST body');

# 2. 300 GETs on one keep-alive connection.
my ($c, $bad) = count_members($url, 300);
is(scalar @$bad, 0, '300 GETs all 200') or diag("@$bad[0 .. 4]");
ok(!$c->{m1}, 'none served by the dead member');
is(($c->{m2} // 0) + ($c->{m3} // 0), 300, 'all 300 served by m2 + m3')
    or diag(explain($c));
for my $m (qw(m2 m3)) {
    ok(($c->{$m} // 0) >= 90, "$m got at least its own third (" .
       ($c->{$m} // 0) . ')') or diag(explain($c));
}

# 3. 60 GETs on fresh connections (spread over httpd's children): the
#    member's error state is shared.
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);
my (%fc, @fbad);
for (1 .. 60) {
    my $x = $ua->get($url);
    $x->{status} == 200 ? $fc{ $x->{headers}{'x-member'} // '(none)' }++
                        : push @fbad, $x->{status};
}
is(scalar @fbad, 0, '60 GETs on new connections all 200') or diag("@fbad");
ok(!$fc{m1}, 'none of them served by the dead member') or diag(explain(\%fc));

# 4. Small POSTs keep going through.
my $nok = 0;
for my $i (1 .. 20) {
    my $p = "i=$i&pad=" . ('x' x $i);
    my $x = post($url, $p);
    $nok++ if $x->{status} == 200 && ($x->{member} // '') =~ /^m[23]$/
              && $x->{body} =~ / method=POST .* body_len=${\ length $p }$/m;
}
is($nok, 20, '20 more POSTs answered whole by live members');

# 5. farm2 (LBFarmRetry 1): "late" is down, then comes up; after the retry
#    period it is picked again.
my ($c2, $bad2) = count_members($h->url('/two/'), 10);
is(scalar @$bad2, 0, 'farm2: 10 GETs with late down all 200');
is_deeply($c2, { c1 => 10 }, 'farm2: all on c1 while late is down')
    or diag(explain($c2));
my $late = start_member('late', port => $late_port);
sleep 1.5 * slow_factor();
my ($c3, $bad3) = count_members($h->url('/two/'), 10);
is(scalar @$bad3, 0, 'farm2: 10 GETs after late came up all 200');
ok(($c3->{late} // 0) >= 3, 'farm2: late picked again after its retry period')
    or diag(explain($c3));

no_unexpected_errors($h,
    qr/AH00957|attempt to connect to/,
    qr/AH00959|disabling worker/,
    qr/AH01114|failed to make connection to backend/);
$_->stop for @live, $c1, $late;
done_testing;
