#!/bin/sh
# bench/push_forged.sh -- what a forged push costs, by farm size.
#
#   sh bench/push_forged.sh       forged pushes against a 2-member and a
#                                 MEMBERS (1000)-member farm, each case
#                                 for DURATION (3) s with CONNS (4)
#                                 connections; prints req/s and the ratio
#
# Issue 12 item 3: a bad signature used to be checked against every
# member's key, so a forged push to a 1000-member farm ran at 534 req/s
# against 18,206 for a 2-member farm.  Now the member is found by name in
# O(1), its token bucket is taken before any crypto, and only its own keys
# are tried: the ratio should be about 1.  Two cases per farm:
#   known    a forged push naming a real member (LBFarmPushRate 1000 10000:
#            the first ~10000 + 1000/s are verified and answered 401, the
#            rest 429 without any HMAC)
#   unknown  a forged push naming no member (one HMAC under a key nobody
#            holds, always 401)
# The members do not exist (127.0.0.1 ports from 41000 on; nothing is
# proxied).  Writes the table to bench/results/push_forged.md
# (git-ignored).  Environment: MEMBERS, DURATION, CONNS, LBF_MODULE,
# LBF_HTTPD, BENCH_RESULTS.  Every process it starts is stopped by PID.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODDIR=/usr/lib/apache2/modules
APACHE2=${LBF_HTTPD:-/usr/sbin/apache2}
MODULE=${LBF_MODULE:-$ROOT/.libs/mod_lbfarm.so}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
MEMBERS=${MEMBERS:-1000}
DURATION=${DURATION:-3}
CONNS=${CONNS:-4}
RUNDIR=""
HTTPD_PID=""

say() { printf 'push-forged: %s\n' "$*" >&2; }
die() { printf 'push-forged: error: %s\n' "$*" >&2; exit 2; }

# shellcheck source=tools/lbf-lib.sh
. "$ROOT/tools/lbf-lib.sh"

# Stops httpd (SIGTERM, then SIGKILL after 10 s) and its children by PID.
cleanup() {
    if [ -n "$HTTPD_PID" ]; then
        kids=$(ps -o pid= --ppid "$HTTPD_PID" 2>/dev/null)
        stop_pid "$HTTPD_PID" 10
        for k in $kids; do kill -KILL "$k" 2>/dev/null; done
        HTTPD_PID=""
    fi
    [ -n "$RUNDIR" ] && rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$MODULE" ] || die "$MODULE not built (make)"
[ -x "$APACHE2" ] || die "$APACHE2 missing (sh tools/install-deps.sh)"
command -v wrk >/dev/null 2>&1 || die "wrk missing (sh tools/install-deps.sh)"

RUNDIR=$(mktemp -d /tmp/lbf-push-forged-XXXXXX)
chmod 755 "$RUNDIR"
mkdir -p "$RUNDIR/run" "$RUNDIR/htdocs" "$RESULTS"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$RUNDIR/push.secret"
chmod 644 "$RUNDIR/push.secret"

# farm NAME N BASEPORT: a pushed-metric farm of N members, a big bucket.
farm() {
    echo "<LBFarm $1>"
    echo "    LBFarmMethod pushed-metric"
    echo "    LBFarmPushKey $RUNDIR/push.secret"
    echo "    LBFarmPushRate 1000 10000"
    m=1
    while [ $m -le "$2" ]; do
        echo "    LBFarmMember m$m http://127.0.0.1:$(($3 + m))"
        m=$((m + 1))
    done
    echo "</LBFarm>"
}

{
    printf 'ServerRoot "%s"\nPidFile "%s/httpd.pid"\n' "$RUNDIR" "$RUNDIR"
    printf 'ErrorLog "%s/error_log"\nLogLevel error\n' "$RUNDIR"
    printf 'DefaultRuntimeDir "%s/run"\nMutex file:%s/run default\n' \
        "$RUNDIR" "$RUNDIR"
    for m in mpm_event authz_core unixd proxy proxy_http; do
        [ -f "$MODDIR/mod_$m.so" ] &&
            echo "LoadModule ${m}_module $MODDIR/mod_$m.so"
    done
    echo "LoadModule lbfarm_module $MODULE"
    echo "Listen 127.0.0.1:$PORT"
    echo "ServerName 127.0.0.1"
    echo "DocumentRoot \"$RUNDIR/htdocs\""
    echo "StartServers 2"
    echo "ServerLimit 2"
    echo "ThreadsPerChild 32"
    echo "MaxRequestWorkers 64"
    echo "MinSpareThreads 32"
    echo "MaxSpareThreads 64"
    echo "MaxConnectionsPerChild 0"
    echo "KeepAlive On"
    echo "MaxKeepAliveRequests 0"
    printf '<Location /lbfarm-push>\n    SetHandler lbfarm-push\n</Location>\n'
    [ "$(id -u)" = 0 ] && printf 'User www-data\nGroup www-data\n'
    farm small 2 41000
    farm big "$MEMBERS" 42000
} > "$RUNDIR/httpd.conf"

"$APACHE2" -t -f "$RUNDIR/httpd.conf" >"$RUNDIR/configtest" 2>&1 ||
    { cat "$RUNDIR/configtest" >&2; die "apache2 -t failed"; }
"$APACHE2" -f "$RUNDIR/httpd.conf" -DFOREGROUND >"$RUNDIR/stderr" 2>&1 &
HTTPD_PID=$!
SIG=$(printf '%064d' 0)
# url FARM MEMBER: a well-formed push whose signature is wrong.
url() {
    echo "http://127.0.0.1:$PORT/lbfarm-push?farm=$1&member=$2&ts=$(date +%s)&seq=1&cpu=0.5&sig=$SIG"
}
i=0
until curl -s -o /dev/null "$(url small nosuch)"; do
    i=$((i + 1))
    [ $i -gt 100 ] && { cat "$RUNDIR/stderr" "$RUNDIR/error_log" >&2;
                        die "httpd did not answer in 10 s"; }
    kill -0 "$HTTPD_PID" 2>/dev/null || die "httpd exited: $(cat "$RUNDIR/stderr")"
    sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$(url big "m$MEMBERS")")
[ "$code" = 401 ] || die "a forged push answered $code, not 401"
say "httpd on :$PORT: farms small (2) and big ($MEMBERS); wrk, $CONNS connections, ${DURATION} s per case"

# rps FARM MEMBER: forged pushes per second.
rps() {
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "$(url "$1" "$2")" 2>&1 |
        awk '/^Requests\/sec:/ {print $2}'
}

{
    echo "# forged pushes: 2 vs $MEMBERS members, wrk, $CONNS connections, ${DURATION} s per case"
    echo
    echo "| case    | 2 members req/s | $MEMBERS members req/s | ratio |"
    echo "|---------|-----------------|-------------------|-------|"
    for c in known unknown; do
        if [ $c = known ]; then
            a=$(rps small m2)
            b=$(rps big "m$((MEMBERS / 2))")
        else
            a=$(rps small nosuch)
            b=$(rps big nosuch)
        fi
        ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
        printf '| %-7s | %15s | %17s | %5s |\n' "$c" "$a" "$b" "$ratio"
    done
} | tee "$RESULTS/push_forged.md"

if grep -E '\[(error|crit|alert|emerg)\]' "$RUNDIR/error_log" >&2; then
    die "httpd logged errors"
fi
exit 0
