#!/bin/sh
# bench/status_bench.sh -- how fast the status page renders a big table.
#
#   sh bench/status_bench.sh          FARMS (10) farms of MEMBERS (100)
#                                     members: 1000 rows; each form of the
#                                     page measured for DURATION (5) s with
#                                     CONNS (4) connections
#
# The members do not exist: their URLs name 127.0.0.1 ports from 40000 on,
# and nothing is ever proxied to them (no ProxyPass names the farms, no
# health checks), so no connection is attempted.  One httpd (event MPM,
# 2 children of 32 threads) serves /lbfarm-status; wrk (or ab when wrk is
# missing) measures ?format=html (the default page), json, prometheus and
# text.  Prints requests/s, mean latency and the size of one answer, and
# writes the same to bench/results/status.md (git-ignored).
#
# Environment: FARMS, MEMBERS, DURATION (seconds), CONNS, LBF_MODULE
# (default <repo>/.libs/mod_lbfarm.so), LBF_HTTPD (default
# /usr/sbin/apache2), BENCH_RESULTS (results folder).  Every process it
# starts is stopped by PID on exit.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODDIR=/usr/lib/apache2/modules
APACHE2=${LBF_HTTPD:-/usr/sbin/apache2}
MODULE=${LBF_MODULE:-$ROOT/.libs/mod_lbfarm.so}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
FARMS=${FARMS:-10}
MEMBERS=${MEMBERS:-100}
DURATION=${DURATION:-5}
CONNS=${CONNS:-4}
RUNDIR=""
HTTPD_PID=""

say() { printf 'status-bench: %s\n' "$*" >&2; }
die() { printf 'status-bench: error: %s\n' "$*" >&2; exit 2; }

# Stops httpd (SIGTERM, then SIGKILL after 10 s) and its children by PID.
cleanup() {
    if [ -n "$HTTPD_PID" ]; then
        kids=$(ps -o pid= --ppid "$HTTPD_PID" 2>/dev/null)
        kill -TERM "$HTTPD_PID" 2>/dev/null
        i=0
        while kill -0 "$HTTPD_PID" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$HTTPD_PID" 2>/dev/null
        for k in $kids; do kill -KILL "$k" 2>/dev/null; done
        HTTPD_PID=""
    fi
    [ -n "$RUNDIR" ] && rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$MODULE" ] || die "$MODULE not built (make)"
[ -x "$APACHE2" ] || die "$APACHE2 missing (sh tools/install-deps.sh)"
if command -v wrk >/dev/null 2>&1; then TOOL=wrk
elif command -v ab >/dev/null 2>&1; then TOOL=ab
else die "neither wrk nor ab (sh tools/install-deps.sh)"
fi

RUNDIR=$(mktemp -d /tmp/lbf-status-bench-XXXXXX)
chmod 755 "$RUNDIR"
mkdir -p "$RUNDIR/run" "$RUNDIR/htdocs" "$RESULTS"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# The configuration: modules, MPM, FARMS x MEMBERS members, the page.
{
    cat <<EOF
ServerRoot "$RUNDIR"
PidFile "$RUNDIR/httpd.pid"
ErrorLog "$RUNDIR/error_log"
LogLevel warn
DefaultRuntimeDir "$RUNDIR/run"
Mutex file:$RUNDIR/run default
EOF
    for m in mpm_event authz_core unixd proxy proxy_http; do
        [ -f "$MODDIR/mod_$m.so" ] &&
            echo "LoadModule ${m}_module $MODDIR/mod_$m.so"
    done
    cat <<EOF
LoadModule lbfarm_module $MODULE
Listen 127.0.0.1:$PORT
ServerName 127.0.0.1
DocumentRoot "$RUNDIR/htdocs"
StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 32
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
EOF
    [ "$(id -u)" = 0 ] && printf 'User www-data\nGroup www-data\n'
    f=1
    while [ $f -le "$FARMS" ]; do
        echo "<LBFarm farm$f>"
        m=1
        while [ $m -le "$MEMBERS" ]; do
            echo "    LBFarmMember f${f}m$m http://127.0.0.1:$((40000 + (f - 1) * MEMBERS + m)) weight=$(( (m % 5) + 1 ))"
            m=$((m + 1))
        done
        echo "</LBFarm>"
        f=$((f + 1))
    done
    cat <<EOF
<Location /lbfarm-status>
    SetHandler lbfarm-status
</Location>
EOF
} > "$RUNDIR/httpd.conf"

"$APACHE2" -t -f "$RUNDIR/httpd.conf" >"$RUNDIR/configtest" 2>&1 ||
    { cat "$RUNDIR/configtest" >&2; die "apache2 -t failed"; }
"$APACHE2" -f "$RUNDIR/httpd.conf" -DFOREGROUND >"$RUNDIR/stderr" 2>&1 &
HTTPD_PID=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PORT/lbfarm-status?format=text"; do
    i=$((i + 1))
    [ $i -gt 100 ] && { cat "$RUNDIR/stderr" "$RUNDIR/error_log" >&2;
                        die "httpd did not answer in 10 s"; }
    kill -0 "$HTTPD_PID" 2>/dev/null || die "httpd exited: $(cat "$RUNDIR/stderr")"
    sleep 0.1
done
rows=$(curl -s "http://127.0.0.1:$PORT/lbfarm-status?format=text" | grep -c '^member ')
say "httpd on :$PORT with $rows members in $FARMS farms; $TOOL, $CONNS connections, ${DURATION} s per form"

# measure FORMAT: prints "FORMAT req/s mean-latency-ms bytes".
measure() {
    url="http://127.0.0.1:$PORT/lbfarm-status?format=$1"
    bytes=$(curl -s "$url" | wc -c)
    if [ "$TOOL" = wrk ]; then
        out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "$url" 2>&1)
        rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')
        lat=$(printf '%s\n' "$out" | awk '/^ +Latency/ {print $2}')
        non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')
        [ -n "$non2xx" ] && die "$1: $non2xx non-2xx answers"
    else
        out=$(ab -q -k -c "$CONNS" -t "$DURATION" -n 1000000 "$url" 2>&1)
        rps=$(printf '%s\n' "$out" | awk '/^Requests per second:/ {print $4}')
        lat=$(printf '%s\n' "$out" | awk '/^Time per request:.*\(mean\)$/ {print $4 "ms"}')
    fi
    printf '| %-10s | %10s | %10s | %9s |\n' "$1" "$rps" "$lat" "$bytes"
}

{
    echo "# status page: $rows members ($FARMS farms x $MEMBERS), $TOOL, $CONNS connections, ${DURATION} s"
    echo
    echo "| format     |  req/s     | mean lat.  |  bytes    |"
    echo "|------------|------------|------------|-----------|"
    for fmt in html json prometheus text; do
        measure "$fmt"
    done
} | tee "$RESULTS/status.md"

if grep -E '\[(error|crit|alert|emerg)\]' "$RUNDIR/error_log" >&2; then
    die "httpd logged errors"
fi
exit 0
