#!/bin/sh
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# tools/lbf-install.sh install|uninstall -- what "make install" and "make
# uninstall" do; the Makefile passes the directories in the environment
# (DESTDIR MODDIR APACHE_CONFDIR BINDIR SBINDIR UNITDIR MANDIR DOCDIR).
# debian/rules runs the same "make install" with DESTDIR set.
#
# One list (lbf_files below) says what is installed, so uninstall removes
# exactly that:
#
#   MODDIR/mod_lbfarm.so                      the module
#   APACHE_CONFDIR/mods-available/proxy_lbfarm.load
#                                             LoadModule, and the "# Depends:"
#                                             line a2enmod follows
#   APACHE_CONFDIR/mods-available/proxy_lbfarm.conf
#                                             holds no farm; an edited one is
#                                             never overwritten: the new one
#                                             goes beside it as .conf.dist
#   BINDIR/lbfarm-push, SBINDIR/lbfarm-push-key, their manual pages
#   UNITDIR/lbfarm-push.service               the agent's unit (not enabled)
#   DOCDIR/examples/: conf/lbfarm-example.conf, conf/lbfarm-push.cron,
#                     conf/examples/ (with errors/) and conf/ha/ as ha/
#
# Nothing is enabled, started or restarted: "a2enmod proxy_lbfarm" and
# "systemctl restart apache2" are the administrator's steps.  uninstall
# keeps an edited proxy_lbfarm.conf and refuses while the module or the
# agent's unit is enabled (the links left behind would break apache2 or
# systemd).  Both refuse on a system where the package libapache2-mod-lbfarm
# is installed (its files are dpkg's), unless DESTDIR is set.

set -eu

me=lbf-install
: "${DESTDIR:=}"
: "${MODDIR:=/usr/lib/apache2/modules}"
: "${APACHE_CONFDIR:=/etc/apache2}"
: "${BINDIR:=/usr/local/bin}"
: "${SBINDIR:=/usr/local/sbin}"
: "${UNITDIR:=/usr/local/lib/systemd/system}"
: "${MANDIR:=/usr/local/share/man}"
: "${DOCDIR:=/usr/local/share/doc/mod_lbfarm}"
MODS=$APACHE_CONFDIR/mods-available
CONF=$MODS/proxy_lbfarm.conf

die() {
    printf '%s: %s\n' "$me" "$*" >&2
    exit 1
}

