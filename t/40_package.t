# Installing: "make install" / "make uninstall" into a DESTDIR (no root
# needed), then the Debian package (root, dpkg-dev, debhelper): "make deb"
# builds it in a temporary directory, dpkg -i installs it, a2enmod
# proxy_lbfarm enables it with proxy, proxy_http and proxy_balancer, a
# private httpd loads the installed module and serves through a farm, and
# dpkg --purge leaves nothing behind.
#
# The machine is left as it was found: mods-enabled, conf-enabled and
# a2enmod's state (/var/lib/apache2) are compared before and after, and the
# modules a2enmod pulled in are disabled again.  The system's apache2 is
# never started, stopped or restarted: its master processes, its pid file
# and (under systemd) "systemctl is-active apache2" must be the same after.
# When it is not running, the module is left enabled for dpkg --purge, so
# the package's prerm must disable it without starting apache2.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use LBFTest;

my $ROOT = repo_root();
my $PKG = 'libapache2-mod-lbfarm';
my $MODS = '/etc/apache2/mods-available';
my $DOC = "/usr/share/doc/$PKG";
my @PKG_FILES = (
    '/usr/lib/apache2/modules/mod_lbfarm.so', "$MODS/proxy_lbfarm.load",
    "$MODS/proxy_lbfarm.conf", '/usr/bin/lbfarm-push',
    '/usr/sbin/lbfarm-push-key', '/lib/systemd/system/lbfarm-push.service',
    "$DOC/examples/lbfarm-example.conf", "$DOC/examples/lbfarm-push.cron",
    "$DOC/examples/ha-pair.conf", "$DOC/examples/errors/down.html",
    "$DOC/examples/ha/keepalived.conf.in",
    "$DOC/copyright", '/usr/share/man/man1/lbfarm-push.1.gz',
    '/usr/share/man/man8/lbfarm-push-key.8.gz',
);
# What a2enmod proxy_lbfarm must enable (at least).
my @ENABLED = qw(proxy proxy_http proxy_balancer proxy_lbfarm);

