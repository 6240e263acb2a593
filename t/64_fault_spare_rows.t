# Fault drill (issue 12 item 11): members added at runtime beyond the
# farm's spare rows (LBF_SPARE_ROWS, 8 per <LBFarm>).  The eight adds that
# fit are applied (303); the ninth -- and any add of a new name after a
# removal, since a removed row is reused only by the same name -- gets a
# 409 whose one line tells the operator what to do, changes nothing, and
# is logged (LBF00072); the farm keeps serving every member it had
# (exact weighted shares), the status page and JSON keep answering, and a
# removed member added again under its name takes its row back.
use strict;
use warnings;
use Test::More;
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $SPARE = 8;                       # LBF_SPARE_ROWS (lbfarm_shm.h)
my @m = map { start_member($_) } qw(m1 m2);
my $extra = start_member('x');       # serves every runtime member
my $h = start_httpd(body => <<"CONF");
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
ProxyPass /lbfarm-status !
ProxyPass /app/ http://web/app/
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
my $url = $h->url('/app/');
my $NO_ROOM = 'farm: no spare row for another member (remove one, or add '
            . 'it to the configuration and reload)';

sub add {
    my ($name, $path) = @_;
    return LBFTest::admin_post($h, [action => 'member-add', farm => 'web',
                                    member => $name,
                                    url => $extra->url . "/$path"]);
}

# Everything the farm serves: $n requests, all 200, exact shares of the
# members in @names (weight 1 each; the runtime ones answer as "x").
sub serves {
    my ($what, $n, @names) = @_;
    new_client();
    my ($c, $bad) = count_members($url, $n);
    is(scalar @$bad, 0, "$what: $n requests all 200") or diag("@$bad");
    my $per = $n / @names;
    my %want = (m1 => $per, m2 => $per);
    my $runtime = grep { !/^m[12]$/ } @names;
    $want{x} = $per * $runtime if $runtime;
    is_deeply($c, \%want, "$what: exact shares of " . scalar(@names)
              . ' members') or diag(explain($c));
}

sub page_ok {
    my ($what, $nmembers) = @_;
    my ($r, $rows) = LBFTest::status_get($h);
    is($r->{status}, 200, "$what: the status page answers");
    is(scalar(keys %$rows), $nmembers, "$what: it lists $nmembers members");
    my $j = get($h->url('/lbfarm-status?format=json'));
    is($j->{status}, 200, "$what: the JSON answers");
    like($j->{body}, qr/^\{.*\}\s*$/s, "$what: ... with one object");
}

serves('before', 20, qw(m1 m2));
my @added;
for my $i (1 .. $SPARE) {
    my $r = add("r$i", "p$i");
    is($r->{status}, 303, "add r$i (spare row $i of $SPARE): applied");
    push @added, "r$i";
}
my $r = add('r9', 'p9');
is($r->{status}, 409, 'add r9 beyond the spare rows: 409');
is($r->{content} // '', "$NO_ROOM\n", 'it says what to do');
like($h->error_log, qr/LBF00072: .*no spare row/, 'the refusal is logged '
     . '(LBF00072)');
serves('after the refusal', 10 * (2 + $SPARE), qw(m1 m2), @added);
page_ok('after the refusal', 2 + $SPARE);
unlike(join(' ', keys %{ LBFTest::status_rows($h) }), qr/r9/,
       'r9 is nowhere');

# A removal frees the row for its own name only.
$r = LBFTest::admin_post($h, [action => 'member-remove', farm => 'web',
                              member => 'r3']);
is($r->{status}, 303, 'remove r3: applied');
@added = grep { $_ ne 'r3' } @added;
$r = add('r10', 'p10');
is($r->{status}, 409, 'add r10 after removing r3: still 409 (the row is '
   . 'r3\'s)');
is($r->{content} // '', "$NO_ROOM\n", '... with the same message');
serves('after the second refusal', 10 * (1 + $SPARE), qw(m1 m2), @added);
$r = add('r3', 'p3');
is($r->{status}, 303, 'add r3 again: applied (its row reused)');
push @added, 'r3';
serves('r3 back', 10 * (2 + $SPARE), qw(m1 m2), @added);
page_ok('at the end', 2 + $SPARE);

no_unexpected_errors($h);
$_->stop for @m, $extra;
done_testing;
