# Fault drill (issue 12 item 11): a member SIGKILLed under load -> 0
# failed idempotent GETs, and a POST in flight is not sent twice.
#
# What mod_proxy does alone: new requests after the kill get "connection
# refused", mod_proxy_http answers 503, proxy_handler marks the worker in
# error and asks our pre_request again, which picks another member.  A
# request in flight when the member dies (it read the request, it closes
# before a status line) is not retried: on a client connection that
# carried a request before, mod_proxy_http closes the client connection
# without an answer; on a first request it answers 502.  mod_lbfarm_retry.c
# sends such a GET or HEAD (no body, nothing of the response sent yet)
# once to another member (LBF00851), as nginx's proxy_next_upstream error
# and HAProxy's retry-on do; a POST is never resent.
#
#  1. deterministic: a slow GET (first on its connection, and second on a
#     keep-alive connection) is in flight on member X; X is SIGKILLed; the
#     GET is answered 200 by the other member.  Same for HEAD.
#  2. a slow POST in flight on X; X is SIGKILLed; the POST fails visibly
#     (502 or a closed connection) and no other member ever sees it.
#  3. wrk GET load (20 connections, 50 ms per request) on three members;
#     one is SIGKILLed in the middle: 0 non-2xx, 0 socket errors, and the
#     log shows in-flight requests were indeed resent (LBF00851).
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
plan skip_all => 'wrk not installed' unless `which wrk 2>/dev/null`;

my $F = slow_factor();

# A farm of members $names; returns (httpd, members by name).
sub farm_of {
    my (@names) = @_;
    my %m = map { $_ => start_member($_) } @names;
    my $h = start_httpd(body => "<LBFarm f>\n    LBFarmRetry 30\n"
        . join('', map { "    LBFarmMember $_ " . $m{$_}->url . "\n" }
               @names)
        . "</LBFarm>\nProxyPass /app/ http://f/app/\n");
    return ($h, \%m);
}

# Requests member $m has received (stats=count, asked directly).
sub count_of {
    my ($m) = @_;
    my $ua = HTTP::Tiny->new(timeout => 2, keep_alive => 0);
    my $r = $ua->get($m->url . '/?stats=count');
    return $r->{status} == 200 ? $r->{content} + 0 : -1;
}

# Reads one response from $s (5 s at most): {status, member, body} with
# status 599 when the connection closed before a status line.
sub read_response {
    my ($s, $timeout, $head) = @_;
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + $timeout);
    my ($hdr, $len);
    while (time < $end) {
        if (!defined $hdr && $buf =~ /\r\n\r\n/) {
            ($hdr) = $buf =~ /^(.*?\r\n\r\n)/s;
            $len = $head ? 0 : $hdr =~ /^content-length:\s*(\d+)/mi ? $1 : 0;
        }
        last if defined $hdr && length($buf) >= length($hdr) + $len;
        next unless $sel->can_read(0.1);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return { status => 599, raw => $buf } unless defined $hdr
        && $hdr =~ m{^HTTP/1\.\d (\d{3})};
    my %r = (status => $1, raw => $buf);
    $r{member} = $1 if $hdr =~ /^x-member:\s*(\S+)/mi;
    return \%r;
}

sub send_req {
    my ($s, $method, $path, $body) = @_;
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    $req .= "Content-Type: text/plain\r\nContent-Length: " . length($body)
          . "\r\n" if defined $body;
    print {$s} "$req\r\n" . ($body // '');
}

# Sends $method (slow: the member sleeps 3 s) on a new connection (after
# one quick GET on it when $warm), waits until one member has it, SIGKILLs
# that member and returns (the answer, the killed member's name, counts
# of every member before the kill).
sub kill_in_flight {
    my ($h, $m, $method, $warm) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $h->port, Proto => 'tcp',
                                  Timeout => 5) or die "connect: $!";
    $s->autoflush(1);
    if ($warm) {
        send_req($s, 'GET', '/app/warm');
        my $w = read_response($s, 5);
        die "warm-up GET: $w->{status}" unless $w->{status} == 200;
    }
    my %before = map { $_ => count_of($m->{$_}) } keys %$m;
    send_req($s, $method, '/app/slow?sleep_ms=3000',
             $method eq 'POST' ? 'a=1' : undef);
    my $victim;
    wait_until(3 * $F, sub {
        ($victim) = grep { count_of($m->{$_}) > $before{$_} } sort keys %$m;
        return $victim;
    }, 0.02);
    return (undef) unless $victim;
    my %at_kill = map { $_ => count_of($m->{$_}) } keys %$m;
    kill 'KILL', $m->{$victim}->pid;
    my $r = read_response($s, 10 * $F, $method eq 'HEAD');
    close $s;
    LBFTest::reap($m->{$victim}->pid, 5);
    delete $m->{$victim}{pid};
    return ($r, $victim, \%at_kill);
}