# run($timeout, @argv) -> (exit code, stdout+stderr); -1 on a timeout.
sub run {
    my ($timeout, @argv) = @_;
    my $dir = tempdir('lbf-pkg-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $log = "$dir/out";
    my $pid = LBFTest::spawn(argv => \@argv, log => $log,
                             what => "@argv[0 .. ($#argv > 2 ? 2 : $#argv)]");
    my $st = LBFTest::reap($pid, $timeout);
    if (!defined $st) {
        LBFTest::terminate($pid, 5);
        return (-1, LBFTest::slurp($log) . "\n(timed out after ${timeout}s)");
    }
    return ($st == -1 ? -1 : $st >> 8, LBFTest::slurp($log));
}

sub have { return !system("command -v '$_[0]' >/dev/null 2>&1") }

sub slurp { LBFTest::slurp($_[0]) }

# ---------------------------------------------------------------- DESTDIR

{
    my $d = tempdir('lbf-destdir-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @make = ('make', '-s', '-C', $ROOT, "DESTDIR=$d", 'PREFIX=/usr/local');
    my ($rc, $out) = run(120, @make, 'install');
    is($rc, 0, 'make install DESTDIR=... exits 0') or diag($out);
    my @want = map { "$d$_" } (
        '/usr/lib/apache2/modules/mod_lbfarm.so', "$MODS/proxy_lbfarm.load",
        "$MODS/proxy_lbfarm.conf", '/usr/local/bin/lbfarm-push',
        '/usr/local/sbin/lbfarm-push-key',
        '/usr/local/lib/systemd/system/lbfarm-push.service',
        '/usr/local/share/man/man1/lbfarm-push.1',
        '/usr/local/share/man/man8/lbfarm-push-key.8',
        '/usr/local/share/doc/mod_lbfarm/examples/lbfarm-example.conf',
        '/usr/local/share/doc/mod_lbfarm/examples/lbfarm-push.cron',
        map { my $f = $_; $f =~ s{^\Q$ROOT\E/conf/(?:examples/)?}{};
              "/usr/local/share/doc/mod_lbfarm/examples/$f" }
            grep { -f } glob("$ROOT/conf/examples/*.conf "
                             . "$ROOT/conf/examples/errors/* $ROOT/conf/ha/*"));
    my @got = sort split /\n/, `find '$d' -type f`;
    is_deeply(\@got, [sort @want], 'make install: exactly the listed files')
        or diag(explain(\@got));
    like(slurp("$d/usr/local/lib/systemd/system/lbfarm-push.service"),
         qr{exec /usr/local/bin/lbfarm-push }, 'unit runs BINDIR/lbfarm-push');
    ok(-x "$d/usr/local/sbin/lbfarm-push-key", 'key tool is executable');

    my $conf = "$d$MODS/proxy_lbfarm.conf";
    open my $fh, '>>', $conf or die "$conf: $!";
    print {$fh} "# edited by the admin\n";
    close $fh;
    ($rc, $out) = run(120, @make, 'install');
    is($rc, 0, 'make install again exits 0') or diag($out);
    like(slurp($conf), qr/edited by the admin/,
         'make install keeps an edited proxy_lbfarm.conf');
    ok(-f "$conf.dist", 'and writes the new one as proxy_lbfarm.conf.dist');
    like($out, qr/kept your edited/, 'and says so');

    ($rc, $out) = run(60, @make, 'uninstall');
    is($rc, 0, 'make uninstall exits 0') or diag($out);
    @got = sort split /\n/, `find '$d' -type f`;
    is_deeply(\@got, [$conf],
              'make uninstall removes all but the edited .conf')
        or diag(explain(\@got));
}

# ---------------------------------------------------------------- package

my ($installed, %before, @touched);    # for restore()

# apache_state() -> { path => what } for mods-enabled, conf-enabled, the
# a2enmod state under /var/lib/apache2 and the agent's systemd state.
sub apache_state {
    my %s;
    for my $dir ('/etc/apache2/mods-enabled', '/etc/apache2/conf-enabled') {
        opendir my $dh, $dir or next;
        for my $e (grep { !/^\.\.?$/ } readdir $dh) {
            my $l = readlink "$dir/$e";
            $s{"$dir/$e"} = defined $l ? "-> $l" : 'file';
        }
        closedir $dh;
    }
    for my $p (split /\n/, `find /var/lib/apache2 2>/dev/null`) {
        $s{$p} = -d $p ? 'dir' : 'file';
    }
    for my $p (split /\n/, `find /etc/systemd/system \\
                /var/lib/systemd/deb-systemd-helper-enabled \\
                /var/lib/systemd/deb-systemd-helper-masked \\
                -name '*lbfarm*' 2>/dev/null`) {
        $s{$p} = 'lbfarm';
    }
    return \%s;
}

# system_apache2() -> a fingerprint of the system's apache2: its master
# processes (apache2 without -f, so not a test's, whose parent is not an
# apache2) with their start times, the pid file's mtime, systemd's view.
sub system_apache2 {
    my @m;
    opendir my $dh, '/proc' or return '?';
    for my $p (grep { /^\d+$/ } readdir $dh) {
        next unless (slurp("/proc/$p/comm") =~ /^apache2$/m);
        my @argv = split /\0/, slurp("/proc/$p/cmdline");
        next if grep { $_ eq '-f' } @argv;
        my @st = split / /, (slurp("/proc/$p/stat") =~ /\) (.*)/s)[0] // '';
        my $ppid = $st[1] // 0;
        next if slurp("/proc/$ppid/comm") =~ /^apache2$/m;
        push @m, "pid $p start $st[19]";
    }
    closedir $dh;
    my $pidfile = '/var/run/apache2/apache2.pid';
    my @pst = stat $pidfile;
    push @m, @pst ? "pidfile mtime $pst[9]" : 'no pidfile';
    if (-d '/run/systemd/system') {
        my $a = `systemctl is-active apache2 2>/dev/null`;
        chomp $a;
        push @m, "systemd: $a";
    }
    return join('; ', sort @m);
}

# restore(): purge the package if still installed, disable what a2enmod
# pulled in, put a2enmod's state markers back as they were.  Idempotent;
# also run from END when the test dies half-way.
sub restore {
    return unless %before;
    if ($installed) {
        run(30, 'a2dismod', '-q', '-f', 'proxy_lbfarm');
        run(120, 'dpkg', '--purge', $PKG);
        $installed = 0;
    }
    my $now = apache_state();
    my %names;
    for my $p (keys %$now) {
        next if exists $before{$p};
        $names{$1} = 1
            if $p =~ m{^/etc/apache2/mods-enabled/(\w+)\.(?:load|conf)$};
    }
    for my $n (sort keys %names) {
        push @touched, $n;
        run(30, 'a2dismod', '-q', '-f', '-p', $n);
    }
    # a2enmod's markers (/var/lib/apache2/module/*/NAME): as before.
    $now = apache_state();
    my %mine = map { $_ => 1 } @touched, 'proxy_lbfarm';
    for my $p (sort { length $b <=> length $a } keys %$now) {
        next if exists $before{$p} || $p !~ m{^/var/lib/apache2/};
        my ($base) = $p =~ m{([^/]+)$};
        if ($now->{$p} eq 'file' && $mine{$base}) { unlink $p; }
        elsif ($now->{$p} eq 'dir') { rmdir $p; }    # only when empty
    }
    for my $p (sort keys %before) {
        next if $p !~ m{^/var/lib/apache2/} || -e $p;
        my ($base) = $p =~ m{([^/]+)$};
        next unless $mine{$base} || $before{$p} eq 'dir';
        if ($before{$p} eq 'dir') { mkdir $p; }
        elsif (open my $fh, '>', $p) { close $fh; }
    }
}

END { restore() if $installed || %before }

SKIP: {
    my $why = $> != 0 ? 'not root (dpkg -i and a2enmod need root)'
        : asan() ? 'LBF_ASAN=1: the package is no ASan build (the plain '
                   . 'run tests it)'
        : !have('dpkg-buildpackage') || !have('dh') || !have('dh_apache2')
          ? 'dpkg-buildpackage, debhelper or dh_apache2 (apache2-dev) '
            . 'missing: make deps installs them'
        : !have('git') || system("git -C '$ROOT' rev-parse >/dev/null 2>&1")
          ? 'not a git checkout (make deb copies the files git knows)'
        : !-x '/usr/sbin/a2enmod' ? 'apache2 is not installed (no a2enmod)'
        : undef;
    if (!$why) {
        my $st = `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`;
        $why = "$PKG is installed already ($st): not touching it"
            if $st =~ /installed|config-files|unpacked/;
        for my $f (@PKG_FILES, '/etc/apache2/mods-enabled/proxy_lbfarm.load') {
            $why //= "$f exists (make install?): not overwriting it"
                if -e $f;
        }
    }
    if ($why) {
        diag("package part skipped: $why");
        skip($why, 1);
    }

    %before = %{ apache_state() };
    my $sys = system_apache2();
    my $sys_running = $sys =~ /pid \d+/;
    diag("system apache2: $sys");
    my @systest = ('sh', '-c',
                   '. /etc/apache2/envvars && exec /usr/sbin/apache2 -t');
    my ($pre_rc) = run(30, @systest);
    my $git_before = `git -C '$ROOT' status --porcelain`;

    # build, in a temporary directory
    my $t = tempdir('lbf-pkg-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{LBF_KEEP});
    my ($rc, $out) = run(600, 'nice', 'make', '-s', '-C', $ROOT, 'deb',
                         "DEBDIR=$t");
    is($rc, 0, 'make deb exits 0') or diag(substr($out, -4000));
    my ($deb) = glob("$t/${PKG}_*_*.deb");
    my ($changes) = glob("$t/${PKG}_*.changes");
    ok($deb && -f $deb, "make deb built $PKG: " . ($deb // 'nothing'))
        or die "no package built\n";
    is(`git -C '$ROOT' status --porcelain`, $git_before,
       'make deb left no build debris in the work tree');

    if (have('lintian') && $changes) {
        ($rc, $out) = run(300, 'lintian', '--tag-display-limit', '0',
                          $changes);
        my @e = grep { /^E: / } split /\n/, $out;
        is(scalar @e, 0, 'lintian reports no error') or diag($out);
        note($out);
    }
    my $conffiles = `dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles`;
    like($conffiles, qr{^\Q$MODS\E/proxy_lbfarm\.conf$}m,
         'proxy_lbfarm.conf is a conffile');

    # install
    $installed = 1;
    ($rc, $out) = run(120, 'dpkg', '-i', $deb);
    is($rc, 0, 'dpkg -i exits 0') or diag($out);
    ok(-e $_, "installed: $_") for @PKG_FILES;
    like(slurp("$MODS/proxy_lbfarm.load"),
         qr{\A# Depends: proxy proxy_http proxy_balancer\n}, '.load Depends:');
    unlike(slurp("$MODS/proxy_lbfarm.conf"), qr{^\s*<LBFarm}m,
           'proxy_lbfarm.conf declares no farm');
    like(slurp('/lib/systemd/system/lbfarm-push.service'),
         qr{exec /usr/bin/lbfarm-push }, 'unit runs /usr/bin/lbfarm-push');
    ok(!-e '/etc/apache2/mods-enabled/proxy_lbfarm.load',
       'installing enables nothing');
    ok(!grep({ m{/etc/systemd/system/.*lbfarm} } keys %{ apache_state() }),
       'the agent unit is not enabled');
    is(system_apache2(), $sys, 'dpkg -i: system apache2 untouched');

    for my $target (qw(install uninstall)) {
        ($rc, $out) = run(120, 'make', '-s', '-C', $ROOT, $target);
        isnt($rc, 0, "make $target refuses while the package is installed");
        like($out, qr/package $PKG is installed/, 'and says why');
    }
    ok(-e $_, "still there: $_") for @PKG_FILES[0 .. 2];

    my $secret = LBFTest::secret_file('0123456789abcdef-pkg-secret');
    ($rc, $out) = run(30, '/usr/sbin/lbfarm-push-key', $secret, 'a1');
    is($out, LBFTest::push_member_key('0123456789abcdef-pkg-secret', 'a1')
       . "\n", 'installed lbfarm-push-key derives the member key');
    ($rc, $out) = run(30, '/usr/bin/lbfarm-push');
    is($rc, 2, 'installed lbfarm-push runs (usage: exit 2)') or diag($out);

    # enable
    ($rc, $out) = run(60, 'a2enmod', '-q', 'proxy_lbfarm');
    is($rc, 0, 'a2enmod -q proxy_lbfarm exits 0') or diag($out);
    for my $m (@ENABLED) {
        is(readlink("/etc/apache2/mods-enabled/$m.load"),
           "../mods-available/$m.load", "a2enmod enabled $m");
    }
    is(readlink('/etc/apache2/mods-enabled/proxy_lbfarm.conf'),
       '../mods-available/proxy_lbfarm.conf', 'and proxy_lbfarm.conf');
    SKIP: {
        skip('the system configuration failed apache2 -t before', 1)
            if $pre_rc;
        ($rc, $out) = run(30, @systest);
        is($rc, 0, 'system apache2 -t with proxy_lbfarm enabled') or diag($out);
    }

    # a private httpd with the installed module: one request through a farm
    {
        local $ENV{LBF_MODULE} = '/usr/lib/apache2/modules/mod_lbfarm.so';
        my $m = start_member('pk1');
        my $h = start_httpd(body => <<"CONF");
Include $MODS/proxy_lbfarm.conf
<LBFarm pkg>
    LBFarmMember pk1 ${\ $m->url }
</LBFarm>
ProxyPass        /app/ http://pkg/app/
ProxyPassReverse /app/ http://pkg/app/
CONF
        my $r = get($h->url('/app/x'));
        is($r->{status}, 200, 'installed module: request through a farm 200');
        is($r->{member}, 'pk1', 'served by the farm member');
        no_unexpected_errors($h);
        $m->stop;
        my ($crc, $cout) = config_test(
            "Include $DOC/examples/lbfarm-example.conf\n");
        is($crc, 0, 'the installed example passes apache2 -t') or diag($cout);
    }

    # remove: with the module still enabled unless apache2 runs (then the
    # package's prerm would rightly restart it)
    if ($sys_running) {
        ($rc, $out) = run(60, 'a2dismod', '-q', 'proxy_lbfarm');
        is($rc, 0, 'a2dismod -q proxy_lbfarm (system apache2 runs)')
            or diag($out);
    }
    ($rc, $out) = run(120, 'dpkg', '--purge', $PKG);
    is($rc, 0, 'dpkg --purge exits 0') or diag($out);
    $installed = 0;
    note($out);
    # apache2-maintscript-helper restarts through invoke-rc.d, which starts
    # an enabled apache2 that is not running: prerm must not get there.
    unlike($out, qr/invoke-rc\.d|policy-rc\.d|restart/i,
           'dpkg --purge asked for no apache2 restart');
    isnt((run(30, 'dpkg', '-L', $PKG))[0], 0, 'dpkg -L: package gone');
    ok(!-e $_, "purged: $_") for @PKG_FILES, $DOC;
    my @left = grep { -e $_ || -l $_ }
        glob('/etc/apache2/mods-*/proxy_lbfarm.*'),
        glob('/var/lib/apache2/module/*/proxy_lbfarm');
    is_deeply(\@left, [], 'no proxy_lbfarm file or state left');
    is(system_apache2(), $sys, 'dpkg --purge: system apache2 untouched');

    restore();
    diag("disabled again: @touched") if @touched;
    is_deeply(apache_state(), \%before,
              'mods-enabled, conf-enabled and a2enmod state as before');
    is(system_apache2(), $sys,
       'system apache2 not started, stopped or restarted');
    %before = ();
}

done_testing;
