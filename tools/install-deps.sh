#!/bin/sh
# Install the Debian 12 packages mod_lbfarm builds, tests, benchmarks, demos
# and packages with (make deps; make test, make demo and make bench run it).
# Idempotent: apt-get runs only when something is missing, and it says
# first exactly what it will install and why.
#
# It never stops, restarts or reconfigures a system service.  Debian's
# apache2, nginx, haproxy and keepalived packages start their daemon
# when apt installs them; we never use those daemons (the tests and
# benchmarks start their own, by PID, on ports they pick), so while
# apt-get runs, a temporary /usr/sbin/policy-rc.d that exits 101 ("action
# forbidden") keeps them from starting.  That is Debian's documented
# mechanism (invoke-rc.d(8), /usr/share/doc/init-system-helpers/
# README.policy-rc.d.gz).  It is written only when no policy-rc.d exists
# (an administrator's own is left alone) and removed again when this
# script exits, also on failure or interruption.  Services that are
# already installed, running or not, are left as they are.
set -e

me=install-deps
POLICY=/usr/sbin/policy-rc.d

missing=""
why=""

# need GROUP WHY PACKAGE...: adds the missing PACKAGEs to $missing and a
# line saying what they are for to $why.
need() {
    group=$1 reason=$2 gmiss=""
    shift 2
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q "ok installed" || gmiss="$gmiss $p"
    done
    [ -n "$gmiss" ] || return 0
    missing="$missing$gmiss"
    why="$why$me:   $group:$gmiss -- $reason
"
}

need build "build the module (apxs) and run httpd" \
    apache2 apache2-dev libssl-dev libapr1-dev libaprutil1-dev pkg-config \
    gcc make
need tests "unit and integration tests (make test)" \
    check perl libhttp-tiny-perl apache2-utils curl openssl procps
need status "t/30_status.t parses the Prometheus output" \
    python3-prometheus-client
need browser "t/32_browser.t drives the status page in headless chromium" \
    chromium
need fuzz "the libFuzzer targets (make fuzz-smoke, part of make test)" \
    clang libclang-rt-14-dev
need bench "bench/: load generator, the balancers compared, plots" \
    wrk haproxy nginx gnuplot-nox
need ha "t/50_ha_pair.t: an HA pair on keepalived in network namespaces" \
    keepalived iproute2
need package "make deb and t/40_package.t (dh_apache2 is in apache2-dev)" \
    debhelper dpkg-dev fakeroot lintian

[ -n "$missing" ] || exit 0

echo "$me: will install with apt-get:$missing"
printf '%s' "$why"
if [ "$(id -u)" != 0 ]; then
    echo "$me: need root to apt-get install:$missing" >&2
    exit 1
fi

# The temporary policy-rc.d (see the header), created with ln so that one
# appearing meanwhile is never replaced, and removed only if still ours.
ours=""
cleanup() {
    if [ -n "$ours" ]; then
        # still the same file (our hard link)?
        if [ "$(stat -c %i "$POLICY" 2>/dev/null)" = "$(stat -c %i "$ours")" ]
        then
            rm -f "$POLICY"
        fi
        rm -f "$ours"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [ ! -e "$POLICY" ] && [ ! -L "$POLICY" ]; then
    tmp=$(mktemp /usr/sbin/.policy-rc.d.lbfarm.XXXXXX)
    printf '#!/bin/sh\n# %s\nexit 101\n' \
        "temporary, from mod_lbfarm tools/install-deps.sh: no daemon starts" \
        >"$tmp"
    chmod 0755 "$tmp"
    if ln "$tmp" "$POLICY" 2>/dev/null; then
        ours=$tmp
        echo "$me: services that apt installs are not started" \
            "(temporary $POLICY)"
    else
        rm -f "$tmp"
    fi
else
    echo "$me: $POLICY exists: left as it is"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# What apt-get will install with the dependencies, before it does.
# shellcheck disable=SC2086  # word lists on purpose
all=$(apt-get install -s -q --no-install-recommends $missing |
    awk '/^Inst / { printf " %s", $2 }')
echo "$me: with their dependencies, apt-get installs:$all"
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
exit 0
