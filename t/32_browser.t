# The status page in a real browser: headless Chromium loads the page
# from the test httpd under its strict Content-Security-Policy (the style
# applies, nothing is blocked, there is no script), sets a member offline
# through the page's own form (a real mouse click), and the change takes
# effect (the page, the text form and the traffic say so); a screenshot
# goes to t/artifacts/.  Then a page of another origin (another port)
# submits a forged form -- even with the real nonce, and with the session
# cookie, which SameSite does not hold back between ports of one host --
# and is refused 403 with nothing changed.
#
# Chromium is driven over the DevTools protocol (a WebSocket) with core
# Perl only.  No /usr/bin/chromium (or LBF_CHROMIUM), or a Chromium that
# does not start, skips the test with the reason.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use MIME::Base64 qw(decode_base64);
use POSIX qw(WNOHANG _exit setpgid);
use Time::HiRes qw(sleep time);
use LBFTest;

###########################################################################
# A minimal DevTools-protocol client: WebSocket (RFC 6455, client side,
# text frames) over IO::Socket::INET, JSON::PP for the messages.

package LBFCdp;

use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

# LBFCdp->connect("ws://127.0.0.1:PORT/devtools/page/ID") -> client.
sub connect {
    my ($class, $url) = @_;
    my ($host, $port, $path) = $url =~ m{^ws://([^:/]+):(\d+)(/.*)$}
        or die "cdp: bad url $url\n";
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "cdp: connect $host:$port: $!\n";
    binmode $s;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    print {$s} "GET $path HTTP/1.1\r\nHost: $host:$port\r\nUpgrade: "
        . "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
        . "Sec-WebSocket-Version: 13\r\n\r\n";
    my $self = bless { s => $s, buf => '', id => 0, events => [],
                       json => JSON::PP->new->utf8->canonical }, $class;
    my $deadline = time + 10;
    while ($self->{buf} !~ /\r\n\r\n/) {
        $self->fill($deadline) or die "cdp: no handshake answer\n";
    }
    $self->{buf} =~ s/^(.*?)\r\n\r\n//s;
    die "cdp: handshake refused: $1\n" unless $1 =~ m{^HTTP/1\.1 101};
    return $self;
}

# Reads more bytes into the buffer before $deadline; 0 on timeout/EOF.
sub fill {
    my ($self, $deadline) = @_;
    my $left = $deadline - time;
    return 0 if $left <= 0;
    return 0 unless IO::Select->new($self->{s})->can_read($left);
    my $n = sysread($self->{s}, $self->{buf}, 1 << 20, length $self->{buf});
    return $n ? 1 : 0;
}

# Sends one masked frame of opcode $op with payload $data.
sub send_frame {
    my ($self, $op, $data) = @_;
    my $len = length $data;
    my $hdr = chr(0x80 | $op);
    $hdr .= $len < 126 ? chr(0x80 | $len)
          : $len < 65536 ? chr(0x80 | 126) . pack('n', $len)
          : chr(0x80 | 127) . pack('Q>', $len);
    my $mask = join '', map { chr int rand 256 } 1 .. 4;
    my $masked = $data ^ substr($mask x (int($len / 4) + 1), 0, $len);
    my $out = $hdr . $mask . $masked;
    while (length $out) {
        my $n = syswrite($self->{s}, $out);
        die "cdp: write: $!\n" unless defined $n;
        substr($out, 0, $n) = '';
    }
}

# Next whole message (text), or undef at $deadline.  Answers pings,
# joins fragments.
sub recv_message {
    my ($self, $deadline) = @_;
    my $msg = '';
    while (1) {
        my $b = $self->{buf};
        if (length $b >= 2) {
            my ($b0, $b1) = map { ord } split //, substr($b, 0, 2);
            my ($len, $off) = ($b1 & 0x7f, 2);
            ($len, $off) = (unpack('n', substr($b, 2, 2)), 4) if $len == 126;
            ($len, $off) = (unpack('Q>', substr($b, 2, 8)), 10) if $len == 127;
            if (length $b >= $off + $len) {
                my $data = substr($b, $off, $len);
                substr($self->{buf}, 0, $off + $len) = '';
                my $op = $b0 & 0x0f;
                if ($op == 9) { $self->send_frame(10, $data); next; }
                die "cdp: connection closed by the browser\n" if $op == 8;
                $msg .= $data;
                return $msg if $b0 & 0x80;
                next;
            }
        }
        $self->fill($deadline) or return undef;
    }
}

# call(METHOD, {params}, timeout) -> result (dies on a protocol error).
# Events that arrive meanwhile are queued for wait_event.
sub call {
    my ($self, $method, $params, $timeout) = @_;
    my $id = ++$self->{id};
    $self->send_frame(1, $self->{json}->encode({ id => $id,
        method => $method, params => $params // {} }));
    my $deadline = time + ($timeout // 15);
    while (defined(my $m = $self->recv_message($deadline))) {
        my $j = $self->{json}->decode($m);
        if (defined $j->{id} && $j->{id} == $id) {
            die "cdp: $method: " . $self->{json}->encode($j->{error}) . "\n"
                if $j->{error};
            return $j->{result};
        }
        push @{ $self->{events} }, $j if $j->{method};
    }
    die "cdp: $method: no answer in time\n";
}

# wait_event(NAME, timeout, [CODE]) -> the first queued or new event
# called NAME (for which CODE, given its params, is true), or undef.
sub wait_event {
    my ($self, $name, $timeout, $pred) = @_;
    my $ok = sub { $_[0]{method} eq $name && (!$pred || $pred->($_[0]{params})) };
    for my $i (0 .. $#{ $self->{events} }) {
        return splice(@{ $self->{events} }, $i, 1)->{params}
            if $ok->($self->{events}[$i]);
    }
    my $deadline = time + $timeout;
    while (defined(my $m = $self->recv_message($deadline))) {
        my $j = $self->{json}->decode($m);
        next unless $j->{method};
        return $j->{params} if $ok->($j);
        push @{ $self->{events} }, $j;
    }
    return undef;
}

# Every queued event called NAME (removed from the queue).
sub take_events {
    my ($self, $name) = @_;
    my @hit = grep { $_->{method} eq $name } @{ $self->{events} };
    $self->{events} = [ grep { $_->{method} ne $name } @{ $self->{events} } ];
    return map { $_->{params} } @hit;
}

# eval(EXPR) -> its value (returnByValue).
sub eval {
    my ($self, $expr) = @_;
    my $r = $self->call('Runtime.evaluate', { expression => $expr,
                                              returnByValue => JSON::PP::true });
    die "cdp: eval '$expr': $r->{exceptionDetails}{text}\n"
        if $r->{exceptionDetails};
    return $r->{result}{value};
}

# wait_js(EXPR, timeout) -> true once EXPR is true in the page (polled).
# Evaluations during a navigation may fail: they count as false.
sub wait_js {
    my ($self, $expr, $timeout) = @_;
    my $deadline = time + ($timeout // 15);
    while (time < $deadline) {
        my $v = eval { $self->eval($expr) };
        return 1 if $v;
        select(undef, undef, undef, 0.05);
    }
    return 0;
}

# after(CODE, [EXPR]): marks the current document, runs CODE (which
# navigates: a click, Page.navigate), then waits (15 s) for a new,
# completely loaded document (in which EXPR, when given, is true).
# Returns true when it came.
sub after {
    my ($self, $code, $expr) = @_;
    $self->eval('window.lbfOld = 1');
    $code->();
    return $self->wait_js("!window.lbfOld && document.readyState === "
                          . "'complete'" . ($expr ? " && ($expr)" : ''), 15);
}

# navigate(URL): loads URL in a new document; true when it is loaded.
sub navigate {
    my ($self, $url) = @_;
    my $u = JSON::PP->new->allow_nonref->encode($url);
    return $self->after(sub { $self->call('Page.navigate', { url => $url }) },
                        "location.href === $u");
}

# click(SELECTOR): a real left click (mouse events) in the middle of the
# element, scrolled into view first.  Dies when there is no such element.
sub click {
    my ($self, $sel) = @_;
    my $doc = $self->call('DOM.getDocument', { depth => 0 });
    my $n = $self->call('DOM.querySelector', {
        nodeId => $doc->{root}{nodeId}, selector => $sel })->{nodeId};
    die "cdp: click: no element $sel\n" unless $n;
    $self->call('DOM.scrollIntoViewIfNeeded', { nodeId => $n });
    my $q = $self->call('DOM.getBoxModel', { nodeId => $n })->{model}{content};
    my $x = ($q->[0] + $q->[2] + $q->[4] + $q->[6]) / 4;
    my $y = ($q->[1] + $q->[3] + $q->[5] + $q->[7]) / 4;
    $self->call('Input.dispatchMouseEvent', { type => 'mouseMoved',
                                              x => $x, y => $y });
    for my $t (qw(mousePressed mouseReleased)) {
        $self->call('Input.dispatchMouseEvent', { type => $t, x => $x,
            y => $y, button => 'left', clickCount => 1 });
    }
}

package main;

###########################################################################
# Chromium

my $CHROMIUM = $ENV{LBF_CHROMIUM} // '/usr/bin/chromium';
plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();
plan skip_all => "no Chromium at $CHROMIUM (tools/install-deps.sh installs "
    . "Debian's chromium; LBF_CHROMIUM names another)"
    unless -x $CHROMIUM;

my ($CR_PID, $CR_DIR);

# Starts headless Chromium with a new profile and the DevTools port on
# 127.0.0.1 (port 0: it picks one and writes it to DevToolsActivePort).
# Returns the port, or undef with $@ set.
sub start_chromium {
    $CR_DIR = tempdir('lbf-chromium-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{LBF_KEEP});
    my $log = "$CR_DIR/chromium.log";
    $CR_PID = fork;
    die "fork: $!" unless defined $CR_PID;
    if ($CR_PID == 0) {
        setpgid(0, 0);              # its own group: stopped as one below
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        no warnings 'exec';
        exec $CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', '--disable-dev-shm-usage',
            '--window-size=1400,1000', "--user-data-dir=$CR_DIR/profile",
            '--remote-debugging-address=127.0.0.1',
            '--remote-debugging-port=0', 'about:blank';
        _exit(127);
    }
    my $port = LBFTest::wait_until(30 * slow_factor(), sub {
        return 'dead' if waitpid($CR_PID, WNOHANG) == $CR_PID;
        open my $fh, '<', "$CR_DIR/profile/DevToolsActivePort" or return 0;
        my $p = <$fh>;
        return $p && $p =~ /^(\d+)\s*$/ ? $1 : 0;
    }, 0.1);
    if (!$port || $port eq 'dead') {
        $@ = ($port ? 'exited' : 'no DevTools port in 30 s') . "; log:\n"
            . join('', (split /^/, LBFTest::slurp($log))[-15 .. -1]);
        stop_chromium();
        return undef;
    }
    return $port;
}

sub stop_chromium {
    return unless $CR_PID;
    kill 'TERM', -$CR_PID;          # the group we made: Chromium's processes
    my $t = time;
    while (time - $t < 10) {
        last if waitpid($CR_PID, WNOHANG) == $CR_PID;
        sleep 0.1;
    }
    kill 'KILL', -$CR_PID if kill 0, $CR_PID;
    waitpid($CR_PID, 0);
    undef $CR_PID;
}
END { stop_chromium() if $CR_PID }

# The DevTools client of Chromium's first page target.
sub page_client {
    my ($port) = @_;
    my $ua = HTTP::Tiny->new(timeout => 5);
    my $list = LBFTest::wait_until(10, sub {
        my $r = $ua->get("http://127.0.0.1:$port/json/list");
        return 0 unless $r->{success};
        my ($pg) = grep { $_->{type} eq 'page' }
                   @{ JSON::PP::decode_json($r->{content}) };
        return $pg;
    }, 0.1) or die "no page target\n";
    return LBFCdp->connect($list->{webSocketDebuggerUrl});
}

###########################################################################
# The test

my @m = map { start_member($_) } qw(m1 m2);
my $other = free_port();
my $evil = tempdir('lbf-evil-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $evil;
my $h = start_httpd(modules => ['authz_host'], body => <<"CONF");
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url }
    LBFarmMember m2 ${\ $m[1]->url }
</LBFarm>
ProxyPass /lbfarm-status !
ProxyPass /app/ http://web/
<Location /lbfarm-status>
    SetHandler lbfarm-status
    Require ip 127.0.0.1
</Location>
# another origin on this host: the attacker's page
Listen 127.0.0.1:$other
<VirtualHost 127.0.0.1:$other>
    DocumentRoot "$evil"
    <Directory "$evil">
        Require all granted
    </Directory>
</VirtualHost>
CONF
my $page = $h->url('/lbfarm-status');
my $origin = "http://127.0.0.1:" . $h->port;
get($h->url('/app/')) for 1 .. 20;        # some traffic on the bars

my $port = start_chromium();
if (!$port) {
    diag("Chromium did not start: $@");
    plan skip_all => "Chromium at $CHROMIUM cannot run here: "
        . (split /\n/, $@)[0];
}
my $cdp = eval { page_client($port) };
if (!$cdp) {
    my $why = $@;
    stop_chromium();
    plan skip_all => "Chromium's DevTools endpoint unusable: $why";
}
$cdp->call($_) for qw(Page.enable Network.enable Log.enable Runtime.enable
                      DOM.enable);

# 1. The page loads under its CSP, styled, with no script and no
#    violation.
ok($cdp->navigate($page), 'status page loaded in Chromium');
my ($resp) = grep { $_->{type} eq 'Document' }
             $cdp->take_events('Network.responseReceived');
my %rh = map { lc($_) => $resp->{response}{headers}{$_} }
         keys %{ $resp->{response}{headers} || {} };
is($resp->{response}{status}, 200, 'page answered 200');
like($rh{'content-security-policy'} // '',
     qr/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+\/]{43}='; /,
     'the browser got the strict CSP');
is($cdp->eval('document.title'), 'lbfarm status', 'title');
is($cdp->eval('document.scripts.length'), 0, 'no script element');
is($cdp->eval("getComputedStyle(document.querySelector('.st-ok'))"
              . ".backgroundColor"), 'rgb(35, 133, 74)',
   'the <style> element applies (its CSP hash matches)');
is($cdp->eval("document.querySelectorAll('section.farm svg rect').length"
              . " > 0 ? 1 : 0"), 1, 'the SVG bars are drawn');
is($cdp->eval("document.querySelector('tr[data-member=\"m1\"] .st')"
              . ".textContent"), 'ok', 'm1 shown ok');
my $nonce = $cdp->eval("document.querySelector('input[name=nonce]').value");
like($nonce // '', qr/^[0-9a-f]{64}$/, 'the forms carry a nonce');
my @cookies = @{ $cdp->call('Network.getCookies', { urls => [$page] })
                     ->{cookies} };
my ($sid) = grep { $_->{name} eq 'lbfstatus_sid' } @cookies;
ok($sid && $sid->{httpOnly} && ($sid->{sameSite} // '') eq 'Strict',
   'session cookie is HttpOnly and SameSite=Strict');

# 2. Set m1 offline through the form: choose "offline", click "Set".
$cdp->take_events('Network.requestWillBeSent');
$cdp->eval("document.querySelector('tr[data-member=\"m1\"] "
           . "select[name=state]').value = 'offline'");
ok($cdp->after(sub {
       $cdp->click('tr[data-member="m1"] button[value="member-state"]') }),
   'page reloaded after the form was posted');
my @sent = $cdp->take_events('Network.requestWillBeSent');
my ($post) = grep { $_->{request}{method} eq 'POST' } @sent;
ok($post, 'the browser posted the form');
is($post && $post->{request}{headers}{Origin}, $origin,
   'the POST carried the page\'s Origin');
my ($redir) = grep { $_->{redirectResponse} } @sent;
is($redir && $redir->{redirectResponse}{status}, 303,
   'answered 303 See Other');
is($cdp->eval('location.href'), $page, 'back on the status page');
is($cdp->eval("document.querySelector('tr[data-member=\"m1\"] .st')"
              . ".textContent"), 'offline', 'the page shows m1 offline');
is(LBFTest::status_rows($h)->{'web/m1'}{state}, 'offline',
   'the text form shows m1 offline');
my ($c) = count_members($h->url('/app/'), 20);
is_deeply($c, { m2 => 20 }, 'traffic goes to m2 only');

my @csp = grep { ($_->{entry}{text} // '') =~ /Content.Security.Policy/i }
          $cdp->take_events('Log.entryAdded');
is(scalar @csp, 0, 'no CSP violation reported by the browser')
    or diag($_->{entry}{text}) for @csp;

# 3. The screenshot: the page after the change.
my $shot = $cdp->call('Page.captureScreenshot', { format => 'png' });
my $png = decode_base64($shot->{data} // '');
my $art = LBFTest::repo_root() . '/t/artifacts';
make_path($art);
my $file = "$art/32_browser_status.png";
LBFTest::spit($file, $png);
ok(substr($png, 0, 8) eq "\x89PNG\r\n\x1a\n" && length $png > 10000,
   "screenshot written: $file (" . length($png) . ' bytes)');

# 4. Another origin (another port of this host) submits the same form with
#    the real nonce: the cookie goes along (same site), the Origin does not
#    match, 403, nothing changes.
LBFTest::spit("$evil/evil.html", <<"HTML");
<!DOCTYPE html><html><body>
<form id="f" method="post" action="$page">
<input name="nonce" value="$nonce"><input name="action" value="member-state">
<input name="farm" value="web"><input name="member" value="m2">
<input name="state" value="offline"></form>
<script>document.getElementById('f').submit();</script>
</body></html>
HTML
chmod 0644, "$evil/evil.html";
$cdp->take_events($_) for qw(Network.responseReceived
                             Network.requestWillBeSent);
my $pj = JSON::PP->new->allow_nonref->encode($page);
ok($cdp->after(sub { $cdp->call('Page.navigate',
                                { url => "http://127.0.0.1:$other/evil.html" }) },
               "location.href === $pj"),
   'the forged form was submitted and its answer loaded');
my $forged = $cdp->wait_event('Network.responseReceived', 15, sub {
    $_[0]{type} eq 'Document' && $_[0]{response}{url} eq $page });
is($forged && $forged->{response}{status}, 403,
   'cross-origin form post refused 403');
my ($fpost) = grep { $_->{request}{method} eq 'POST' }
              $cdp->take_events('Network.requestWillBeSent');
is($fpost && $fpost->{request}{headers}{Origin}, "http://127.0.0.1:$other",
   'it carried the foreign Origin');
my $rows = LBFTest::status_rows($h);
is($rows->{'web/m2'}{state}, 'ok', 'm2 still ok');
is($rows->{'web/m1'}{state}, 'offline', 'm1 still offline');

# 5. Back up through the form again.
ok($cdp->navigate($page), 'status page loaded again');
$cdp->eval("document.querySelector('tr[data-member=\"m1\"] "
           . "select[name=state]').value = 'up'");
ok($cdp->after(sub {
       $cdp->click('tr[data-member="m1"] button[value="member-state"]') },
       "document.querySelector('tr[data-member=\"m1\"] .st').textContent "
       . "=== 'ok'"), 'the page shows m1 ok after the form');
is(LBFTest::status_rows($h)->{'web/m1'}{state}, 'ok', 'm1 up again');

stop_chromium();
no_unexpected_errors($h);
$_->stop for @m;
done_testing;
