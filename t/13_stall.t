# Stall detection: a member that stops answering (tools/lbf_member
# freeze=on: it still accepts and reads requests, answers none) gets no
# new request once its oldest unanswered work is older than
# max(4 x p99, 100 ms) while the other members answer -- by default with
# least-time, with "LBFarmStall on" for weighted -- and gets traffic again
# once it answers.  A weighted farm without it keeps feeding the frozen
# member (the control).  Also the directives' configuration errors.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $F = slow_factor();
my $CLIENTS = 8;
my %CLIENT;               # client PIDs still running, stopped at the end
my $OWNER = $$;
END { if ($$ == $OWNER) { kill 'KILL', $_ for keys %CLIENT; } }

# ---- configuration errors --------------------------------------------
my $m0 = start_member('c0');
for my $case (
    [ 'LBFarmStall 4', qr/LBFarmStall: expected on, off or K FLOOR, not "4"/ ],
    [ 'LBFarmStall maybe', qr/LBFarmStall: expected on, off or K FLOOR, not "maybe"/ ],
    [ 'LBFarmStall 0 100ms', qr/LBFarmStall: invalid K "0"/ ],
    [ 'LBFarmStall 4 soon', qr/LBFarmStall: invalid FLOOR "soon"/ ],
    [ 'LBFarmLatencyDecay 50ms', qr/LBFarmLatencyDecay: invalid time "50ms"/ ],
    [ 'LBFarmLatencyDecay 601', qr/LBFarmLatencyDecay: invalid time "601"/ ],
) {
    my ($line, $want) = @$case;
    my ($rc, $out) = config_test("<LBFarm e>\n    $line\n    LBFarmMember c0 "
                                 . $m0->url . "\n</LBFarm>\n");
    ok($rc != 0 && $out =~ $want, "config error: $line") or diag($out);
}
{
    my ($rc, $out) = config_test("<LBFarm e>\n    LBFarmMethod least-time\n"
                                 . "    LBFarmStall 6 250ms\n"
                                 . "    LBFarmLatencyDecay 500ms\n"
                                 . "    LBFarmMember c0 " . $m0->url
                                 . "\n</LBFarm>\n");
    is($rc, 0, 'LBFarmStall 6 250ms, LBFarmLatencyDecay 500ms accepted')
        or diag($out);
    my ($rc2) = config_test("LBFarmStall on\n");
    isnt($rc2, 0, 'LBFarmStall outside <LBFarm> refused');
}
$m0->stop;

# ---- a frozen member ---------------------------------------------------
my @m = map { start_member("m$_") } 1 .. 3;
my ($m1, $m2, $m3) = @m;

sub farm {
    my ($name, @lines) = @_;
    return "<LBFarm $name>\n" . join('', map { "    $_\n" } @lines)
         . join('', map { "    LBFarmMember " . $_->name . ' ' . $_->url
                          . "\n" } @m)
         . "</LBFarm>\nProxyPass /$name/ http://$name/\n";
}
my $h = start_httpd(body => farm('lt', 'LBFarmMethod least-time')
                          . farm('ws', 'LBFarmMethod weighted',
                                 'LBFarmStall on')
                          . farm('wo', 'LBFarmMethod weighted'));

my $direct = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

# Requests member $mm has received so far (its own count, answered even
# while frozen).
sub received {
    my ($mm) = @_;
    my $r = $direct->get($mm->url . '/?stats=count');
    return $r->{status} == 200 && $r->{content} =~ /^(\d+)/ ? $1 : -1;
}

sub freeze {
    my ($mm, $on) = @_;
    my $r = $direct->get($mm->url . '/?freeze=' . ($on ? 'on' : 'off'));
    return $r->{status} == 200
        && $r->{content} eq ($on ? "frozen=1\n" : "frozen=0\n");
}

# $CLIENTS processes sending GET $url?sleep_ms=5 for $secs seconds (1 s
# timeout each, so a client stuck on the frozen member goes on); returns
# their PIDs.
sub start_clients {
    my ($url, $secs) = @_;
    my @pids;
    for my $i (1 .. $CLIENTS) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my $ua = HTTP::Tiny->new(timeout => 1, keep_alive => 1);
            my $end = time + $secs;
            $ua->get("$url?sleep_ms=5") while time < $end;
            _exit(0);
        }
        push @pids, $pid;
        $CLIENT{$pid} = 1;
    }
    return @pids;
}

sub stop_clients {
    for my $pid (@_) {
        kill 'KILL', $pid unless defined LBFTest::reap($pid, 15);
        LBFTest::reap($pid, 2);
        delete $CLIENT{$pid};
    }
}

# One freeze/thaw cycle on farm $name: returns the counts of m2 at the
# freeze, 0.6 s and 2.1 s after it, after the thaw, and of m1+m3 between
# 0.6 s and 2.1 s.
sub cycle {
    my ($name) = @_;
    my $url = $h->url("/$name/");
    my ($c) = count_members($url, 30);
    is(scalar keys %$c, 3, "$name: warm-up reaches all three members")
        or diag(explain($c));
    my @pids = start_clients($url, 5 * $F);
    sleep 0.5 * $F;
    ok(freeze($m2, 1), "$name: m2 frozen");
    my %n = (freeze => received($m2));
    sleep 0.6 * $F;
    $n{early} = received($m2);
    my $others = received($m1) + received($m3);
    sleep 1.5 * $F;
    $n{late} = received($m2);
    $n{others} = received($m1) + received($m3) - $others;
    ok(freeze($m2, 0), "$name: m2 thawed");
    sleep 1.5 * $F;
    $n{after} = received($m2);
    stop_clients(@pids);
    note("$name: m2 received $n{freeze} at the freeze, $n{early} 0.6 s "
         . "later, $n{late} at 2.1 s, $n{after} after the thaw; m1+m3 "
         . "$n{others} in 0.6..2.1 s");
    return \%n;
}

for my $name (qw(lt ws)) {
    my $n = cycle($name);
    is($n->{late}, $n->{early},
       "$name: the frozen m2 gets no new request 0.6..2.1 s after the freeze")
        or diag(explain($n));
    ok($n->{others} >= 100, "$name: m1 and m3 serve meanwhile "
       . "($n->{others} requests)");
    ok($n->{after} > $n->{late},
       "$name: m2 gets traffic again once it answers "
       . "($n->{late} -> $n->{after})");
}

# The control: weighted without stall detection keeps sending m2 a third.
{
    my $n = cycle('wo');
    ok($n->{late} > $n->{early},
       "wo (no LBFarmStall): the frozen m2 still gets new requests "
       . "($n->{early} -> $n->{late})");
}

no_unexpected_errors($h);
$_->stop for @m;
done_testing;