# 1 + 2: one request in flight at a time, a fresh farm of two for each.
for my $c (['GET', 0], ['GET', 1], ['HEAD', 1], ['POST', 0], ['POST', 1]) {
    my ($method, $warm) = @$c;
    my $what = "$method in flight, " . ($warm ? 'second request on a '
             . 'keep-alive connection' : 'first request on its connection');
    my ($h, $m) = farm_of(qw(a b));
    my ($r, $victim, $at_kill) = kill_in_flight($h, $m, $method, $warm);
    ok($victim, "$what: a member had it") or next;
    my ($other) = grep { $_ ne $victim } sort keys %$m;
    if ($method ne 'POST') {
        is($r->{status}, 200, "$what: member $victim SIGKILLed, the client "
           . 'gets 200') or diag($r->{raw});
        is($r->{member}, $other, "$what: ... from the other member");
        like($h->error_log, qr/LBF00851: farm f: member $victim closed (?#
             )before answering $method \/app\/slow/, "$what: the resend is "
             . 'logged (LBF00851)');
    }
    else {
        isnt($r->{status}, 200, "$what: member $victim SIGKILLed, the POST "
             . "fails visibly ($r->{status})");
        ok($r->{status} == 502 || $r->{status} == 599,
           "$what: ... as 502 or a closed connection");
        is(count_of($m->{$other}), $at_kill->{$other}, "$what: the other "
           . 'member never saw it (not resent)');
        unlike($h->error_log, qr/LBF00851/, "$what: no resend logged");
    }
    # afterwards the farm serves from the member left
    new_client();
    my ($cnt, $bad) = count_members($h->url('/app/'), 10);
    is(scalar @$bad, 0, "$what: the next 10 requests all 200")
        or diag("@$bad");
    is($cnt->{$other} // 0, 10, "$what: ... from $other");
    no_unexpected_errors($h, qr/AH01102: error reading status line/,
                         qr/AH00898: Error reading from remote server/,
                         qr/AH01114: HTTP: failed to make connection/,
                         qr/AH00957: .*attempt to connect to/,
                         qr/AH00959: ap_proxy_connect_backend disabling/);
    $_->stop for values %$m;
}

# The resend wrapper runs the request with the connection's keep-alive
# count at 0: MaxKeepAliveRequests must still close the connection after
# its last request.
{
    my %m = map { $_ => start_member($_) } qw(a b);
    my $h = start_httpd(body => "MaxKeepAliveRequests 3\n<LBFarm f>\n"
        . join('', map { "    LBFarmMember $_ " . $m{$_}->url . "\n" }
               qw(a b))
        . "</LBFarm>\nProxyPass /app/ http://f/app/\n");
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $h->port, Proto => 'tcp',
                                  Timeout => 5) or die "connect: $!";
    my @st;
    for (1 .. 4) {
        send_req($s, 'GET', '/app/ka');
        my $r = read_response($s, 5);
        push @st, $r->{status};
        push @st, 'close' if $r->{raw} =~ /^connection:\s*close/mi;
        last if $r->{status} == 599;
    }
    close $s;
    # httpd allows MaxKeepAliveRequests requests after the first
    is("@st", '200 200 200 200 close', 'MaxKeepAliveRequests 3: the fourth '
       . 'farm GET on a connection closes it, as without the module');
    no_unexpected_errors($h);
    $_->stop for values %m;
}

# 3: wrk load, one member of three killed in the middle.
{
    my ($h, $m) = farm_of(qw(a b c));
    my $secs = 8;
    my $w = LBFTest::wrk_start($h->url('/app/load?sleep_ms=50'),
                               secs => $secs, conns => 20, threads => 2);
    sleep 3;
    my $before = count_of($m->{a});
    kill 'KILL', $m->{a}->pid;
    LBFTest::reap($m->{a}->pid, 5);
    delete $m->{a}{pid};
    my $r = LBFTest::wrk_finish($w);
    diag($r->{out}) if $r->{errors} || $r->{requests} <= 0;
    cmp_ok($r->{requests}, '>', 500, "wrk: $r->{requests} GETs in $secs s "
           . "(member a had $before when killed at 3 s)");
    is($r->{non2xx}, 0, 'wrk: 0 answers other than 2xx');
    is($r->{connect} + $r->{read} + $r->{write} + $r->{timeout}, 0,
       'wrk: 0 socket errors (no connection closed without an answer)');
    my $resent = () = $h->error_log =~ /LBF00851:/g;
    cmp_ok($resent, '>=', 1, "wrk: $resent GETs in flight on a were resent "
           . '(LBF00851)');
    no_unexpected_errors($h, qr/AH01102: error reading status line/,
                         qr/AH00898: Error reading from remote server/,
                         qr/AH01114: HTTP: failed to make connection/,
                         qr/AH00957: .*attempt to connect to/,
                         qr/AH00959: ap_proxy_connect_backend disabling/);
    $_->stop for values %$m;
}

done_testing;
