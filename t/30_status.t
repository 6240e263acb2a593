# The status page (SetHandler lbfarm-status) in its four forms: the HTML
# page (default) under a strict Content-Security-Policy, ?format=text
# (the lines of before), ?format=json and ?format=prometheus.  Every
# member with its state, weights, counters, pushed load, health check and
# latency; hostile strings (a balancer:// name and member host with quotes,
# angle brackets, ampersands and a backslash; a member URL path with all
# of them) escaped for each context; GET and HEAD never change anything.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_base64);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP ();
use Time::HiRes qw(sleep time);
use LBFTest;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my @m = map { start_member($_) } qw(m1 m2 m3);
my $tmp = tempdir('lbf-status-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;
my $secret = 'status-test-secret-' . join('', map { int rand 10 } 1 .. 16);
LBFTest::spit("$tmp/push.secret", "$secret\n");
chmod 0644, "$tmp/push.secret";

# What the configuration grammar lets through (checked with apache2 -t):
# a balancer name and a member host with " < > & ' \ , a member URL path
# with " < > & '.
my $BAL_CONF = 'balancer://q\"z<b>&c\'d\\\\e';   # as written in the file
my $BAL = q{q"z<b>&c'd\e};                         # as httpd reads it
my $HOST = q{a<b>'c&d};
my $PATH = q{/p&q<r>"s't};
my $PATH_CONF = q{/p&q<r>\"s't};

my $body = <<"CONF";
<LBFarm web>
    LBFarmMember m1 ${\ $m[0]->url } weight=3
    LBFarmMember m2 ${\ $m[1]->url }
    LBFarmHealthCheck / interval=1 rise=1 fall=1
</LBFarm>
<LBFarm api>
    LBFarmMethod pushed-metric
    LBFarmPushKey $tmp/push.secret
    LBFarmMetricBlackout 0
    LBFarmMember a1 ${\ $m[0]->url }
    LBFarmMember a2 "${\ $m[1]->url }$PATH_CONF"
    LBFarmMember a3 ${\ $m[2]->url } standby
</LBFarm>
<Proxy "$BAL_CONF">
    BalancerMember "http://$HOST:9"
    BalancerMember http://127.0.0.1:9
</Proxy>
<Proxy "balancer://sp ace">
    BalancerMember "http://x y:9"
</Proxy>
ProxyPass /lbfarm-status !
ProxyPass /lbfarm-push !
ProxyPass /web/ http://web/
<Location /lbfarm-push>
    SetHandler lbfarm-push
</Location>
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
CONF
my $h = start_httpd(body => $body);
my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, max_redirect => 0);
my $page = $h->url('/lbfarm-status');

# Traffic (weights 3:1: m1 30, m2 10), a push, and health checks.
my ($c, $bad) = count_members($h->url('/web/'), 40);
is_deeply($c, { m1 => 30, m2 => 10 }, 'traffic 30/10 before looking');
my $q = LBFTest::push_query(
    key => LBFTest::push_member_key($secret, 'a1'), farm => 'api',
    member => 'a1', metrics => [cpu => '0.42', db_conns => 17]);
is(get($h->url("/lbfarm-push?$q"))->{status}, 200, 'push accepted');
ok(wait_until(10 * slow_factor(), sub {
    my $r = LBFTest::status_rows($h);
    return ($r->{'web/m1'}{hc_status} // '') eq '200'
        && ($r->{'web/m2'}{hc_status} // '') eq '200';
}), 'health checks ran');

###########################################################################
# HTML

my $r = $ua->get($page);
my $html = $r->{content};
is($r->{status}, 200, 'HTML: 200');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8',
   'HTML is the default form');
my $csp = $r->{headers}{'content-security-policy'} // '';
like($csp, qr/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+\/]{43}='; img-src data:; form-action 'self'; frame-ancestors 'none'/,
     'strict CSP');
my @styles = $html =~ m{<style>(.*?)</style>}gs;
is(scalar @styles, 1, 'one <style> element');
my ($hash) = $csp =~ /'sha256-([^']+)'/;
is($hash, sha256_base64($styles[0] // '') . '=',
   'its SHA-256 is the one the CSP allows');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
is($r->{headers}{'cache-control'}, 'no-store', 'no-store');
is($r->{headers}{'x-frame-options'}, 'DENY', 'no framing');
unlike($html, qr/<script/i, 'no script');
unlike($html, qr/\sstyle\s*=/i, 'no style attribute');
unlike($html, qr/\son[a-z]+\s*=/i, 'no event-handler attribute');
unlike($html, qr/\s(?:src|href)\s*=\s*"(?!\?format=)/i,
       'no external asset or link (only ?format= links)');
my ($set) = $r->{headers}{'set-cookie'};
like($set // '', qr/^lbfstatus_sid=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Strict$/,
     'session cookie: HttpOnly, SameSite=Strict');
my ($sid) = ($set // '') =~ /^lbfstatus_sid=([0-9a-f]{32})/;
my @nonces = $html =~ /name="nonce" value="([^"]*)"/g;
ok(@nonces && !grep({ $_ !~ /^[0-9a-f]{64}$/ || $_ ne $nonces[0] } @nonces),
   'every form carries the one nonce');
my $r2 = $ua->get($page, { headers => { Cookie => "lbfstatus_sid=$sid" } });
ok(!defined $r2->{headers}{'set-cookie'}, 'a known session gets no new cookie');
is(($r2->{content} =~ /name="nonce" value="([^"]*)"/)[0], $nonces[0],
   'and the same nonce');

# Rows: state, weights, counters, health check, latency, standby.
sub html_row {
    my ($farm, $member) = @_;
    my ($sec) = $html =~ m{<section class="farm" data-farm="\Q$farm\E">(.*?)</section>}s;
    return '' unless $sec;
    my ($row) = $sec =~ m{<tr data-member="\Q$member\E">(.*?)</tr>}s;
    return $row // '';
}
my $m1 = html_row('web', 'm1');
like($m1, qr{<span class="st st-ok">ok</span>}, 'm1 ok');
like($m1, qr{<td class="n">3 / 3</td><td class="n">0</td><td class="n">30</td><td class="n">0</td>},
     'm1: weight 3 / 3, 0 in flight, 30 requests, 0 errors');
like($m1, qr{200 in \d+ ms}, 'm1: health check 200');
like($m1, qr{\d+\.\d / \d+\.\d / \d+\.\d ms <span class="muted">\(30\)</span>},
     'm1: latency p50/p95/p99 over 30 requests');
like(html_row('api', 'a3'), qr{st-standby">standby 1<}, 'a3: standby');
my $a1 = html_row('api', 'a1');
like($a1, qr{0\.420 <span class="muted">\d+\.\d s ago</span></td><td class="n">0\.580</td>},
     'a1: pushed load 0.420, its age, headroom 0.580');
like($a1, qr{title="cpu=0\.420 db_conns=17\.000 "}, 'a1: pushed metrics');
like($html, qr{<svg [^>]*role="img"}, 'SVG chart');
like($html, qr{<title>m1: 30 requests \(75\.0 %\), 0 in flight</title>},
     'SVG: m1 has 75 % of the requests');

# Escaping: no hostile string comes out raw, each comes out escaped.
sub h { my $s = shift; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
        $s =~ s/"/&quot;/g; $s =~ s/'/&#39;/g; return $s }
for my $raw ($BAL, $HOST, $PATH) {
    ok(index($html, $raw) < 0, "HTML: no raw $raw");
    ok(index($html, h($raw)) >= 0, 'HTML: escaped as ' . h($raw));
}
my ($bsec) = $html =~ m{<section class="farm" data-farm="~\Q${\ h($BAL) }\E#[0-9a-f]{8}">(.*?)</section>}s;
ok(defined $bsec, 'balancer:// section present');
unlike($bsec // '<form', qr/<form/, 'balancer:// farm: read only (no forms)');

###########################################################################
# JSON

$r = $ua->get("$page?format=json");
is($r->{headers}{'content-type'}, 'application/json', 'JSON: content type');
unlike($r->{content}, qr/[<>&]/, 'JSON: < > & escaped too');
my $j = eval { JSON::PP->new->decode($r->{content}) };
ok($j, 'JSON parses') or diag($@);
my %jm;
for my $f (@{ $j->{farms} || [] }) {
    $jm{"$f->{name}/$_->{name}"} = { %$_, kind => $f->{kind} }
        for @{ $f->{members} };
}
is($jm{'web/m1'}{requests}, 30, 'JSON: m1 30 requests');
is($jm{'web/m2'}{requests}, 10, 'JSON: m2 10 requests');
is_deeply([ @{ $jm{'api/a3'} }{qw(standby tier state)} ],
          [ JSON::PP::true, 1, 'ok' ], 'JSON: a3 standby tier 1, ok');
is($jm{'web/m1'}{health_check}{status}, 200, 'JSON: health check 200');
is($jm{'web/m1'}{latency}{window_requests}, 30, 'JSON: latency window 30');
my $lat = $jm{'web/m1'}{latency};
ok($lat->{p50_us} > 0 && $lat->{p50_us} <= $lat->{p95_us}
   && $lat->{p95_us} <= $lat->{p99_us}, 'JSON: 0 < p50 <= p95 <= p99');
is($jm{'api/a1'}{load}, 0.42, 'JSON: a1 load');
ok(defined $jm{'api/a1'}{load_age_ms} && $jm{'api/a1'}{load_age_ms} >= 0,
   'JSON: a1 load age');
is($jm{'api/a1'}{headroom}, 0.58, 'JSON: a1 headroom');
is_deeply($jm{'api/a1'}{metrics}, { cpu => 0.42, db_conns => 17 },
          'JSON: a1 metrics');
is($jm{'api/a2'}{load}, undef, 'JSON: a2 never pushed: load null');
is($jm{'api/a2'}{url}, $m[1]->url . $PATH, 'JSON: hostile URL round-trips');
is_deeply([ @{ $jm{'web/m1'} }{qw(method up admin runtime)} ],
          [ 'weighted', JSON::PP::true, 'enabled', JSON::PP::false ],
          'JSON: m1 method, up, admin, runtime');
my ($bf) = grep { $_->{kind} eq 'balancer' } @{ $j->{farms} };
like($bf->{name} // '', qr/^~\Q$BAL\E#[0-9a-f]{8}$/,
     'JSON: hostile balancer name round-trips');
ok((grep { index($_->{name}, $HOST) == 0 } @{ $bf->{members} || [] }),
   'JSON: hostile member host round-trips');

###########################################################################
# Prometheus

$r = $ua->get("$page?format=prometheus");
my $prom = $r->{content};
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'Prometheus: content type');
my (%type, %help, @badline, %seen_sample);
my $label = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"/;
for my $l (split /\n/, $prom) {
    if ($l =~ /^# TYPE (\w+) (counter|gauge)$/) { $type{$1} = $2; next }
    if ($l =~ /^# HELP (\w+) \S/) { $help{$1} = 1; next }
    if ($l =~ /^(\w+)(?:\{$label(?:,$label)*\})? -?\d+(?:\.\d+)?$/) {
        push @badline, "$l (no TYPE before it)" unless $type{$1};
        $seen_sample{$1}++;
        next;
    }
    push @badline, $l;
}
is_deeply(\@badline, [], 'Prometheus: every line is HELP, TYPE or a sample');
is_deeply([ grep { !$help{$_} } sort keys %type ], [], 'HELP for every family');
is_deeply([ grep { $type{$_} eq 'counter' && !/_total$/ } sort keys %type ],
          [], 'counters end in _total');
is($type{lbfarm_member_requests_total}, 'counter', 'requests: counter');
is($type{lbfarm_member_errors_total}, 'counter', 'errors: counter');
is($type{$_}, 'gauge', "$_: gauge") for qw(lbfarm_member_inflight
    lbfarm_member_weight lbfarm_member_load lbfarm_member_headroom
    lbfarm_member_up lbfarm_member_state lbfarm_member_latency_recent_seconds);
like($prom, qr/^lbfarm_member_requests_total\{farm="web",member="m1"\} 30$/m,
     'm1 requests_total 30');
like($prom, qr/^lbfarm_member_state\{farm="web",member="m1",state="ok"\} 1$/m,
     'state as a labelled gauge');
like($prom, qr/^lbfarm_member_load\{farm="api",member="a1"\} 0\.420$/m, 'a1 load');
like($prom, qr/^lbfarm_member_admin_state\{farm="web",member="m1",admin="enabled"\} 1$/m,
     'admin state as a labelled gauge');
like($prom, qr/^lbfarm_member_method_info\{farm="api",member="a1",method="pushed-metric"\} 1$/m,
     'method as an info gauge');
like($prom, qr/^lbfarm_member_standby\{farm="api",member="a3"\} 1$/m, 'a3 standby');
(my $url_label = $m[1]->url . $PATH) =~ s/(["\\])/\\$1/g;
like($prom, qr/^lbfarm_member_url_info\{farm="api",member="a2",url="\Q$url_label\E"\} 1$/m,
     'hostile URL escaped as a label');
like($prom, qr/^lbfarm_member_pushed_metric\{farm="api",member="a1",metric="cpu"\} 0\.420$/m,
     'a1 pushed metric');
like($prom, qr/^lbfarm_member_latency_recent_seconds\{farm="web",member="m1",quantile="0\.99"\} \d+\.\d{6}$/m,
     'latency quantiles');
(my $bal_label = "~$BAL") =~ s/(["\\])/\\$1/g;
like($prom, qr/^lbfarm_farm_offline\{farm="\Q$bal_label\E#[0-9a-f]{8}"\} 0$/m,
     'hostile balancer name escaped as a label (\\ and ")');

SKIP: {
    my $py = '/usr/bin/python3';
    skip 'python3-prometheus-client not installed (tools/install-deps.sh '
        . 'installs it)', 4
        unless -x $py && system($py, '-c', 'import prometheus_client') == 0;
    LBFTest::spit("$tmp/metrics.txt", $prom);
    my $out = `$py -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    fams[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(fams))
' $tmp/metrics.txt 2>&1`;
    my $p = eval { JSON::PP::decode_json($out) };
    ok($p, "prometheus_client parses the exposition") or diag($out);
    is($p->{lbfarm_member_requests}{type}, 'counter',
       'prometheus_client: requests is a counter');
    my ($s) = grep { $_->[1]{member} eq 'm1' }
              @{ $p->{lbfarm_member_requests}{samples} || [] };
    is($s && $s->[2], 30, 'prometheus_client: m1 30 requests');
    ok((grep { $_->[1]{farm} =~ /^~\Q$BAL\E#/ }
        @{ $p->{lbfarm_farm_offline}{samples} || [] }),
       'prometheus_client: hostile label unescaped back to the raw name');
}

###########################################################################
# Text (the lines of before, plus fields at the end)

$r = $ua->get("$page?format=text");
is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'text: type');
like($r->{content}, qr/^# lbfarm generation=\d+ farms=4 members=8$/m,
     'text: header line');
like($r->{content}, qr/^member ~sp%20ace#[0-9a-f]{8} x%20y:9 method=\S+ /m,
     'text: spaces in a balancer name and host written %20');
is(scalar(grep { !/^member \S+ \S+( \w+=-?[\d.]+| (?:method|url|metrics)=\S*| (?:state|admin)=\w+)+$/ }
          grep { /^member / } split /\n/, $r->{content}), 0,
   'text: every line is two words and key=value fields');
my $line = 'member web m1 method=weighted state=ok weight=3 cfg_weight=3 '
    . 'tier=0 inflight=0 requests=30 errors=0 error_left_ms=0 load=0\.000 '
    . 'load_age_ms=-1 headroom=1\.000 hc_status=200 hc_ms=\d+ lat_n=30 '
    . 'p50_us=\d+ p95_us=\d+ p99_us=\d+ admin=enabled standby=0 runtime=0 '
    . 'up=1 ramp=1\.000 url=' . quotemeta($m[0]->url) . ' metrics= '
    . 'eject_left_ms=0 eject_n=0';
like($r->{content}, qr/^$line$/m, 'text: the line of m1');
like($r->{content},
     qr/^member api a1 .* metrics=cpu:0\.420,db_conns:17\.000 eject_left_ms=0 eject_n=0$/m,
     'text: a1 with its pushed metrics');
like($r->{content}, qr/^member api a3 .* tier=1 .* standby=1 /m,
     'text: a3 a standby');

###########################################################################
# Methods, bad formats, GET never changes anything

$r = $ua->get("$page?format=xml");
is($r->{status}, 400, 'unknown format: 400');
like($r->{content}, qr/^format: expected html, text, json or prometheus/,
     'with a message');
$r = $ua->request('HEAD', $page);
is($r->{status}, 200, 'HEAD 200');
is($r->{content} // '', '', 'HEAD: no body');
$r = $ua->request('PUT', $page, { content => 'x' });
is($r->{status}, 405, 'PUT 405');
is(join(',', sort grep { !/^(?:TRACE|OPTIONS)$/ }
                 split /,\s*/, $r->{headers}{allow} // ''), 'GET,HEAD,POST',
   'Allow: GET, HEAD, POST');
$r = $ua->get("$page?action=member-state&farm=web&member=m1&state=offline"
              . "&nonce=$nonces[0]", { headers => {
                  Cookie => "lbfstatus_sid=$sid", Origin => $h->url('') } });
is($r->{status}, 200, 'GET with administrative parameters: 200');
is(LBFTest::status_rows($h)->{'web/m1'}{state}, 'ok', 'and changes nothing');

no_unexpected_errors($h);
$_->stop for @m;
done_testing;
