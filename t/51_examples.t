# The deployment examples of conf/examples/, each run as written (only its
# documented @PLACEHOLDERS@ replaced) by a private httpd with real
# members, and its behaviour asserted:
#   (a) multi-app.conf: static files served by the balancer with no
#       member hit; two virtual hosts, each on its own weighted farm, in
#       exact schedule order;
#   (b) resource-aware.conf: members push cpu and loadavg with
#       tools/lbfarm-push; the loaded member gets fewer requests;
#   (c) sticky-appservers.conf: stickiness, a route cookie, a drain that
#       keeps the stuck clients and takes no new one;
#   (d) managed-farms.conf: signed pushes, signed instructions, the down
#       page and the offline page each in its case;
#   (e) ha-pair.conf and conf/ha/*.in: pass apache2 -t / keepalived -t
#       (t/50_ha_pair.t runs the pair);
#   (f) caching-proxy.conf: cache hits reach no member (counted at the
#       member by a tap), and the status page counts only the misses.
# Also: every placeholder an example uses is documented at its top, and
# every ```apache block of docs/ha.md passes apache2 -t.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use LBFTest;
use LBFNet;

plan skip_all => 'module not built'
    unless -f module_path() && -x member_path();

my $ROOT = repo_root();
my $EX = "$ROOT/conf/examples";
my $F = slow_factor();
my $tmp = tempdir('lbf-examples-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{LBF_KEEP});
chmod 0755, $tmp;

# A file of $tmp holding $text, readable by httpd's children.
sub file_in {
    my ($name, $text, $mode) = @_;
    my $path = "$tmp/$name";
    LBFTest::spit($path, $text);
    chmod $mode // 0644, $path;
    return $path;
}
sub random_secret { return $_[0] . '-' . join('', map { int rand 10 } 1 .. 24) }

# example($file, {PLACEHOLDER => value}) -> the configuration text, after
# checking that the placeholders it uses are those its header documents.
sub example {
    my ($file, $vals) = @_;
    my $path = "$EX/$file";
    my $text = LBFTest::slurp($path);
    is(join(' ', LBFNet::placeholders_used($text)),
       join(' ', LBFNet::placeholders_documented($text)),
       "$file: every placeholder it uses is documented at its top");
    return LBFNet::fill_template($path, $vals);
}

# One status-page administration POST (the page's own form protocol: the
# session cookie and nonce from a GET of the HTML page, our Origin).
sub admin {
    my ($h, %f) = @_;
    my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 0, max_redirect => 0);
    my $page = $h->url('/lbfarm-status');
    my $r = $ua->get($page);
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /lbfstatus_sid=(\w+)/;
    my ($nonce) = ($r->{content} // '') =~ /name="nonce" value="(\w+)"/;
    my $body = join '&', map { "$_=$f{$_}" } sort keys %f;
    $r = $ua->request('POST', $page, {
        content => "nonce=" . ($nonce // '') . "&$body",
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     Origin => $h->url(''),
                     Cookie => 'lbfstatus_sid=' . ($sid // '') } });
    return $r->{status};
}

sub rows { return LBFTest::status_rows($_[0]) // {} }

# counts($url, $n, %headers) -> {member or "!status" => count}
sub counts {
    my ($url, $n, %hdr) = @_;
    my %c;
    for (1 .. $n) {
        my $r = get($url, %hdr);
        $c{ $r->{status} == 200 ? ($r->{member} // '(none)')
                                : "!$r->{status}" }++;
    }
    return \%c;
}

# A member key file for the push agent.
sub member_key {
    my ($secret_file, $member) = @_;
    my ($rc, $out) = LBFNet::run_bounded(10, "$ROOT/tools/lbfarm-push-key",
                                         $secret_file, $member);
    die "lbfarm-push-key: $out" if $rc != 0;
    return file_in("$member.key", $out, 0600);
}

# agent($h, $farm, $member, $keyfile, cpu => X, loadavg => Y) -> (exit
# code, output) of tools/lbfarm-push --once.
sub agent {
    my ($h, $farm, $member, $key, %metric) = @_;
    return LBFNet::run_bounded(15, "$ROOT/tools/lbfarm-push", '--once',
        '--balancer', $h->url('/lbfarm-push'), '--farm', $farm,
        '--member', $member, '--key-file', $key,
        map { ('--metric', "$_=$metric{$_}") } sort keys %metric);
}

# ---------------------------------------------------------------------
# (a) Several applications, static content, weighted farms.

subtest '(a) multi-app.conf' => sub {
    my %tap;
    my @mem;
    for my $n (qw(shop1 shop2 shop3 blog1 blog2)) {
        my $m = start_member($n);
        push @mem, $m;
        $tap{$n} = LBFNet::start_tap($m->port);
    }
    mkdir "$tmp/static";
    chmod 0755, "$tmp/static";
    my $logo = "static file served by the balancer\n";
    LBFTest::spit("$tmp/static/logo.txt", $logo);
    chmod 0644, "$tmp/static/logo.txt";
    my $port = free_port();
    my $body = "Listen 127.0.0.1:$port\n" . example('multi-app.conf', {
        PORT => $port, STATIC => "$tmp/static",
        map { (uc($_) => $tap{$_}->url) } keys %tap });
    my $h = start_httpd(body => $body);

    my $hits = sub { my $t = 0; $t += $_->requests for values %tap; $t };
    for my $host (qw(shop.example.com blog.example.com)) {
        for (1 .. 3) {
            my $r = LBFNet::http_get_host($port, $host, '/static/logo.txt');
            is($r->{status}, 200, "$host /static/logo.txt: 200");
            is($r->{body}, $logo, "$host: the file's content");
            ok(!defined $r->{member}, "$host: no X-Member (no member answered)");
        }
    }
    is($hits->(), 0, 'static files: no request reached any member (taps)');

    my %want = (
        'shop.example.com' => [ map { "shop$_" } map { $_ + 1 }
                                swrr_schedule(12, 3, 2, 1) ],
        'blog.example.com' => [ map { "blog$_" } map { $_ + 1 }
                                swrr_schedule(10, 1, 4) ],
    );
    is("@{ $want{'shop.example.com'} }[0 .. 5]",
       'shop1 shop2 shop1 shop3 shop2 shop1', 'shop 3:2:1 schedule');
    is("@{ $want{'blog.example.com'} }[0 .. 4]",
       'blog2 blog2 blog1 blog2 blog2', 'blog 1:4 schedule');
    for my $host (sort keys %want) {
        my @got = map {
            my $r = LBFNet::http_get_host($port, $host, '/page');
            $r->{status} == 200 ? $r->{member} // '-' : "!$r->{status}";
        } 1 .. scalar @{ $want{$host} };
        is_deeply(\@got, $want{$host},
                  "$host: its own farm, in exact weighted order")
            or diag("got @got");
    }
    is($hits->(), 22, 'members saw exactly the 22 proxied requests');
    is(join(',', map { $tap{$_}->requests(qr{^/static/}) } sort keys %tap),
       '0,0,0,0,0', 'no member ever saw /static/');
    no_unexpected_errors($h);
    $_->stop for values %tap;
    $_->stop for @mem;
};

# ---------------------------------------------------------------------
# (b) Resource-aware forwarding on pushed cpu and loadavg.

subtest '(b) resource-aware.conf' => sub {
    my @m = map { start_member("api$_") } 1 .. 3;
    mkdir "$tmp/b";
    my $secret = file_in('b/api.push.key', random_secret('push') . "\n", 0600);
    my $h = start_httpd(modules => ['authz_host'],
        body => example('resource-aware.conf', {
            SECRETS => "$tmp/b", MEMBER_NET => '127.0.0.1',
            ADMIN_NET => '127.0.0.1',
            map { ('API' . ($_ + 1) => $m[$_]->url) } 0 .. 2 }));
    my %load = (api1 => [0.95, 3.9], api2 => [0.10, 0.3], api3 => [0.10, 0.3]);
    my $push_all = sub {
        for my $n (sort keys %load) {
            my ($rc, $out) = agent($h, 'api', $n, member_key($secret, $n),
                                   cpu => $load{$n}[0],
                                   loadavg => $load{$n}[1]);
            is($rc, 0, "lbfarm-push --once for $n: accepted") or diag($out);
        }
    };
    $push_all->();
    # reports of a new reporter count after the 2 s blackout
    ok(wait_until(5 * $F, sub {
        my $r = rows($h);
        return ($r->{'api/api1'}{headroom} // '') eq '0.250'
            && ($r->{'api/api2'}{headroom} // '') ne '1.000';
    }, 0.2), 'status: api1 (cpu 0.95, load 3.9 of 4) at the headroom floor '
       . '0.25, api2 above it, after the blackout')
        or diag(explain(rows($h)));
    my ($c, $bad) = LBFTest::parallel_counts($h->url('/api/?sleep_ms=20'),
                                             clients => 10, total => 600,
                                             timeout => 20);
    is(scalar @$bad, 0, '600 requests from 10 clients, all 200')
        or diag("@$bad");
    my $n = 0;
    $n += $_ for values %$c;
    my ($a1, $a2, $a3) = map { $c->{$_} // 0 } qw(api1 api2 api3);
    ok($a1 < $a2 && $a1 < $a3, "the loaded api1 gets fewer ($a1) than "
       . "api2 ($a2) and api3 ($a3)");
    ok($n && $a1 / $n < 0.2, sprintf('api1 share %.3f < 0.2 (its capacity '
       . 'is 0.25 of the others\' 0.92)', $n ? $a1 / $n : -1));
    # sequential requests: the lightest member wins every time
    my $seq = counts($h->url('/api/'), 20);
    ok(!$seq->{api1}, 'sequential requests: none on the loaded api1')
        or diag(explain($seq));
    no_unexpected_errors($h);
    $_->stop for @m;
};

# ---------------------------------------------------------------------
# (c) Sticky application servers, a route cookie, drain.

subtest '(c) sticky-appservers.conf' => sub {
    my %m = map { $_ => start_member($_) } qw(tc1 tc2 tc3);
    mkdir "$tmp/c";
    my $secret = random_secret('session');
    file_in('c/app.session.key', "$secret\n", 0600);
    my $h = start_httpd(modules => ['authz_host'],
        body => example('sticky-appservers.conf', {
            SECRETS => "$tmp/c", ADMIN_NET => '127.0.0.1',
            map { (uc($_) => $m{$_}->url) } keys %m }));
    my $url = $h->url('/app/');

    my $first = get($url);
    my ($val) = LBFTest::set_cookie_named($first, 'lbf_app');
    ok(LBFTest::parse_sess_cookie($val), 'a new client gets a signed lbf_app cookie');
    my $stuck = $first->{member} // 'tc1';
    is_deeply(counts($url, 10, Cookie => "lbf_app=$val"), { $stuck => 10 },
              "sticky: 10 requests with it all on $stuck");
    my $other = (grep { $_ ne $stuck } qw(tc1 tc2 tc3))[0];
    is_deeply(counts($url, 8, Cookie => "JSESSIONID=8F3A1C.$other"),
              { $other => 8 }, "route cookie JSESSIONID=8F3A1C.$other: all on $other");

    is(admin($h, action => 'member-state', farm => 'app', member => $stuck,
             state => 'drain'), 303, "drain $stuck from the status page: 303");
    is(rows($h)->{"app/$stuck"}{state}, 'draining', "status: $stuck draining");
    is_deeply(counts($url, 10, Cookie => "lbf_app=$val"), { $stuck => 10 },
              "draining: the client stuck to $stuck stays on it");
    my $new = counts($url, 30);
    ok(!$new->{$stuck} && 30 == ($new->{$other} // 0)
       + ($new->{ (grep { $_ ne $stuck && $_ ne $other } qw(tc1 tc2 tc3))[0] }
          // 0), "draining: 30 new clients, none on $stuck, all 200")
        or diag(explain($new));
    is(admin($h, action => 'member-state', farm => 'app', member => $stuck,
             state => 'up'), 303, "$stuck back up: 303");
    $new = counts($url, 30);
    ok($new->{$stuck}, "after the drain, new clients reach $stuck again")
        or diag(explain($new));
    no_unexpected_errors($h);
    $_->stop for values %m;
};

# ---------------------------------------------------------------------
# (d) Pushed statistics, signed instructions, the down and offline pages.

subtest '(d) managed-farms.conf' => sub {
    mkdir "$tmp/d";
    my $session = random_secret('session');
    my $sess_file = file_in('d/shop.session.key', "$session\n");
    my $push_file = file_in('d/shop.push.key', random_secret('push') . "\n",
                            0600);
    my %m = map { $_ => start_member($_, args => ['--app-key-file', $sess_file]) }
            qw(shop1 shop2);
    mkdir "$tmp/pages";
    chmod 0755, "$tmp/pages";
    my %page;
    for my $p (qw(down offline)) {
        $page{$p} = LBFTest::slurp("$EX/errors/$p.html");
        ok(length $page{$p}, "conf/examples/errors/$p.html exists");
        file_in("pages/$p.html", $page{$p});
    }
    my $h = start_httpd(modules => ['authz_host'],
        body => example('managed-farms.conf', {
            SECRETS => "$tmp/d", PAGES => "$tmp/pages",
            MEMBER_NET => '127.0.0.1', ADMIN_NET => '127.0.0.1',
            map { (uc($_) => $m{$_}->url) } keys %m }));
    my $url = $h->url('/shop/');
    ok(wait_until(5 * $F, sub { (rows($h)->{'shop/shop1'}{hc_status} // '')
                                eq '200' }, 0.2), 'health checks run');

    # pushed statistics, signed by each member's key
    for my $n (qw(shop1 shop2)) {
        my ($rc, $out) = agent($h, 'shop', $n, member_key($push_file, $n),
                               cpu => '0.40', loadavg => '0.5');
        is($rc, 0, "signed push from $n: accepted") or diag($out);
        is(rows($h)->{"shop/$n"}{load}, '0.400', "status: $n load 0.400");
    }
    my ($rc, $out) = agent($h, 'shop', 'shop1', member_key($push_file, 'shop2'),
                           cpu => '0.9');
    isnt($rc, 0, 'a push for shop1 signed with shop2\'s key is refused');
    like($out, qr/HTTP 401/, '... with 401') or diag($out);

    # signed instructions: obeyed and stripped; a forged one dropped
    my $r = get("$url?instr=stick");
    is($r->{status}, 200, 'instr=stick: 200');
    ok(!exists $r->{headers}{'x-lbfarm-instruction'},
       'the instruction header does not reach the client');
    my ($v) = LBFTest::set_cookie_named($r, 'lbf_shop');
    my $c = LBFTest::parse_sess_cookie($v);
    is($c && $c->{mode}, 'a', 'a signed "stick" gives a cookie of mode a');
    is($c && $c->{id}, LBFTest::sess_member_id($session, $r->{member} // ''),
       'naming the member that sent it');
    $r = get("$url?instr_raw=stick%3Bts%3D1%3Bsig%3D" . ('0' x 64));
    ($v) = LBFTest::set_cookie_named($r, 'lbf_shop');
    $c = LBFTest::parse_sess_cookie($v);
    is($c && $c->{mode}, 'w', 'a forged instruction is dropped (plain '
       . 'sticky cookie, mode w)');

    # the offline page: the farm taken offline on the status page
    is(admin($h, action => 'farm-state', farm => 'shop', state => 'offline'),
       303, 'farm shop offline from the status page: 303');
    $r = get($url);
    is($r->{status}, 503, 'offline: 503');
    is($r->{body}, $page{offline}, 'offline: the offline page');
    ok($r->{headers}{'retry-after'}, 'offline: Retry-After');
    ok(!defined $r->{member}, 'offline: no member answered');
    is(admin($h, action => 'farm-state', farm => 'shop', state => 'online'),
       303, 'farm shop online again: 303');
    is(get($url)->{status}, 200, 'online: 200 again');

    # the down page: every member fails its health checks
    $_->stop for values %m;
    ok(wait_until(6 * $F, sub {
        my $rows = rows($h);
        return 2 == grep { ($rows->{"shop/$_"}{state} // '') eq 'down' }
                         qw(shop1 shop2);
    }, 0.2), 'both members down after their health checks');
    $r = get($url);
    is($r->{status}, 503, 'down: 503');
    is($r->{body}, $page{down}, 'down: the down page (not the offline page)');
    ok($r->{headers}{'retry-after'}, 'down: Retry-After');
    no_unexpected_errors($h, qr/LBF\d+:.*(?:no usable member|no member)/i);
};

# ---------------------------------------------------------------------
# (e) The HA pair's files (t/50_ha_pair.t runs them).

subtest '(e) ha-pair.conf and conf/ha' => sub {
    mkdir "$tmp/e";
    file_in("e/$_.key", random_secret($_) . "\n", 0600) for qw(session push);
    my $body = example('ha-pair.conf', {
        NODE => 'lb1', SECRETS => "$tmp/e", TRUSTED_NET => '10.0.0.0/24',
        MEMBER1 => 'http://10.0.0.21:8080', MEMBER2 => 'http://10.0.0.22:8080',
        MEMBER3 => 'http://10.0.0.23:8080' });
    my ($rc, $out) = config_test($body, modules => ['authz_host']);
    is($rc, 0, 'ha-pair.conf: apache2 -t') or diag($out);
    ok(-x "$ROOT/conf/ha/check_httpd.sh", 'conf/ha/check_httpd.sh is executable');
    my ($ka) = grep { -x } qw(/usr/sbin/keepalived /sbin/keepalived);
    SKIP: {
        skip 'keepalived is not installed', 4 unless $ka;
        my %tpl = (
            'keepalived.conf.in' => {
                ROUTER_ID => 'lb1', STATE => 'MASTER', PRIORITY => 150,
                INTERFACE => 'eth0', VRID => 51, VIP => '10.0.0.100/24',
                CHECK_SCRIPT => "$ROOT/conf/ha/check_httpd.sh",
                STATUS_URL => 'http://127.0.0.1/lbfarm-status?format=text',
                PIDFILE => '/run/apache2/apache2.pid' },
            'keepalived-lvs.conf.in' => {
                ROUTER_ID => 'lvs1', STATE => 'MASTER', PRIORITY => 150,
                INTERFACE => 'eth0', VRID => 60, VIP => '10.0.0.100',
                VIP_PREFIX => 24, LB1 => '10.0.0.11', LB2 => '10.0.0.12',
                LB3 => '10.0.0.13', PORT => 80,
                STATUS_PATH => '/lbfarm-status?format=text' },
        );
        for my $t (sort keys %tpl) {
            my $text = LBFTest::slurp("$ROOT/conf/ha/$t");
            is(join(' ', LBFNet::placeholders_used($text)),
               join(' ', LBFNet::placeholders_documented($text)),
               "conf/ha/$t: every placeholder documented");
            my $conf = file_in($t =~ s/\.in$//r,
                LBFNet::fill_template("$ROOT/conf/ha/$t", $tpl{$t}));
            my ($krc, $kout) = LBFNet::run_bounded(15, $ka, '-t', '-l', '-f',
                                                   $conf);
            is($krc, 0, "conf/ha/$t: keepalived -t") or diag($kout);
        }
    }
};

# ---------------------------------------------------------------------
# (f) A caching reverse proxy: hits never reach a member.

subtest '(f) caching-proxy.conf' => sub {
    my @m = map { start_member("web$_") } 1 .. 2;
    my @tap = map { LBFNet::start_tap($_->port) } @m;
    my $h = start_httpd(modules => [qw(authz_host cache cache_socache
                                       socache_shmcb)],
        body => example('caching-proxy.conf', {
            ADMIN_NET => '127.0.0.1',
            WEB1 => $tap[0]->url, WEB2 => $tap[1]->url }));
    my $at_members = sub { my $t = 0; $t += $_->requests for @tap; $t };
    my $counted = sub {
        my $r = rows($h);
        my $t = 0;
        $t += $r->{"web/$_"}{requests} // 0 for qw(web1 web2);
        return $t;
    };
    my (%xc, $misses, @bad);
    my $fetch = sub {
        my ($path, $n) = @_;
        for (1 .. $n) {
            my $r = get($h->url($path));
            push @bad, "$path $r->{status}" if $r->{status} != 200;
            my $x = $r->{headers}{'x-cache'} // 'none';
            $x = $x =~ /^HIT/ ? 'HIT' : $x =~ /^MISS/ ? 'MISS' : $x;
            $xc{$path}{$x}++;
        }
    };
    $fetch->('/app/catalog/1', 10);
    $fetch->('/app/catalog/2', 6);
    $fetch->('/app/account/orders', 4);
    is(scalar @bad, 0, 'every request 200') or diag("@bad");
    is_deeply($xc{'/app/catalog/1'}, { MISS => 1, HIT => 9 },
              'catalog/1: one miss, then 9 hits') or diag(explain(\%xc));
    is_deeply($xc{'/app/catalog/2'}, { MISS => 1, HIT => 5 },
              'catalog/2: one miss, then 5 hits');
    ok(!$xc{'/app/account/orders'}{HIT}, '/app/account/: never a hit '
       . '(CacheDisable)');
    my $want = 1 + 1 + 4;
    is($at_members->(), $want, "members received $want requests of 20 "
       . '(the misses and the uncached pages; no hit reached them)');
    my $p1 = 0;
    $p1 += $_->requests(qr{^/app/catalog/1\b}) for @tap;
    is($p1, 1, 'catalog/1 reached a member once');
    is($counted->(), $want, "status page: $want requests, the misses only");
    no_unexpected_errors($h);
    $_->stop for @tap;
    $_->stop for @m;
};

# ---------------------------------------------------------------------
# docs/ha.md: every ```apache block passes apache2 -t (its paths under
# /etc/apache2/lbfarm/ point at secret files made here).

subtest 'docs/ha.md apache blocks' => sub {
    my $doc = LBFTest::slurp("$ROOT/docs/ha.md");
    plan skip_all => 'no docs/ha.md' unless length $doc;
    my @blocks = $doc =~ /^```apache\n(.*?)^```/msg;
    ok(@blocks >= 1, scalar(@blocks) . ' apache blocks in docs/ha.md');
    mkdir "$tmp/etc";
    my $i = 0;
    for my $b (@blocks) {
        $i++;
        (my $conf = $b) =~ s{/etc/apache2/lbfarm/([\w.-]+)}{
            my $f = "$tmp/etc/$1";
            LBFTest::spit($f, random_secret('doc') . "\n") unless -e $f;
            $f }ge;
        my ($rc, $out) = config_test($conf, modules => ['authz_host']);
        is($rc, 0, "docs/ha.md block $i: apache2 -t") or diag($out, $conf);
    }
};

done_testing;
