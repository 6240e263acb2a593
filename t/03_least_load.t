# least-load: requests avoid the members holding slow requests, and the
# in-flight count drops again when the slow requests end.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $SLOW_MS = 4000;
my $F = slow_factor();

my @a = map { start_member("a$_") } 1 .. 2;      # farm ll2
my @b = map { start_member("b$_") } 1 .. 3;      # farm ll3

sub farm {
    my ($name, @mm) = @_;
    return "<LBFarm $name>\n    LBFarmMethod least-load\n"
         . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url
                          . "\n" } @mm)
         . "</LBFarm>\n"
         . "ProxyPass /$name/ http://$name/$name/\n";
}
my $h = start_httpd(body => farm('ll2', @a) . farm('ll3', @b));
my $u2 = $h->url('/ll2/');
my $u3 = $h->url('/ll3/');

# Warm up: every member answers through its farm.
my ($c2, $bad2) = count_members($u2, 10);
my ($c3, $bad3) = count_members($u3, 10);
is(@$bad2 + @$bad3, 0, 'warm-up requests all 200');

# Slow requests: one on ll2, two on ll3 (the second sent once the first is
# in flight, so it must go elsewhere).
my $t0 = time;
my $s2 = start_request("${u2}?sleep_ms=$SLOW_MS");
my $s3a = start_request("${u3}?sleep_ms=$SLOW_MS");
sleep 0.2 * $F;
my $s3b = start_request("${u3}?sleep_ms=$SLOW_MS");
sleep 0.4 * $F;

my (%f2, %f3, @bad);
for (1 .. 30) {
    my $r = get($u2);
    $r->{status} == 200 ? $f2{ $r->{member} // '(none)' }++
                        : push @bad, "ll2: $r->{status}";
    $r = get($u3);
    $r->{status} == 200 ? $f3{ $r->{member} // '(none)' }++
                        : push @bad, "ll3: $r->{status}";
}
my $fast_done = time - $t0;
is(scalar @bad, 0, '60 fast requests all 200') or diag("@bad");
ok($fast_done < $SLOW_MS / 1000 - 0.5,
   sprintf('fast requests ran while the slow ones were in flight (%.2f s)',
           $fast_done));

my $r2 = finish_request($s2, $SLOW_MS / 1000 + 10);
my $r3a = finish_request($s3a, $SLOW_MS / 1000 + 10);
my $r3b = finish_request($s3b, $SLOW_MS / 1000 + 10);
for ([ 'll2 slow', $r2 ], [ 'll3 slow 1', $r3a ], [ 'll3 slow 2', $r3b ]) {
    my ($what, $r) = @$_;
    is($r->{status}, 200, "$what request 200") or diag($r->{raw});
    ok($r->{elapsed} >= $SLOW_MS / 1000 - 0.1, "$what took its sleep")
        or diag("elapsed $r->{elapsed}");
}

# 2 members, 1 slow request: every fast request goes to the other one.
my $slow2 = $r2->{member} // '?';
my ($other2) = grep { $_ ne $slow2 } map { $_->name } @a;
is_deeply(\%f2, { $other2 => 30 },
          "ll2: all 30 fast requests on $other2 (slow one on $slow2)")
    or diag(explain(\%f2));

# 3 members, 2 slow requests: on two different members; every fast
# request on the third.
my %slow3 = map { ($_->{member} // '?') => 1 } $r3a, $r3b;
is(scalar keys %slow3, 2, 'll3: the two slow requests on different members')
    or diag(explain([ $r3a->{member}, $r3b->{member} ]));
my @free3 = grep { !$slow3{$_} } map { $_->name } @b;
is(scalar @free3, 1, 'll3: one member holds no slow request');
ok(!grep({ $slow3{$_} } keys %f3),
   'll3: no fast request on a member holding a slow one')
    or diag(explain(\%f3));
is_deeply(\%f3, { $free3[0] => 30 }, "ll3: all 30 fast requests on $free3[0]")
    or diag(explain(\%f3)) if @free3 == 1;

# When the slow requests are over, every member is picked again (ties are
# random: 40 requests over 2 equal idle members).
($c2) = count_members($u2, 40);
is(scalar keys %$c2, 2, 'll2: both members picked once idle again')
    or diag(explain($c2));
($c3) = count_members($u3, 60);
is(scalar keys %$c3, 3, 'll3: all three members picked once idle again')
    or diag(explain($c3));

no_unexpected_errors($h);
$_->stop for @a, @b;
done_testing;