# lbf_files: one line per installed file, "MODE SOURCE TARGET" (TARGET
# without DESTDIR).  proxy_lbfarm.conf is handled apart (lbf_install_conf).
lbf_files() {
    cat <<EOF
0644 .libs/mod_lbfarm.so $MODDIR/mod_lbfarm.so
0644 conf/proxy_lbfarm.load $MODS/proxy_lbfarm.load
0755 tools/lbfarm-push $BINDIR/lbfarm-push
0755 tools/lbfarm-push-key $SBINDIR/lbfarm-push-key
0644 tools/lbfarm-push.1 $MANDIR/man1/lbfarm-push.1
0644 tools/lbfarm-push-key.8 $MANDIR/man8/lbfarm-push-key.8
0644 conf/lbfarm-push.service $UNITDIR/lbfarm-push.service
0644 conf/lbfarm-example.conf $DOCDIR/examples/lbfarm-example.conf
0644 conf/lbfarm-push.cron $DOCDIR/examples/lbfarm-push.cron
EOF
    # the deployment examples and the HA templates, as in the tree
    for f in conf/examples/*.conf conf/examples/errors/* conf/ha/*; do
        [ -f "$f" ] && echo "0644 $f $DOCDIR/examples/${f#conf/}"
    done | sed 's|/examples/examples/|/examples/|'
}

# lbf_put MODE SOURCE TARGET: installs SOURCE; the .load names MODDIR and
# the unit BINDIR (the files in conf/ name the package's paths).
lbf_put() {
    dest=$DESTDIR$3
    mkdir -p "${dest%/*}"
    case $2 in
        conf/proxy_lbfarm.load)
            sed "s|/usr/lib/apache2/modules/|$MODDIR/|" "$2" >"$dest.tmp" ;;
        conf/lbfarm-push.service | conf/lbfarm-push.cron)
            sed "s|/usr/bin/lbfarm-push|$BINDIR/lbfarm-push|" "$2" \
                >"$dest.tmp" ;;
        *)
            cp "$2" "$dest.tmp" ;;
    esac
    chmod "$1" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    echo "  $dest"
}

# lbf_install_conf: proxy_lbfarm.conf when absent or unchanged; an edited
# one stays, and the new one is written beside it as proxy_lbfarm.conf.dist.
lbf_install_conf() {
    mkdir -p "$DESTDIR$MODS"
    if [ ! -e "$DESTDIR$CONF" ]; then
        lbf_put 0644 conf/proxy_lbfarm.conf "$CONF"
    elif cmp -s conf/proxy_lbfarm.conf "$DESTDIR$CONF"; then
        echo "  $DESTDIR$CONF (unchanged)"
    else
        lbf_put 0644 conf/proxy_lbfarm.conf "$CONF.dist"
        echo "$me: kept your edited $DESTDIR$CONF;" \
            "the new one is $DESTDIR$CONF.dist"
    fi
}

# lbf_refuse_if_packaged: the package's files belong to dpkg.
lbf_refuse_if_packaged() {
    [ -z "$DESTDIR" ] || return 0
    if dpkg-query -W -f='${Status}' libapache2-mod-lbfarm 2>/dev/null |
        grep -q 'ok installed'; then
        die "the package libapache2-mod-lbfarm is installed; use" \
            "\"apt remove libapache2-mod-lbfarm\" (or set DESTDIR)"
    fi
}

lbf_install() {
    [ -f .libs/mod_lbfarm.so ] || die "run make first (.libs/mod_lbfarm.so)"
    lbf_refuse_if_packaged
    echo "$me: installing"
    lbf_files | while read -r mode src target; do
        lbf_put "$mode" "$src" "$target"
    done
    lbf_install_conf
    [ -n "$DESTDIR" ] || cat <<EOF
$me: done.  Next: a2enmod proxy_lbfarm (enables proxy, proxy_http and
proxy_balancer too), farms in $APACHE_CONFDIR/conf-available/lbfarm-farms.conf
+ a2enconf lbfarm-farms, then systemctl restart apache2.  Undo: make uninstall.
EOF
}

lbf_uninstall() {
    lbf_refuse_if_packaged
    if [ -z "$DESTDIR" ]; then
        for l in "$APACHE_CONFDIR"/mods-enabled/proxy_lbfarm.load \
                 "$APACHE_CONFDIR"/mods-enabled/proxy_lbfarm.conf; do
            if [ -L "$l" ] || [ -e "$l" ]; then
                die "proxy_lbfarm is enabled: a2dismod proxy_lbfarm and" \
                    "restart apache2 first"
            fi
        done
        for l in /etc/systemd/system/*.wants/lbfarm-push.service; do
            [ ! -L "$l" ] ||
                die "lbfarm-push is enabled ($l): systemctl disable --now" \
                    "lbfarm-push first"
        done
    fi
    echo "$me: removing"
    lbf_files | while read -r mode src target; do
        if [ -e "$DESTDIR$target" ] || [ -L "$DESTDIR$target" ]; then
            rm -f "$DESTDIR$target"
            echo "  $DESTDIR$target"
        fi
    done
    rm -f "$DESTDIR$CONF.dist"
    if [ -e "$DESTDIR$CONF" ]; then
        if cmp -s conf/proxy_lbfarm.conf "$DESTDIR$CONF"; then
            rm -f "$DESTDIR$CONF"
            echo "  $DESTDIR$CONF"
        else
            echo "$me: kept $DESTDIR$CONF (edited; remove it yourself)"
        fi
    fi
    # the directories under DOCDIR (ours alone) that are now empty
    if [ -d "$DESTDIR$DOCDIR" ]; then
        find "$DESTDIR$DOCDIR" -depth -type d -empty -delete
    fi
}

case ${1:-} in
    install) lbf_install ;;
    uninstall) lbf_uninstall ;;
    *) die "usage: $me install|uninstall" ;;
esac
