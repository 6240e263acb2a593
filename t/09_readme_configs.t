# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# Every ```apache block of README.md and docs/*.md passes `apache2 -t` as
# printed, with mod_lbfarm loaded (a user copies them).  Secret files a
# block names (LBFarmPushKey, LBFarmSessionKey, LBFarmStatusKey ...) that
# do not exist are created for the check with random content and removed
# again, with any directory made for them; existing files are never
# touched.  Needs root for that (skips the blocks that need it otherwise).
use strict;
use warnings;
use File::Path qw(make_path remove_tree);
use Test::More;
use lib 't/lib';
use LBFTest;

my $root = repo_root();
my @docs = ("$root/README.md", sort glob("$root/docs/*.md"));
my (@made_files, @made_dirs);

END {
    unlink @made_files;
    remove_tree($_) for reverse @made_dirs;
}

# The ```apache blocks of file $f: [line, text] each.
sub blocks_of {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    my (@b, $cur, $start);
    while (my $l = <$fh>) {
        if (!defined $cur && $l =~ /^```apache\s*$/) {
            ($cur, $start) = ('', $.);
        } elsif (defined $cur && $l =~ /^```\s*$/) {
            push @b, [$start, $cur];
            undef $cur;
        } elsif (defined $cur) {
            $cur .= $l;
        }
    }
    return @b;
}

# Create each absolute secret file the block names that does not exist.
# Returns 0 when one is missing and we may not create it.
sub provide_files {
    my ($text) = @_;
    for my $path ($text =~ /^\s*LBFarm\w*Key\s+(\/\S+)/mg) {
        next if -e $path;
        return 0 if $> != 0;
        (my $dir = $path) =~ s{/[^/]+$}{};
        unless (-d $dir) {
            my $top = $dir;      # the highest directory we create
            while ((my $up = $top) =~ s{/[^/]+$}{}) {
                last if $up eq '' || -d $up;
                $top = $up;
            }
            push @made_dirs, $top;
            make_path($dir, { mode => 0750 });
        }
        open my $fh, '>', $path or die "$path: $!";
        printf $fh "%s\n", join '', map { sprintf '%02x', int rand 256 } 1..32;
        close $fh;
        chmod 0640, $path;
        push @made_files, $path;
    }
    return 1;
}

my $n = 0;
for my $f (@docs) {
    (my $name = $f) =~ s{^\Q$root\E/}{};
    for my $b (blocks_of($f)) {
        my ($line, $text) = @$b;
        $n++;
        SKIP: {
            skip "$name:$line names a secret file that is missing (not root)", 1
                unless provide_files($text);
            my ($rc, $out) = config_test($text,
                                         modules => [qw(authz_host
                                                        reqtimeout cache
                                                        cache_disk watchdog
                                                        heartbeat)]);
            is($rc, 0, "$name:$line passes apache2 -t as printed")
                or diag($out);
        }
    }
}
ok($n >= 2, "found $n ```apache blocks in README.md and docs/");
done_testing();
