#!/bin/sh
# bench/quality.sh -- mod_lbfarm against stock httpd, HAProxy and nginx:
# throughput, latency and balancing quality, one machine, one run.
# See bench/RESULTS.md (the last full run) and bench/README.md.
#
#   sh bench/quality.sh           the full run (~25 min)
#   sh bench/quality.sh --smoke   every front (direct too) once for 1 s in
#                                 the slow-member farm, push agents on
#                                 (~15 s idle machine, ~35 s busy); exits 1 on a
#                                 non-2xx answer, a connect/write/timeout
#                                 error, a front that served nothing, an
#                                 error in a front's log or a front that
#                                 died; 2 when something could not start.
#
# Fronts (every one against the same four tools/lbf_member servers):
#   lf-w   httpd + mod_lbfarm, farm mode, weighted       /f-w/
#   lf-ll  httpd + mod_lbfarm, farm mode, least-load     /f-ll/
#   lf-pm  httpd + mod_lbfarm, farm mode, pushed-metric  /f-pm/
#   lf-lt  httpd + mod_lbfarm, farm mode, least-time     /f-lt/
#   lb-ll  httpd + mod_lbfarm least-load in balancer://  /b-ll/
#   lb-lt  httpd + mod_lbfarm least-time in balancer://  /b-lt/
#   ap-br  stock httpd balancer://, byrequests (the baseline)  /s-br/
#   ap-bb  stock httpd balancer://, bybusyness           /s-bb/
#   hp-rr, hp-lc, hp-r2   HAProxy roundrobin, leastconn, random(2)
#   ng-rr, ng-lc, ng-r2   nginx round robin, least_conn, random two least_conn
#   lf-ltp httpd + mod_lbfarm, farm mode, least-time with pushed loads /f-ltp/
#   lf-h   httpd + mod_lbfarm, farm mode, hash (query=k, c 1.25)   /f-h/
#   lb-h   httpd + mod_lbfarm hash in balancer:// (env from k)     /b-h/
#   hp-h   HAProxy url_param k, hash-type consistent, hash-balance-factor 125
#   ng-h   nginx hash $arg_k consistent (no load bound)
#   direct httpd ProxyPass to m1 alone (throughput ceiling; "thr" only)
# The httpd fronts share one httpd (same binary, same event MPM settings);
# HAProxy and nginx each run one process tree with a port per front.
# Configs: bench/configs/*.in, rendered per scenario into the run folder
# and kept under bench/results/quality/latest/ (smoke/ for --smoke).
#
# Scenarios (members m1..m4 on 127.0.0.1):
#   thr    cheap members (GET /), wrk -c64 and -c256: req/s, p50, p99
#   slow   m2 is "--slow 4 --capacity 8", the others "--capacity 8";
#          GET /?sleep_ms=10, wrk -c32: p99, p99.9
#   het    capacities 4/8/8/16, GET /?sleep_ms=10, wrk -c32
#   antag  all "--capacity 8", GET /?sleep_ms=10, wrk -c32, 30 s runs; m2
#          is told slow=4 at ANTAG_AT s and slow=1 ANTAG_LEN s later
#   stall  all "--capacity 8", GET /?sleep_ms=10, CONNS_STALL (400) users
#          with THINK_MS (200) mean think time; during each measured run
#          m2 is frozen (freeze=on) for STALL_LEN s at STALL_AT s, then
#          thawed: requests >= 1 s, and m2's count of new requests after
#          its first ~100 ms frozen
#   fair   all "--capacity 8"; FAIR_FRONTS at 1 connection (GET /, DUR_FAIR1
#          s) and 32 (GET /?sleep_ms=10, DUR_FAIR s), every member pushing
#          util 0.300 (farm_pm, farm_ltp); then lf-pm and lf-ltp with
#          0.300/0.301/0.302/0.303 ("fairu"): shares per member
#   hash   m1..m5 plain; (ii) HFRONTS over m1..m4 under wrk -c CONNS_Q with
#          keys (LBQ_KEYS, LBQ_HOT of HASH_HOT), a sampler of each member's
#          in flight; (i) HASH_KEYS sequential keys mapped over m1..m4,
#          m1..m5 and m2..m5 (fronts restarted): keys moved
# slow, het, antag and stall run QFRONTS (lbfarm's load and latency
# methods against ap-bb, hp-lc, hp-r2, ng-lc, ng-r2); thr runs FRONTS.
# Every measured run reads each member's ?stats=count before and after.
# Rounds interleave the fronts (A B C ... A B C ...).  Before each measured
# run the script waits (at most QUIET_WAIT s, QUIET_BUDGET s in all) for
# other processes to use less than QUIET_PCT % of the machine, and records
# the 1-minute load average and the other processes' CPU share.
#
# Environment: SCENARIOS ("slow het antag stall fair hash"; thr too), FRONTS
# (subset, all scenarios), QFRONTS, CONNS_STALL, THINK_MS, DUR_ANTAG (30),
# ANTAG_AT (10), ANTAG_LEN (10), ROUNDS_THR
# (2), DUR_THR (3), CONNS_THR ("64 256"), ROUNDS_SLOW (2), DUR_SLOW (5),
# ROUNDS_STALL (1), DUR_STALL (30), STALL_AT (10), STALL_LEN (3),
# CONNS_Q (32), FAIR_FRONTS, FAIR_CONNS ("1 32"), DUR_FAIR (5), DUR_FAIR1
# (6), HFRONTS, DUR_HASH (5), HASH_KEYS (2000), HASH_LOADKEYS (1000),
# HASH_HOT ("0 0.3"), WARMUP (1), QUIET_WAIT (10), QUIET_PCT (15), QUIET_BUDGET
# (60), PICKBENCH (1: run build/bench/pickbench), LBF_MODULE, LBF_HTTPD,
# HAPROXY, NGINX, WRK, BENCH_RESULTS.
#
# Every process this script starts is recorded by PID and stopped by PID
# on exit, Ctrl-C or SIGTERM; a stopped member is continued first.

# Word splitting of PID and port lists is on purpose; *_PID variables are
# read through eval.
# shellcheck disable=SC2086,SC2034,SC2153,SC2154,SC2015
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lbf-lib.sh
. "$ROOT/tools/lbf-lib.sh"
MODDIR=/usr/lib/apache2/modules
APACHE2=${LBF_HTTPD:-/usr/sbin/apache2}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=${LBF_MODULE:-$ROOT/.libs/mod_lbfarm.so}
MEMBER=$ROOT/tools/lbf_member
PUSH=$ROOT/tools/lbfarm-push
PUSHKEY=$ROOT/tools/lbfarm-push-key
PICK=$ROOT/build/bench/pickbench
WRK=${WRK:-wrk}
CONFS=$ROOT/bench/configs
LUA=$CONFS/wrk-percentiles.lua
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}/quality

ALL_FRONTS="lf-w lf-ll lf-pm lf-lt lf-ltp lb-ll lb-lt lf-h lb-h ap-br ap-bb hp-rr hp-lc hp-r2 hp-h ng-rr ng-lc ng-r2 ng-h direct"
# hash fronts (scenario hash), and the fronts of scenario fair
HASH_FRONTS="lf-h lb-h hp-h ng-h"
FAIR_FRONTS_DEF="lf-w lf-ll lf-pm lf-lt lf-ltp lb-ll lb-lt ap-bb hp-lc hp-r2 ng-lc ng-r2"
SLOW_MEMBER=m2

MODE=full
RUNDIR=""
HTTPD_PID="" HTTPD_KIDS=""
HAPROXY_PID=""
NGINX_PID="" NGINX_KIDS=""
MEMBER_PIDS="" PUSHER_PIDS="" STALLER_PID="" WRK_PID=""
M1="" M2="" M3="" M4="" M5=""
M1_PID="" M2_PID="" M3_PID="" M4_PID="" M5_PID=""
# members of the hash fronts (scenario hash changes the list)
HMEMBERS="m1 m2 m3 m4"
TAKEN=""
FAIL=""
WARN=""

say() {
    printf 'quality: %s\n' "$*" >&2
}

die() {
    printf 'quality: error: %s\n' "$*" >&2
    exit 2
}

# ---------------------------------------------------------------- processes

# kids_of PID: its children's PIDs.
kids_of() {
    ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '
}

# note_kids: remember the children of httpd and nginx by PID, so that they
# can be stopped even if their parent dies first.
note_kids() {
    if [ -n "$HTTPD_PID" ]; then
        for k in $(kids_of "$HTTPD_PID"); do
            case " $HTTPD_KIDS " in *" $k "*) ;; *) HTTPD_KIDS="$HTTPD_KIDS $k" ;; esac
        done
    fi
    if [ -n "$NGINX_PID" ]; then
        for k in $(kids_of "$NGINX_PID"); do
            case " $NGINX_KIDS " in *" $k "*) ;; *) NGINX_KIDS="$NGINX_KIDS $k" ;; esac
        done
    fi
}

# stop_fronts: httpd, HAProxy and nginx by PID (the parent first, then any
# child it left behind).
stop_fronts() {
    note_kids
    stop_pid "$HTTPD_PID" 15
    for k in $HTTPD_KIDS; do alive "$k" && kill -KILL "$k" 2>/dev/null; done
    stop_pid "$NGINX_PID" 10
    for k in $NGINX_KIDS; do alive "$k" && kill -KILL "$k" 2>/dev/null; done
    stop_pid "$HAPROXY_PID" 10
    HTTPD_PID="" HTTPD_KIDS="" NGINX_PID="" NGINX_KIDS="" HAPROXY_PID=""
}

# stop_scenario: everything a scenario started: the stall timer (and the
# member it may have stopped), wrk, the push agents, the fronts, members.
stop_scenario() {
    [ -n "$STALLER_PID" ] && stop_pid "$STALLER_PID" 2
    STALLER_PID=""
    for p in $MEMBER_PIDS; do kill -CONT "$p" 2>/dev/null; done
    [ -n "$WRK_PID" ] && stop_pid "$WRK_PID" 2
    WRK_PID=""
    for p in $PUSHER_PIDS; do stop_pid "$p" 3; done
    PUSHER_PIDS=""
    stop_fronts
    for p in $MEMBER_PIDS; do stop_pid "$p" 5; done
    MEMBER_PIDS=""
}

cleanup() {
    trap - INT TERM EXIT
    stop_scenario
    if [ -n "$RUNDIR" ] && [ -d "$RUNDIR" ]; then
        rm -rf "$RUNDIR"
    fi
}

# --------------------------------------------------------------------- ports

# ------------------------------------------------------------------ members

# start_member NAME ARGS...: lbf_member on a port the kernel picks; sets
# MPORT and MPID and records the PID.
start_member() {
    name=$1
    shift
    "$MEMBER" --port 0 --name "$name" --quiet "$@" \
        >"$RUNDIR/$name.out" 2>"$RUNDIR/$name.log" &
    MPID=$!
    MEMBER_PIDS="$MEMBER_PIDS $MPID"
    n=0
    while [ "$n" -lt 50 ]; do
        MPORT=$(awk -v m="$name" '$1 == "ready" && $2 == m { print $3; exit }' \
                "$RUNDIR/$name.out" 2>/dev/null)
        [ -n "$MPORT" ] && return 0
        alive "$MPID" || break
        sleep 0.1
        n=$((n + 1))
    done
    die "member $name did not start: $(cat "$RUNDIR/$name.log")"
}

# start_members SCENARIO: m1..m4 (hash: m1..m5) with the scenario's options.
start_members() {
    ms="m1 m2 m3 m4"
    [ "$1" = hash ] && ms="$ms m5"
    for m in $ms; do
        opts=""
        case "$1" in
            slow)  opts="--capacity 8"; [ "$m" = "$SLOW_MEMBER" ] && opts="--slow 4 --capacity 8" ;;
            het)   case "$m" in m1) opts="--capacity 4" ;; m4) opts="--capacity 16" ;; *) opts="--capacity 8" ;; esac ;;
            antag|stall|fair) opts="--capacity 8" ;;
        esac
        # shellcheck disable=SC2086  # options split on purpose
        start_member "$m" $opts
        case "$m" in
            m1) M1=127.0.0.1:$MPORT; M1_PID=$MPID ;;
            m2) M2=127.0.0.1:$MPORT; M2_PID=$MPID ;;
            m3) M3=127.0.0.1:$MPORT; M3_PID=$MPID ;;
            m4) M4=127.0.0.1:$MPORT; M4_PID=$MPID ;;
            m5) M5=127.0.0.1:$MPORT; M5_PID=$MPID ;;
        esac
        eval "OPTS_$m=\"\$opts\""
    done
}

# ------------------------------------------------------------------- fronts

front_url() {
    h=http://127.0.0.1
    case "$1" in
        lf-w)   echo "$h:$HTTPD_PORT/f-w/" ;;
        lf-ll)  echo "$h:$HTTPD_PORT/f-ll/" ;;
        lf-pm)  echo "$h:$HTTPD_PORT/f-pm/" ;;
        lf-lt)  echo "$h:$HTTPD_PORT/f-lt/" ;;
        lb-lt)  echo "$h:$HTTPD_PORT/b-lt/" ;;
        lb-ll)  echo "$h:$HTTPD_PORT/b-ll/" ;;
        ap-br)  echo "$h:$HTTPD_PORT/s-br/" ;;
        ap-bb)  echo "$h:$HTTPD_PORT/s-bb/" ;;
        direct) echo "$h:$HTTPD_PORT/direct/" ;;
        hp-rr)  echo "$h:$HP_RR_PORT/" ;;
        hp-lc)  echo "$h:$HP_LC_PORT/" ;;
        hp-r2)  echo "$h:$HP_R2_PORT/" ;;
        ng-rr)  echo "$h:$NG_RR_PORT/" ;;
        ng-lc)  echo "$h:$NG_LC_PORT/" ;;
        ng-r2)  echo "$h:$NG_R2_PORT/" ;;
        lf-ltp) echo "$h:$HTTPD_PORT/f-ltp/" ;;
        lf-h)   echo "$h:$HTTPD_PORT/f-h/" ;;
        lb-h)   echo "$h:$HTTPD_PORT/b-h/" ;;
        hp-h)   echo "$h:$HP_H_PORT/" ;;
        ng-h)   echo "$h:$NG_H_PORT/" ;;
    esac
}

front_desc() {
    case "$1" in
        lf-w)   echo "httpd mod_lbfarm farm weighted" ;;
        lf-ll)  echo "httpd mod_lbfarm farm least-load" ;;
        lf-pm)  echo "httpd mod_lbfarm farm pushed-metric" ;;
        lf-lt)  echo "httpd mod_lbfarm farm least-time" ;;
        lb-lt)  echo "httpd mod_lbfarm balancer:// least-time" ;;
        lb-ll)  echo "httpd mod_lbfarm balancer:// least-load" ;;
        ap-br)  echo "httpd stock byrequests (baseline)" ;;
        ap-bb)  echo "httpd stock bybusyness" ;;
        hp-rr)  echo "HAProxy roundrobin" ;;
        hp-lc)  echo "HAProxy leastconn" ;;
        hp-r2)  echo "HAProxy random(2)" ;;
        ng-rr)  echo "nginx round robin" ;;
        ng-lc)  echo "nginx least_conn" ;;
        ng-r2)  echo "nginx random two least_conn" ;;
        lf-ltp) echo "httpd mod_lbfarm farm least-time, pushed loads" ;;
        lf-h)   echo "httpd mod_lbfarm farm hash (c 1.25)" ;;
        lb-h)   echo "httpd mod_lbfarm balancer:// hash (c 1.25)" ;;
        hp-h)   echo "HAProxy hash consistent, balance-factor 125" ;;
        ng-h)   echo "nginx hash consistent (no bound)" ;;
        direct) echo "httpd ProxyPass to m1 (ceiling)" ;;
    esac
}

# hash_lines lf|bal|hp|ng: the member lines of the hash fronts for the
# members in HMEMBERS (LBFarmMember, BalancerMember, HAProxy server with
# its number as id, nginx server), "\n"-separated for awk -v.
hash_lines() {
    for m in $HMEMBERS; do
        eval "addr=\$$(echo "$m" | tr m M)"
        case "$1" in
            lf)  printf '    LBFarmMember %s http://%s\\n' "$m" "$addr" ;;
            bal) printf '    BalancerMember http://%s\\n' "$addr" ;;
            hp)  printf '    server %s %s id %s\\n' "$m" "$addr" "${m#m}" ;;
            ng)  printf '        server %s;\\n' "$addr" ;;
        esac
    done
}

# render IN OUT: fill the @NAME@ placeholders of a bench/configs template.
render() {
    user_lines="" nginx_user=""
    if [ "$(id -u)" = 0 ]; then
        user_lines="User www-data
Group www-data"
        nginx_user="user www-data;"
    fi
    awk -v rundir="$RUNDIR" -v moddir="$MODDIR" -v module="$MODULE" \
        -v user_lines="$user_lines" -v nginx_user="$nginx_user" \
        -v hport="$HTTPD_PORT" -v threads="$MPM_THREADS" \
        -v maxworkers="$((MPM_THREADS * 2))" -v maxspare="$((MPM_THREADS * 3))" \
        -v m1="$M1" -v m2="$M2" -v m3="$M3" -v m4="$M4" \
        -v hprr="$HP_RR_PORT" -v hplc="$HP_LC_PORT" -v hpr2="$HP_R2_PORT" \
        -v ngrr="$NG_RR_PORT" -v nglc="$NG_LC_PORT" -v ngr2="$NG_R2_PORT" \
        -v hph="$HP_H_PORT" -v ngh="$NG_H_PORT" -v m5="$M5" \
        -v hlf="$(hash_lines lf)" -v hbal="$(hash_lines bal)" \
        -v hhp="$(hash_lines hp)" -v hng="$(hash_lines ng)" '
        {
            gsub(/@RUNDIR@/, rundir); gsub(/@MODDIR@/, moddir); gsub(/@MODULE@/, module)
            gsub(/@USER_LINES@/, user_lines); gsub(/@NGINX_USER@/, nginx_user)
            gsub(/@HTTPD_PORT@/, hport); gsub(/@THREADS@/, threads)
            gsub(/@MAXWORKERS@/, maxworkers); gsub(/@MAXSPARE@/, maxspare)
            gsub(/@M1@/, m1); gsub(/@M2@/, m2); gsub(/@M3@/, m3); gsub(/@M4@/, m4)
            gsub(/@HP_RR_PORT@/, hprr); gsub(/@HP_LC_PORT@/, hplc); gsub(/@HP_R2_PORT@/, hpr2)
            gsub(/@NG_RR_PORT@/, ngrr); gsub(/@NG_LC_PORT@/, nglc); gsub(/@NG_R2_PORT@/, ngr2)
            gsub(/@HP_H_PORT@/, hph); gsub(/@NG_H_PORT@/, ngh); gsub(/@M5@/, m5)
            gsub(/@HASH_LF@/, hlf); gsub(/@HASH_BAL@/, hbal); gsub(/@HASH_HP@/, hhp); gsub(/@HASH_NG@/, hng)
            if ($0 ~ /@[A-Z0-9_]+@/) { print "unfilled placeholder: " $0 > "/dev/stderr"; bad = 1 }
            print
        }
        END { exit bad }' "$1" >"$2" || die "cannot render $1"
}

# wait_http URL: until URL answers any HTTP status (10 s at most).
wait_http() {
    n=0
    while [ "$n" -lt 100 ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null)
        case "$code" in [1-5]??) return 0 ;; esac
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# front_failed WHAT LOG: a front could not start.
front_failed() {
    tail -n 20 "$2" >&2 2>/dev/null
    die "$1 could not start (log above; config kept in $RESULTS/)"
}

start_httpd() {
    render "$CONFS/httpd.conf.in" "$RUNDIR/httpd.conf"
    cp "$RUNDIR/httpd.conf" "$RESULTS/$SCEN-httpd.conf"
    : >"$RUNDIR/httpd-error.log"
    "$APACHE2" -d "$RUNDIR" -f "$RUNDIR/httpd.conf" -t >"$RUNDIR/httpd.out" 2>&1 \
        || front_failed "httpd (apache2 -t)" "$RUNDIR/httpd.out"
    "$APACHE2" -d "$RUNDIR" -f "$RUNDIR/httpd.conf" -DFOREGROUND >>"$RUNDIR/httpd.out" 2>&1 &
    HTTPD_PID=$!
    wait_http "http://127.0.0.1:$HTTPD_PORT/nothing-here" && alive "$HTTPD_PID" \
        || { cat "$RUNDIR/httpd.out" >&2; front_failed httpd "$RUNDIR/httpd-error.log"; }
    note_kids
}

start_haproxy() {
    render "$CONFS/haproxy.cfg.in" "$RUNDIR/haproxy.cfg"
    cp "$RUNDIR/haproxy.cfg" "$RESULTS/$SCEN-haproxy.cfg"
    "$HAPROXY" -c -q -f "$RUNDIR/haproxy.cfg" >"$RUNDIR/haproxy.out" 2>&1 \
        || front_failed "haproxy (-c)" "$RUNDIR/haproxy.out"
    "$HAPROXY" -db -f "$RUNDIR/haproxy.cfg" >>"$RUNDIR/haproxy.out" 2>&1 &
    HAPROXY_PID=$!
    for p in "$HP_RR_PORT" "$HP_LC_PORT" "$HP_R2_PORT" "$HP_H_PORT"; do
        wait_http "http://127.0.0.1:$p/" && alive "$HAPROXY_PID" \
            || front_failed haproxy "$RUNDIR/haproxy.out"
    done
}

start_nginx() {
    render "$CONFS/nginx.conf.in" "$RUNDIR/nginx.conf"
    cp "$RUNDIR/nginx.conf" "$RESULTS/$SCEN-nginx.conf"
    mkdir -p "$RUNDIR/nginx-tmp"
    : >"$RUNDIR/nginx-error.log"
    "$NGINX" -q -t -p "$RUNDIR/" -e "$RUNDIR/nginx-error.log" -c "$RUNDIR/nginx.conf" \
        >"$RUNDIR/nginx.out" 2>&1 || front_failed "nginx (-t)" "$RUNDIR/nginx.out"
    "$NGINX" -p "$RUNDIR/" -e "$RUNDIR/nginx-error.log" -c "$RUNDIR/nginx.conf" \
        >>"$RUNDIR/nginx.out" 2>&1 &
    NGINX_PID=$!
    for p in "$NG_RR_PORT" "$NG_LC_PORT" "$NG_R2_PORT" "$NG_H_PORT"; do
        wait_http "http://127.0.0.1:$p/" && alive "$NGINX_PID" \
            || { cat "$RUNDIR/nginx.out" >&2; front_failed nginx "$RUNDIR/nginx-error.log"; }
    done
    note_kids
}

# start_pushers: one tools/lbfarm-push per member, every second, pushing
# util = (busy + queued) / capacity as the member reports it.
start_pushers() {
    for m in m1 m2 m3 m4; do
        eval "addr=\$$(echo "$m" | tr m M)"
        sh "$PUSH" --url "http://127.0.0.1:$HTTPD_PORT/lbfarm-push" \
            --farm farm_pm --member "$m" --key-file "$RUNDIR/$m.key" --interval 1 \
            --metric "util=curl -s --max-time 1 http://$addr/?stats=util" \
            >>"$RUNDIR/push-$m.log" 2>&1 &
        PUSHER_PIDS="$PUSHER_PIDS $!"
    done
}

# util_supported: does the member answer ?stats=util with a number?
util_supported() {
    v=$(curl -s --max-time 2 "http://$M1/?stats=util" 2>/dev/null | head -n 1 | tr -d ' \r')
    printf '%s\n' "$v" | grep -qE '^[0-9]+(\.[0-9]+)?$'
}

# precheck: each front of the scenario answers 200 with an X-Member header,
# three times; FAIL gets "precheck-FRONT" otherwise.
precheck() {
    for f in $SFRONTS; do
        seen=""
        for i in $PRE_N; do
            hdr=$(curl -s -D - -o /dev/null --max-time 5 "$(front_url "$f")$QUERY" 2>/dev/null | tr -d '\r')
            code=$(printf '%s\n' "$hdr" | awk 'NR == 1 { print $2 }')
            mem=$(printf '%s\n' "$hdr" | awk 'tolower($1) == "x-member:" { print $2 }')
            if [ "$code" != 200 ] || [ -z "$mem" ]; then
                say "$SCEN: front $f: request $i answered '${code:-nothing}'${mem:+ from $mem}"
                FAIL="$FAIL precheck-$SCEN-$f"
            fi
            seen="$seen ${mem:--}"
        done
        echo "$SCEN $f$seen" >>"$RUNDIR/precheck.txt"
    done
}

# --------------------------------------------------------------- measuring

NCPU=$(nproc 2>/dev/null || echo 1)
CLK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_snapshot: "wall busy ours kids": wall clock, machine busy CPU seconds
# (/proc/stat), CPU seconds of our long-running processes (fronts and their
# children, members, push agents with their reaped commands) and of this
# shell's reaped children (wrk).  Runs in this shell (times must see them).
cpu_snapshot() {
    times >"$RUNDIR/times"
    set -- /proc/uptime /proc/stat
    for p in $HTTPD_PID $HTTPD_KIDS $HAPROXY_PID $NGINX_PID $NGINX_KIDS $MEMBER_PIDS $PUSHER_PIDS; do
        [ -r "/proc/$p/stat" ] && set -- "$@" "/proc/$p/stat"
    done
    # one awk for all (forks are slow on a loaded machine)
    awk -v clk="$CLK" '
        FILENAME == "/proc/uptime" { wall = $1; next }
        FILENAME == "/proc/stat" { if ($1 == "cpu") busy = ($2 + $3 + $4 + $7 + $8 + $9) / clk; next }
        FILENAME ~ /^\/proc\/[0-9]+\/stat$/ { sub(/^.*\) /, ""); ours += ($12 + $13 + $14 + $15) / clk; next }
        FNR == 2 { for (i = 1; i <= 2; i++) { split($i, t, "m"); kids += t[1] * 60 + t[2] } }
        END { printf "%s %s %s %s", wall, busy, ours, kids }' "$@" "$RUNDIR/times" 2>/dev/null
}

# wait_quiet: wait (QUIET_WAIT s at most, QUIET_BUDGET s over the run)
# until other processes use < QUIET_PCT % of the machine over 0.5 s.
# Sets QW (seconds waited) and QO (the last other-CPU sample).
wait_quiet() {
    QW=0
    QO=-1
    [ "$QUIET_WAIT" -gt 0 ] || return 0
    t0=$(date +%s)
    while :; do
        cpu_snapshot >"$RUNDIR/q1"
        sleep 0.5
        cpu_snapshot >"$RUNDIR/q2"
        QO=$(other_cpu "$(cat "$RUNDIR/q1")" "$(cat "$RUNDIR/q2")")
        QW=$(($(date +%s) - t0))
        awk -v o="$QO" -v m="$QUIET_PCT" 'BEGIN { exit !(o < m) }' && break
        [ "$QW" -ge "$QUIET_WAIT" ] && break
        [ $((QUIET_TOTAL + QW)) -ge "$QUIET_BUDGET" ] && break
        sleep 0.5
    done
    QUIET_TOTAL=$((QUIET_TOTAL + QW))
}

# run_wrk SECONDS CONNS URL OUT: wrk with the percentile script, recorded
# by PID.  --timeout 10s: wrk drops (counts as "timeout", leaves out of its
# histogram) any answer slower than its timeout; a 3 s stall must show.
run_wrk() {
    wt=2
    [ "$2" -lt 2 ] && wt=1 # wrk needs a connection per thread
    env $WRK_ENV "$WRK" -t$wt -c"$2" -d"${1}s" --timeout 10s --latency -s "$LUA" "$3" >"$4" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID"
    rc=$?
    WRK_PID=""
    return "$rc"
}

# parse_wrk FILE: "rps p50 p90 p99 p999 p9999 max requests status connect
# read write timeout" (latencies in ms).
parse_wrk() {
    awk '
        /^Requests\/sec:/ { rps = $2 }
        $1 == "LBQ" && $2 ~ /^p|^max$/ { v[$2] = $3 / 1000 }
        $1 == "LBQ" && $2 == "requests" { reqs = $3 }
        $1 == "LBQ" && $2 == "ge1s" { ge1s = $3 }
        $1 == "LBQ" && $2 == "errors" {
            for (i = 3; i <= NF; i++) { split($i, kv, "="); e[kv[1]] = kv[2] }
        }
        END {
            printf "%.1f %.3f %.3f %.3f %.3f %.3f %.3f %d %d %d %d %d %d %d\n",
                rps, v["p50"], v["p90"], v["p99"], v["p99.9"], v["p99.99"], v["max"],
                reqs, e["status"], e["connect"], e["read"], e["write"], e["timeout"], ge1s
        }' "$1"
}

# counts: requests each of m1..m4 received so far (lbf_member ?stats=count),
# one line "c1 c2 c3 c4".
counts() {
    curl -s --max-time 2 "http://$M1/?stats=count" "http://$M2/?stats=count" \
        "http://$M3/?stats=count" "http://$M4/?stats=count" 2>/dev/null | tr '\n' ' '
}

# ms: milliseconds since the epoch.
ms() {
    date +%s%3N
}

# stall_timer AT LEN ADDR OUT: freeze the member at ADDR (lbf_member
# freeze=on: it reads and counts requests, answers none) AT s from now,
# thaw it LEN s later; OUT gets "first after t0 t1 t2": requests it received
# in its first ~100 ms frozen (t0..t1 ms after the freeze) and after them
# until just before the thaw (t1..t2).  Background, as STALLER_PID.
stall_timer() {
    ( sleep "$1"; a=$(ms)
      curl -s --max-time 2 "http://$3/?freeze=on" >/dev/null
      c0=$(curl -s --max-time 2 "http://$3/?stats=count")
      sleep 0.1; b=$(ms); c1=$(curl -s --max-time 2 "http://$3/?stats=count")
      sleep "$(awk -v l="$2" 'BEGIN { printf "%.2f", l - 0.15 }')"
      c=$(ms); c2=$(curl -s --max-time 2 "http://$3/?stats=count")
      curl -s --max-time 2 "http://$3/?freeze=off" >/dev/null
      echo "$((c1 - c0)) $((c2 - c1)) $((b - a)) $((c - a))" >"$4" ) &
    STALLER_PID=$!
}

# antag_timer AT LEN ADDR OUT: the member at ADDR turns 4x slower
# (lbf_member slow=4) AT s from now and recovers (slow=1) LEN s later;
# OUT gets both answers ("slow=4 slow=1" when the control worked).
antag_timer() {
    ( sleep "$1"; x=$(curl -s --max-time 2 "http://$3/?slow=4")
      sleep "$2"; y=$(curl -s --max-time 2 "http://$3/?slow=1")
      echo $x $y >"$4" ) &
    STALLER_PID=$!
}

# measure ROUND FRONT CONNS SECONDS: one measured run, appended to data.tsv.
measure() {
    url="$(front_url "$2")$QUERY"
    wait_quiet
    [ "$QW" -gt 0 ] && say "waited ${QW}s for a quieter machine (other CPU ${QO}%)"
    if [ "$WARMUP" -gt 0 ]; then
        run_wrk "$WARMUP" "$3" "$url" "$RUNDIR/raw/$SCEN-warmup-r$1-$2-c$3.txt" \
            || say "warm-up of $2 failed"
    fi
    load1=$(cut -d' ' -f1 /proc/loadavg)
    out="$RUNDIR/raw/$SCEN-r$1-$2-c$3.txt"
    cpu_snapshot >"$RUNDIR/cpu1"
    tf="$RUNDIR/raw/$SCEN-r$1-$2-timer.txt"
    : >"$tf"
    [ "$SCEN" = stall ] && stall_timer "$STALL_AT" "$STALL_LEN" "$SLOW_ADDR" "$tf"
    [ "$SCEN" = antag ] && antag_timer "$ANTAG_AT" "$ANTAG_LEN" "$SLOW_ADDR" "$tf"
    case "$SCEN" in hashu|hashh) sampler "$4" "$tf" ;; esac
    cnt1=$(counts)
    if ! run_wrk "$4" "$3" "$url" "$out"; then
        say "$SCEN $2 c$3 round $1: wrk failed: $(tail -n 3 "$out")"
        FAIL="$FAIL wrk-$SCEN-$2"
    fi
    cpu_snapshot >"$RUNDIR/cpu2"
    if [ -n "$STALLER_PID" ]; then
        wait "$STALLER_PID" 2>/dev/null
        STALLER_PID=""
    fi
    cnt2=$(counts)
    shares=$(echo "$cnt1 $cnt2" | awk 'NF == 8 { print $5 - $1, $6 - $2, $7 - $3, $8 - $4; next } { print "0 0 0 0" }')
    timer="-1 -1 -1 -1"
    if [ "$SCEN" = stall ]; then
        read -r t1 t2 t3 t4 <"$tf" 2>/dev/null && timer="$t1 $t2 $t3 $t4"
        [ "$timer" != "-1 -1 -1 -1" ] || FAIL="$FAIL freeze-control-$2"
    fi
    if [ "$SCEN" = antag ]; then
        grep -q "^slow=4 slow=1$" "$tf" || FAIL="$FAIL slow-control-$2"
    fi
    note_kids
    other=$(other_cpu "$(cat "$RUNDIR/cpu1")" "$(cat "$RUNDIR/cpu2")")
    # shellcheck disable=SC2046  # split into numbers on purpose
    set -- "$1" "$2" "$3" $(parse_wrk "$out")
    echo "$SCEN $1 $2 $3 $4 $5 $6 $7 $8 $9 ${10} ${11} ${12} ${13} ${14} ${15} ${16} $load1 $other $QW ${17} $shares $timer" >>"$RUNDIR/data.tsv"
    say "$SCEN r$1 $2 c$3: $4 req/s p50 $5 p99 $7 p99.9 $8 ms; >=1s ${17}; per member $shares; timer $timer; non-2xx ${12} errors c/r/w/t ${13}/${14}/${15}/${16}; load $load1, other CPU $other%"
    [ "${11}" -gt 0 ] || FAIL="$FAIL zero-$SCEN-$2"
    [ "${12}" -eq 0 ] || FAIL="$FAIL non2xx-$SCEN-$2"
    [ $((${13} + ${15} + ${16})) -eq 0 ] || FAIL="$FAIL sockerr-$SCEN-$2"
    [ "${14}" -eq 0 ] || WARN="$WARN read-$SCEN-$2"
}

# check_logs: after a scenario, errors in the fronts' logs, dead fronts.
check_logs() {
    for p in "$HTTPD_PID:httpd" "$HAPROXY_PID:haproxy" "$NGINX_PID:nginx"; do
        alive "${p%%:*}" || FAIL="$FAIL died-$SCEN-${p#*:}"
    done
    for m in m1 m2 m3 m4; do
        eval "mp=\$$(echo "$m" | tr m M)_PID"
        alive "$mp" || FAIL="$FAIL died-$SCEN-$m"
    done
}

check_logs_after_stop() {
    n=$(grep -cE ':(error|crit|alert|emerg)\]|exit signal|AddressSanitizer|runtime error:' \
        "$RUNDIR/httpd-error.log" "$RUNDIR/httpd.out" 2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }')
    [ "$n" -eq 0 ] || FAIL="$FAIL httpd-log-$SCEN"
    n=$(grep -cE '\[(error|crit|alert|emerg)\]' "$RUNDIR/nginx-error.log" 2>/dev/null)
    [ "${n:-0}" -eq 0 ] || FAIL="$FAIL nginx-log-$SCEN"
    n=$(grep -cE '\[ALERT\]|\[EMERG\]' "$RUNDIR/haproxy.out" 2>/dev/null)
    [ "${n:-0}" -eq 0 ] || FAIL="$FAIL haproxy-log-$SCEN"
    for f in httpd-error.log nginx-error.log haproxy.out; do
        cp "$RUNDIR/$f" "$RESULTS/$SCEN-$f" 2>/dev/null
    done
    cat "$RUNDIR"/push-m?.log >"$RESULTS/$SCEN-push.log" 2>/dev/null
    rm -f "$RUNDIR"/push-m?.log
}

# take_ports: the fronts' ports.
take_ports() {
    take_port HTTPD_PORT && take_port HP_RR_PORT && take_port HP_LC_PORT \
        && take_port HP_R2_PORT && take_port NG_RR_PORT && take_port NG_LC_PORT \
        && take_port NG_R2_PORT && take_port HP_H_PORT && take_port NG_H_PORT \
        || die "no free ports"
}

# run_scenario NAME: members, fronts, push agents, precheck, rounds.
run_scenario() {
    SCEN=$1
    TAKEN=""
    case "$SCEN" in
        thr)   rounds=$ROUNDS_THR;   dur=$DUR_THR;   conns=$CONNS_THR; QUERY="" ;;
        slow|het) rounds=$ROUNDS_SLOW; dur=$DUR_SLOW; conns=$CONNS_Q; QUERY="?sleep_ms=10" ;;
        antag) rounds=$ROUNDS_STALL; dur=$DUR_ANTAG; conns=$CONNS_Q; QUERY="?sleep_ms=10" ;;
        stall) rounds=$ROUNDS_STALL; dur=$DUR_STALL; conns=$CONNS_STALL; QUERY="?sleep_ms=10" ;;
    esac
    WRK_ENV=""
    [ "$SCEN" = stall ] && WRK_ENV="LBQ_THINK_MS=$THINK_MS"
    use=$QFRONTS
    [ "$SCEN" = thr ] && use=$FRONTS
    SFRONTS=""
    for f in $use; do
        [ "$f" = direct ] && [ "$SCEN" != thr ] && [ "$MODE" = full ] && continue
        SFRONTS="$SFRONTS $f"
    done
    start_members "$SCEN"
    eval "SLOW_ADDR=\$$(echo "$SLOW_MEMBER" | tr m M)"
    take_ports
    start_httpd
    start_haproxy
    start_nginx
    UTIL=no
    util_supported && UTIL=yes
    start_pushers
    say "$SCEN: members m1 $M1 ($OPTS_m1) m2 $M2 ($OPTS_m2) m3 $M3 ($OPTS_m3) m4 $M4 ($OPTS_m4); httpd :$HTTPD_PORT (PID $HTTPD_PID), haproxy :$HP_RR_PORT/$HP_LC_PORT/$HP_R2_PORT (PID $HAPROXY_PID), nginx :$NG_RR_PORT/$NG_LC_PORT/$NG_R2_PORT (PID $NGINX_PID); members report ?stats=util: $UTIL"
    echo "$SCEN util=$UTIL m1=$M1 m1opts=${OPTS_m1:-none} m2=$M2 m2opts=${OPTS_m2:-none} m3=$M3 m3opts=${OPTS_m3:-none} m4=$M4 m4opts=${OPTS_m4:-none} rounds=$rounds dur=$dur conns=$(echo $conns | tr ' ' ,) query=${QUERY:-none}" >>"$RUNDIR/scenarios.txt"
    # Let the agents' first pushes land (pushed-metric starts neutral).
    [ "$MODE" = full ] && sleep 2
    precheck
    r=1
    while [ "$r" -le "$rounds" ]; do
        for c in $conns; do
            for f in $SFRONTS; do
                measure "$r" "$f" "$c" "$dur"
            done
        done
        r=$((r + 1))
    done
    curl -s --max-time 5 "http://127.0.0.1:$HTTPD_PORT/nothing-here" >/dev/null
    check_logs
    stop_scenario
    check_logs_after_stop
    push_warn=$(grep -c . "$RESULTS/$SCEN-push.log" 2>/dev/null)
    echo "$SCEN push_log_lines=${push_warn:-0}" >>"$RUNDIR/scenarios.txt"
}

# ------------------------------------------------- (e) fairness, (f) hash

# start_fixed_pushers V1 V2 V3 V4: stop the running agents, then one agent
# per member and farm (farm_pm and farm_ltp) pushing the fixed util Vi for
# member mi every second (scenario fair).
start_fixed_pushers() {
    for p in $PUSHER_PIDS; do stop_pid "$p" 3; done
    PUSHER_PIDS=""
    i=1
    for v in "$@"; do
        for farm in farm_pm farm_ltp; do
            sh "$PUSH" --url "http://127.0.0.1:$HTTPD_PORT/lbfarm-push" \
                --farm "$farm" --member "m$i" --key-file "$RUNDIR/m$i.key" \
                --interval 1 --metric "util=$v" >>"$RUNDIR/push-m$i.log" 2>&1 &
            PUSHER_PIDS="$PUSHER_PIDS $!"
        done
        i=$((i + 1))
    done
}

# start_fronts_all: httpd, HAProxy, nginx (configs rendered now: HMEMBERS).
start_fronts_all() {
    start_httpd
    start_haproxy
    start_nginx
}

# scenario_line: the scenario's members and fronts, to the log and the
# report's scenario list.
scenario_line() {
    say "$SCEN: members m1 $M1 m2 $M2 m3 $M3 m4 $M4${M5:+ m5 $M5} ($OPTS_m1); httpd :$HTTPD_PORT, haproxy PID $HAPROXY_PID, nginx PID $NGINX_PID; $1"
    echo "$SCEN m1=$M1 m2=$M2 m3=$M3 m4=$M4${M5:+ m5=$M5} opts=${OPTS_m1:-none} $1" >>"$RUNDIR/scenarios.txt"
}

# fair_pass PHASE FRONTS: one measured run per front and FAIR_CONNS entry
# (1 connection: cheap GET /; more: GET /?sleep_ms=10), as scenario PHASE.
fair_pass() {
    SCEN=$1
    for c in $FAIR_CONNS; do
        if [ "$c" -le 1 ]; then QUERY="" d=$DUR_FAIR1; else QUERY="?sleep_ms=10" d=$DUR_FAIR; fi
        for f in $2; do
            measure 1 "$f" "$c" "$d"
        done
    done
}

# run_fair: (e) identical members (--capacity 8); every FAIR_FRONTS front
# with equal pushed loads (0.300 each: pushed-metric and least-time with
# pushes), then lf-pm and lf-ltp again with 0.300/0.301/0.302/0.303.
run_fair() {
    SCEN=fair
    TAKEN=""
    start_members fair
    take_ports
    start_fronts_all
    start_fixed_pushers 0.300 0.300 0.300 0.300
    scenario_line "fronts $FAIR_FRONTS; conns $FAIR_CONNS; pushed util 0.300 x4, then 0.300/0.301/0.302/0.303"
    sleep 2 # the first pushes land
    SFRONTS=$FAIR_FRONTS QUERY=""
    precheck
    fair_pass fair "$FAIR_FRONTS"
    pushed=""
    for f in $FAIR_FRONTS; do
        case "$f" in lf-pm|lf-ltp) pushed="$pushed $f" ;; esac
    done
    if [ -n "$pushed" ]; then
        start_fixed_pushers 0.300 0.301 0.302 0.303
        sleep 2.5 # every member's new value has landed
        fair_pass fairu "$pushed"
    fi
    SCEN=fair
    check_logs
    stop_scenario
    check_logs_after_stop
}

# sampler SECONDS OUT: every ~0.1 s for SECONDS, each of m1..m4's requests
# in their delay (lbf_member ?stats=util without --capacity: the count in
# flight at the member), one line per sample.  Background, as STALLER_PID.
sampler() {
    ( end=$(($(ms) + $1 * 1000 - 200))
      while [ "$(ms)" -lt "$end" ]; do
          curl -s --max-time 1 "http://$M1/?stats=util" "http://$M2/?stats=util" \
              "http://$M3/?stats=util" "http://$M4/?stats=util" 2>/dev/null | tr '\n' ' '
          echo
          sleep 0.1
      done >"$2" ) &
    STALLER_PID=$!
}

# map_keys FRONT OUT: HASH_KEYS sequential requests through FRONT (one
# curl, keep-alive), GET /?k=keyN; OUT gets "keyN member" per answer
# (lbf_member's body names the member and the URI it got).
map_keys() {
    cfg="$RUNDIR/keys.curl"
    awk -v n="$HASH_KEYS" -v b="$(front_url "$1")" \
        'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s?k=key%d\"\n", b, i }' >"$cfg"
    curl -s --max-time 300 -K "$cfg" 2>/dev/null | awk '
        { m = k = ""
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^member=/) m = substr($i, 8)
              if ($i ~ /^uri=/) { k = $i; sub(/^.*[?&]k=/, "", k); sub(/&.*/, "", k) }
          }
          if (m != "" && k != "") print k, m }' >"$2"
}

# map_all TAG: map_keys of every hash front into keys-TAG-FRONT.txt.
map_all() {
    for f in $HFRONTS; do
        map_keys "$f" "$RUNDIR/keys-$1-$f.txt"
        say "hash $1 $f: $(wc -l <"$RUNDIR/keys-$1-$f.txt") keys mapped ($HMEMBERS)"
    done
}

# hash_restart MEMBERS TAG: check and keep the fronts' logs, stop them,
# start them again with the hash fronts over MEMBERS.
hash_restart() {
    check_logs
    stop_fronts
    check_logs_after_stop
    HMEMBERS=$1
    SCEN=hash-$2
    start_fronts_all
    SFRONTS=$HFRONTS QUERY="?k=probe"
    precheck
}

# run_hash: (f) m1..m5 without --capacity (their ?stats=util is the count
# in flight).  (ii) with m1..m4: wrk -c CONNS_Q, GET /?sleep_ms=10&k=KEY,
# keys from HASH_LOADKEYS (LBQ_HOT of them the one key "hot"), a sampler of
# each member's in-flight count.  (i) HASH_KEYS keys mapped with m1..m4
# (A), m1..m5 (B: m5 added), m2..m5 (C: m1 removed); fronts restarted
# with each list.
run_hash() {
    SCEN="hash"
    TAKEN=""
    start_members hash
    take_ports
    HMEMBERS="m1 m2 m3 m4"
    start_fronts_all
    scenario_line "fronts $HFRONTS; load: conns $CONNS_Q, ${DUR_HASH} s, $HASH_LOADKEYS keys, hot shares $HASH_HOT; stability: $HASH_KEYS keys, m1..m4 -> +m5 -> -m1"
    SFRONTS=$HFRONTS QUERY="?k=probe"
    precheck
    QUERY="?sleep_ms=10"
    for hot in $HASH_HOT; do
        WRK_ENV="LBQ_KEYS=$HASH_LOADKEYS LBQ_HOT=$hot"
        SCEN=hashu
        [ "$hot" = 0 ] || SCEN=hashh
        for f in $HFRONTS; do
            measure 1 "$f" "$CONNS_Q" "$DUR_HASH"
        done
    done
    WRK_ENV=""
    map_all A
    hash_restart "m1 m2 m3 m4 m5" B
    map_all B
    hash_restart "m2 m3 m4 m5" C
    map_all C
    for f in $HFRONTS; do
        awk -v f="$f" '
            FILENAME ~ /keys-A-/ { a[$1] = $2; na++; cnt[$2]++ }
            FILENAME ~ /keys-B-/ { b[$1] = $2; nb++ }
            FILENAME ~ /keys-C-/ { c[$1] = $2; nc++ }
            END {
                for (k in b) {
                    if (k in a) { ab++; if (a[k] != b[k]) { mab++; if (b[k] != "m5") sab++ } }
                    if (k in c) { bc++; if (b[k] != c[k]) { mbc++; if (b[k] != "m1") sbc++ } }
                }
                hi = 0; lo = -1
                for (m in cnt) { if (cnt[m] > hi) hi = cnt[m]; if (lo < 0 || cnt[m] < lo) lo = cnt[m] }
                printf "%s %d %d %d %d %d %d %d %d %d %.3f %.3f\n", f, na, nb, nc,
                    ab, mab + 0, sab + 0, bc, mbc + 0, sbc + 0,
                    na ? hi * 4 / na : 0, na ? lo * 4 / na : 0
            }' "$RUNDIR/keys-A-$f.txt" "$RUNDIR/keys-B-$f.txt" "$RUNDIR/keys-C-$f.txt" \
            >>"$RUNDIR/hash.tsv"
    done
    mkdir -p "$RESULTS/keys"
    cp "$RUNDIR"/keys-?-*.txt "$RESULTS/keys/" 2>/dev/null
    SCEN=hash-C
    check_logs
    alive "$M5_PID" || FAIL="$FAIL died-hash-m5"
    stop_scenario
    check_logs_after_stop
    SCEN="hash"
    HMEMBERS="m1 m2 m3 m4"
    M5="" M5_PID=""
}

# report_fair: (e) tables from data.tsv (fair: equal pushed loads, fairu:
# 0.300..0.303); share deviations from 25 % in points (absolute reading of
# "+-5 %": every share 20..30 %) and relative to 25 % (23.75..26.25 %).
report_fair() {
    awk -v descs="$DESCS" -v fronts="$ALL_FRONTS" '
        ($1 == "fair" || $1 == "fairu") && NF >= 25 {
            k = $1 SUBSEP $4 SUBSEP $3; has[k] = 1; seen[$1, $4] = 1; order[$4] = 1
            rps[k] = $5; p99[k] = $8
            for (i = 1; i <= 4; i++) sh[k, i] = $(21 + i)
        }
        END {
            nf = split(fronts, F, " "); split(descs, D, "|")
            for (i = 1; i <= nf; i++) desc[F[i]] = D[i]
            for (ph = 1; ph <= 2; ph++) {
                s = (ph == 1) ? "fair" : "fairu"
                for (c in order) {
                    if (!((s, c) in seen)) continue
                    printf "\n### (e) fairness: four identical members (capacity 8), %s connection(s), %s; %s\n\n", c,
                        (c <= 1) ? "GET / (cheap)" : "GET /?sleep_ms=10",
                        (s == "fair") ? "pushed util 0.300 for every member (lf-pm, lf-ltp)" : "pushed util 0.300/0.301/0.302/0.303 for m1..m4"
                    printf "| front | what | requests | req/s | p99 ms | m1 %% | m2 %% | m3 %% | m4 %% | max abs(share - 25 %%), points | relative to 25 %% | absolute +-5 points | relative +-5 %% |\n"
                    printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
                    for (i = 1; i <= nf; i++) {
                        f = F[i]; k = s SUBSEP c SUBSEP f
                        if (!(k in has)) continue
                        tot = sh[k, 1] + sh[k, 2] + sh[k, 3] + sh[k, 4]; d = 0
                        for (j = 1; j <= 4; j++) { x = (tot > 0) ? 100 * sh[k, j] / tot - 25 : 25; if (x < 0) x = -x; if (x > d) d = x }
                        printf "| %s | %s | %d%s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f %% | %s | %s |\n",
                            f, desc[f], tot, (tot < 10000) ? " (< 10,000)" : "", rps[k], p99[k],
                            tot ? 100 * sh[k, 1] / tot : 0, tot ? 100 * sh[k, 2] / tot : 0,
                            tot ? 100 * sh[k, 3] / tot : 0, tot ? 100 * sh[k, 4] / tot : 0,
                            d, 4 * d, (d <= 5) ? "met" : "**missed**", (d <= 1.25) ? "met" : "**missed**"
                    }
                }
            }
        }' "$1"
}

# report_hash: (f) load (data.tsv hashu/hashh + the samplers) and key
# stability (hash.tsv).
report_hash() {
    awk -v descs="$DESCS" -v fronts="$ALL_FRONTS" -v raw="$RUNDIR/raw" '
        FILENAME ~ /data.tsv$/ && ($1 == "hashu" || $1 == "hashh") && NF >= 25 {
            k = $1 SUBSEP $3; has[k] = 1; conns[$1] = $4
            rps[k] = $5; p50[k] = $6; p99[k] = $8; bad[k] = $13
            for (i = 1; i <= 4; i++) sh[k, i] = $(21 + i)
            # the sampler of this run: mean in flight per member, peak
            f = raw "/" $1 "-r1-" $3 "-timer.txt"; n = 0
            for (i = 1; i <= 4; i++) sum[i] = 0
            pk[k] = 0; rsum = 0
            while ((getline line < f) > 0) {
                if (split(line, v, " ") < 4) continue
                n++; t = 0; mx = 0
                for (i = 1; i <= 4; i++) { v[i] += 0; sum[i] += v[i]; t += v[i]; if (v[i] > mx) mx = v[i]; if (v[i] > pk[k]) pk[k] = v[i] }
                if (t > 0) rsum += mx * 4 / t
            }
            close(f)
            ns[k] = n; mt = 0; mm = 0
            for (i = 1; i <= 4; i++) { mt += sum[i]; if (sum[i] > mm) mm = sum[i] }
            im[k] = (mt > 0) ? mm * 4 / mt : 0; avgf[k] = (n > 0) ? mt / n / 4 : 0
            rs[k] = (n > 0) ? rsum / n : 0
            next
        }
        FILENAME ~ /hash.tsv$/ { H[$1] = $0; next }
        END {
            nf = split(fronts, F, " "); split(descs, D, "|")
            for (i = 1; i <= nf; i++) desc[F[i]] = D[i]
            for (ph = 1; ph <= 2; ph++) {
                s = (ph == 1) ? "hashu" : "hashh"
                if (!(s in conns)) continue
                printf "\n### (f-ii) hash load: m1..m4, %d connections, GET /?sleep_ms=10&k=KEY, %s\n\n", conns[s],
                    (s == "hashu") ? "keys uniform over the key set" : "keys: one hot key for a share of the requests (LBQ_HOT), the rest uniform"
                printf "In flight per member sampled every ~0.1 s (lbf_member ?stats=util without --capacity: requests in their delay).\n\n"
                printf "| front | what | req/s | p50 ms | p99 ms | m1 %% | m2 %% | m3 %% | m4 %% | requests max/avg | in flight mean per member | in flight max/avg (means) | per-sample max/avg (mean) | peak in flight | samples | <= 1.25x | non-2xx |\n"
                printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n"
                for (i = 1; i <= nf; i++) {
                    f = F[i]; k = s SUBSEP f
                    if (!(k in has)) continue
                    tot = sh[k, 1] + sh[k, 2] + sh[k, 3] + sh[k, 4]; mx = 0
                    for (j = 1; j <= 4; j++) if (sh[k, j] > mx) mx = sh[k, j]
                    rq = tot ? mx * 4 / tot : 0
                    printf "| %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.2f | %.2f | %d | %d | %s | %d |\n",
                        f, desc[f], rps[k], p50[k], p99[k],
                        tot ? 100 * sh[k, 1] / tot : 0, tot ? 100 * sh[k, 2] / tot : 0,
                        tot ? 100 * sh[k, 3] / tot : 0, tot ? 100 * sh[k, 4] / tot : 0,
                        rq, avgf[k], im[k], rs[k], pk[k], ns[k], (im[k] <= 1.25) ? "met" : "**missed**", bad[k]
                }
            }
            printf "\n### (f-i) hash key stability: keys mapped with m1..m4 (A), m5 added (B), m1 then removed (C)\n\n"
            printf "Sequential requests (nothing else in flight: the bound never applies), GET /?k=keyN; the fronts restarted with each member list. Ideal: 1/5 = 20 %% of the keys move each time (the added member'"'"'s share, the removed member'"'"'s keys); goal <= 25 %%.\n\n"
            printf "| front | what | keys A/B/C | A->B moved | of them not to m5 | B->C moved | of them not from m1 | keys per member max/avg (A) | min/avg | add <= 25 %% | remove <= 25 %% |\n"
            printf "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|\n"
            for (i = 1; i <= nf; i++) {
                f = F[i]
                if (!(f in H)) continue
                split(H[f], v, " ")
                pab = v[5] ? 100 * v[6] / v[5] : 0; pbc = v[8] ? 100 * v[9] / v[8] : 0
                printf "| %s | %s | %d/%d/%d | %.1f %% (%d) | %d | %.1f %% (%d) | %d | %.3f | %.3f | %s | %s |\n",
                    f, desc[f], v[2], v[3], v[4], pab, v[6], v[7], pbc, v[9], v[10], v[11], v[12],
                    (pab <= 25) ? "met" : "**missed**", (pbc <= 25) ? "met" : "**missed**"
            }
        }' "$1" "$2"
}

# --------------------------------------------------------------- reporting

# report: the markdown report from data.tsv; fields per line:
#  1 scen 2 round 3 front 4 conns 5 rps 6 p50 7 p90 8 p99 9 p999 10 p9999
#  11 max 12 reqs 13 non2xx 14 connect 15 read 16 write 17 timeout
#  18 load1 19 othercpu 20 waited
report() {
    awk -v fronts="$ALL_FRONTS" -v descs="$DESCS" '
        function sortn(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) {
                t = a[i]
                for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
                a[j + 1] = t
            }
        }
        # med(list): median of space-separated numbers; also sets MIN, MAX
        function med(list,   a, n) {
            n = split(list, a, " ")
            if (!n) { MIN = MAX = 0; return 0 }
            sortn(a, n); MIN = a[1]; MAX = a[n]
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        # fr(list): "median [min..max]" of a ratio list, "-" when empty
        function fr(list,   m) {
            if (list == "") return "-"
            m = med(list)
            return sprintf("%.2f [%.2f..%.2f]", m, MIN, MAX)
        }
        function add(k, v) { L[k] = (k in L) ? L[k] " " v : v }
        {
            s = $1; r = $2; f = $3; c = $4; k = s SUBSEP c SUBSEP f
            seen[s, c] = 1; has[k] = 1
            add(k SUBSEP "rps", $5); add(k SUBSEP "p50", $6); add(k SUBSEP "p90", $7)
            add(k SUBSEP "p99", $8); add(k SUBSEP "p999", $9); add(k SUBSEP "p9999", $10)
            add(k SUBSEP "max", $11)
            reqs[k] += $12; bad[k] += $13; serr[k] += $14 + $15 + $16 + $17
            R[s, c, f, r, "rps"] = $5; R[s, c, f, r, "p50"] = $6; R[s, c, f, r, "p99"] = $8
            R[s, c, f, r, "p999"] = $9
            if (r > maxr[s]) maxr[s] = r
            add(s SUBSEP "load", $18); add(s SUBSEP "oth", $19)
            if ($19 > othmax[s]) othmax[s] = $19
            if ($18 > loadmax[s]) loadmax[s] = $18
            if (!(s in loadmin) || $18 < loadmin[s]) loadmin[s] = $18
            waited[s] += $20
            if (NF >= 29) {
                ge1[k] += $21; sh[k, 1] += $22; sh[k, 2] += $23; sh[k, 3] += $24; sh[k, 4] += $25
                if ($26 >= 0) { fz1[k] = fz1[k] (fz1[k] == "" ? "" : " ") $26; fz2[k] = fz2[k] (fz2[k] == "" ? "" : " ") $27 }
            }
        }
        # better(s, f, g): f beats g (stall: fewer requests >= 1 s first)
        function better(s, f, g) {
            if (s == "stall" && G1[f] != G1[g]) return G1[f] < G1[g]
            return P[f] < P[g]
        }
        # ratio list of front f to base b in the same rounds
        function ratios(s, c, f, b, what,   r, out) {
            out = ""
            for (r = 1; r <= maxr[s]; r++)
                if (((s, c, f, r, what) in R) && ((s, c, b, r, what) in R) && R[s, c, b, r, what] > 0)
                    out = out " " (R[s, c, f, r, what] / R[s, c, b, r, what])
            return out
        }
        END {
            nf = split(fronts, F, " ")
            split(descs, D, "|")
            for (i = 1; i <= nf; i++) desc[F[i]] = D[i]
            # (a) throughput
            for (cc = 1; cc <= 2; cc++) {
                c = (cc == 1) ? 64 : 256
                if (!(("thr", c) in seen)) continue
                printf "\n### (a) Throughput, cheap members, %d connections\n\n", c
                printf "Ratios are per round to stock byrequests (ap-br) in the same round: median [min..max] over rounds.\n\n"
                printf "| front | what | req/s median | min | max | req/s vs ap-br | p50 ms | p50 vs ap-br | p99 ms | p99 vs ap-br | non-2xx | sock err |\n"
                printf "|---|---|---:|---:|---:|---|---:|---|---:|---|---:|---:|\n"
                for (i = 1; i <= nf; i++) {
                    f = F[i]; k = "thr" SUBSEP c SUBSEP f
                    if (!(k in has)) continue
                    m = med(L[k SUBSEP "rps"]); lo = MIN; hi = MAX
                    rr = fr(ratios("thr", c, f, "ap-br", "rps"))
                    p50 = med(L[k SUBSEP "p50"]); q = fr(ratios("thr", c, f, "ap-br", "p50"))
                    p99 = med(L[k SUBSEP "p99"]); w = fr(ratios("thr", c, f, "ap-br", "p99"))
                    printf "| %s | %s | %.0f | %.0f | %.0f | %s | %.2f | %s | %.2f | %s | %d | %d |\n",
                        f, desc[f], m, lo, hi, rr, p50, q, p99, w, bad[k], serr[k]
                }
            }
            # (b) balancing quality: every latency scenario
            ns = split("slow het antag stall", SQ, " ")
            for (ss = 1; ss <= ns; ss++) {
                s = SQ[ss]
                for (c in cset) delete cset[c]
                for (key in seen) { split(key, kk, SUBSEP); if (kk[1] == s) cset[kk[2]] = 1 }
                for (c in cset) {
                    if (s == "slow") printf "\n### (b-a) slow member: m2 4x slower (capacity 8 each), %d connections, GET /?sleep_ms=10\n\n", c
                    if (s == "het") printf "\n### (b-b) heterogeneous capacity: m1..m4 with 4/8/8/16 slots, %d connections, GET /?sleep_ms=10\n\n", c
                    if (s == "antag") printf "\n### (b-c) antagonist: m2 4x slower from 10 s to 20 s of a 30 s run, %d connections, GET /?sleep_ms=10\n\n", c
                    if (s == "stall") printf "\n### (b-d) stall: m2 frozen 3 s (lbf_member freeze=on) at 10 s of a 30 s run, %d users with think time, GET /?sleep_ms=10\n\n", c
                    # best peer (stall: fewest requests >= 1 s, then p99) and best lbfarm method
                    bp = bl = ""
                    for (i = 1; i <= nf; i++) {
                        f = F[i]; k = s SUBSEP c SUBSEP f
                        if (!(k in has)) continue
                        P[f] = med(L[k SUBSEP "p99"]); RP[f] = med(L[k SUBSEP "rps"]); G1[f] = ge1[k]
                        if (f ~ /^(ap-bb|hp-lc|hp-r2|ng-lc|ng-r2)$/ && (bp == "" || better(s, f, bp))) bp = f
                        if (f ~ /^l[fb]-/ && (bl == "" || better(s, f, bl))) bl = f
                    }
                    printf "Latencies in ms of the requests wrk sent (medians over %d round(s)); ratios to the best peer (%s); shares of requests per member.\n\n", maxr[s], bp
                    printf "| front | what | req/s | p50 | p90 | p99 | p99.9 | max | p99 vs best peer | req/s vs best peer | >= 1 s | m1 %% | m2 %% | m3 %% | m4 %% |%s non-2xx | sock err |\n", (s == "stall") ? " m2 frozen: new in first ~100 ms | new after |" : ""
                    printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s---:|---:|\n", (s == "stall") ? "---:|---:|" : ""
                    for (i = 1; i <= nf; i++) {
                        f = F[i]; k = s SUBSEP c SUBSEP f
                        if (!(k in has)) continue
                        tot = sh[k, 1] + sh[k, 2] + sh[k, 3] + sh[k, 4]; if (tot <= 0) tot = 1
                        printf "| %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %d | %.1f | %.1f | %.1f | %.1f |",
                            f, desc[f], RP[f], med(L[k SUBSEP "p50"]), med(L[k SUBSEP "p90"]), P[f],
                            med(L[k SUBSEP "p999"]), med(L[k SUBSEP "max"]),
                            (bp != "" && P[bp] > 0) ? P[f] / P[bp] : 0, (bp != "" && RP[bp] > 0) ? RP[f] / RP[bp] : 0,
                            ge1[k], 100 * sh[k, 1] / tot, 100 * sh[k, 2] / tot, 100 * sh[k, 3] / tot, 100 * sh[k, 4] / tot
                        if (s == "stall") printf " %s | %s |", fz1[k], fz2[k]
                        printf " %d | %d |\n", bad[k], serr[k]
                    }
                    if (bp == "" || bl == "") continue
                    printf "\nGoal (reported, not asserted): "
                    if (s != "stall") {
                        ok = P[bl] <= 0.6 * P[bp] && RP[bl] >= RP[bp]
                        printf "best mod_lbfarm method p99 <= 0.6 x the best peer at >= its req/s: %s %.1f ms at %.0f req/s vs %s %.1f ms at %.0f req/s = %.2fx, req/s %.2fx -- **%s**\n",
                            bl, P[bl], RP[bl], bp, P[bp], RP[bp], P[bl] / P[bp], RP[bl] / RP[bp], ok ? "met" : "missed"
                    } else {
                        ok = G1[bl] <= 0.5 * G1[bp]
                        printf "requests >= 1 s <= half the best peer'"'"'s: %s %d vs %s %d -- **%s**; frozen member'"'"'s new requests after its first ~100 ms with %s: %s -- **%s**\n",
                            bl, G1[bl], bp, G1[bp], ok ? "met" : "missed", bl, fz2[s, c, bl], (fz2[s, c, bl] == "0") ? "met" : "missed"
                    }
                }
            }
            printf "\n### Machine load during the measured runs\n\n"
            printf "| scenario | runs | 1-min load avg median | min..max | other processes CPU %% median | max | waited for quiet (s) |\n|---|---:|---:|---|---:|---:|---:|\n"
            split("thr slow het antag stall fair fairu hashu hashh", S, " ")
            for (i = 1; i <= 9; i++) {
                s = S[i]
                if (!((s SUBSEP "load") in L)) continue
                n = split(L[s SUBSEP "load"], tmp, " ")
                lm = med(L[s SUBSEP "load"]); om = med(L[s SUBSEP "oth"])
                printf "| %s | %d | %.2f | %.2f..%.2f | %.1f | %.1f | %d |\n", s, n, lm, loadmin[s], loadmax[s], om, othmax[s], waited[s]
            }
        }
    ' "$1"
}

# plot SCEN: gnuplot PNG of latency percentiles per front (medians over
# rounds), x = percentile on a "nines" scale, y = ms (log).
plot() {
    command -v gnuplot >/dev/null 2>&1 || { say "gnuplot missing: no plot"; return 0; }
    dat="$RESULTS/$1-percentiles.dat"
    awk -v s="$1" -v fronts="$FRONTS" '
        function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
        function med(list,   a, n) { n = split(list, a, " "); sortn(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        $1 == s { for (i = 6; i <= 10; i++) L[$3, i] = L[$3, i] " " $i; has[$3] = 1 }
        END {
            split("50 90 99 99.9 99.99", P, " ")
            n = split(fronts, F, " ")
            for (i = 1; i <= n; i++) {
                f = F[i]; if (!(f in has)) continue
                printf "# %s\n", f
                for (j = 1; j <= 5; j++) printf "%s %s %.3f\n", P[j], -log(1 - P[j] / 100) / log(10), med(L[f, j + 5])
                printf "\n\n"
            }
        }' "$RUNDIR/data.tsv" >"$dat"
    title="slow member (m2 4x slower, capacity 8 each), 32 connections"
    [ "$1" = stall ] && title="m2 frozen 3 s in a 30 s run, $CONNS_STALL users with think time"
    [ "$1" = het ] && title="capacities 4/8/8/16, 32 connections"
    [ "$1" = antag ] && title="m2 4x slower from 10 s to 20 s of 30 s, 32 connections"
    gp="$RESULTS/$1-percentiles.gp"
    {
        echo "set terminal pngcairo size 1100,700 font 'sans,10'"
        echo "set output '$RESULTS/$1-percentiles.png'"
        echo "set title 'Latency percentiles per front: $title'"
        echo "set termoption noenhanced"
        echo "set logscale y"
        echo "set xrange [0.2:4.1]"
        echo "set xlabel 'percentile'"
        echo "set ylabel 'latency (ms, log scale)'"
        echo "set xtics ('p50' 0.301, 'p90' 1, 'p99' 2, 'p99.9' 3, 'p99.99' 4)"
        echo "set grid"
        echo "set key outside right top"
        printf "plot "
        i=0
        sep=""
        for f in $FRONTS; do
            grep -qx "# $f" "$dat" || continue
            case "$f" in
                lf-*|lb-*) dt=1; lw=2.5 ;;
                ap-*) dt=2; lw=1.5 ;;
                hp-*) dt=3; lw=1.5 ;;
                ng-*) dt=4; lw=1.5 ;;
                *) dt=5; lw=1 ;;
            esac
            printf "%s'%s' index %d using 2:3 with linespoints dt %d lw %s pt %d title '%s'" \
                "$sep" "$dat" "$i" "$dt" "$lw" "$((i % 12 + 1))" "$f $(front_desc "$f")"
            sep=", \\
     "
            i=$((i + 1))
        done
        echo
    } >"$gp"
    gnuplot "$gp" 2>"$RUNDIR/gnuplot.err" || { say "gnuplot failed: $(cat "$RUNDIR/gnuplot.err")"; return 0; }
    say "plot: $RESULTS/$1-percentiles.png"
}

# ---------------------------------------------------------------------- main

case "${1:-}" in
    "") ;;
    --smoke) MODE=smoke ;;
    -h|--help) usage 0 ;;
    *) printf 'quality: unknown argument "%s"\n' "$1" >&2; usage 2 ;;
esac

if [ "$MODE" = smoke ]; then
    SCENARIOS=${SCENARIOS:-slow}
    PRE_N=1
    ROUNDS_THR=1 DUR_THR=1 CONNS_THR=64 ROUNDS_SLOW=1 DUR_SLOW=1 ROUNDS_STALL=1
    DUR_STALL=${DUR_STALL:-2} STALL_AT=${STALL_AT:-0.5} STALL_LEN=${STALL_LEN:-0.5}
    DUR_ANTAG=${DUR_ANTAG:-2} ANTAG_AT=${ANTAG_AT:-0.5} ANTAG_LEN=${ANTAG_LEN:-0.5}
    WARMUP=0 QUIET_WAIT=0 PICKBENCH=${PICKBENCH:-0}
    RESULTS=$RESULTS/smoke
else
    RESULTS=$RESULTS/latest
    SCENARIOS=${SCENARIOS:-"slow het antag stall fair hash"}
    PRE_N="1 2 3"
    ROUNDS_THR=${ROUNDS_THR:-2} DUR_THR=${DUR_THR:-3} CONNS_THR=${CONNS_THR:-"64 256"}
    ROUNDS_SLOW=${ROUNDS_SLOW:-2} DUR_SLOW=${DUR_SLOW:-5}
    ROUNDS_STALL=${ROUNDS_STALL:-1} DUR_STALL=${DUR_STALL:-30}
    STALL_AT=${STALL_AT:-10} STALL_LEN=${STALL_LEN:-3}
    DUR_ANTAG=${DUR_ANTAG:-30} ANTAG_AT=${ANTAG_AT:-10} ANTAG_LEN=${ANTAG_LEN:-10}
    WARMUP=${WARMUP:-1} QUIET_WAIT=${QUIET_WAIT:-10} PICKBENCH=${PICKBENCH:-1}
fi
CONNS_Q=${CONNS_Q:-32}
if [ "$MODE" = smoke ]; then
    DUR_FAIR=${DUR_FAIR:-1} DUR_FAIR1=${DUR_FAIR1:-1} DUR_HASH=${DUR_HASH:-1} HASH_KEYS=${HASH_KEYS:-200}
    FAIR_FRONTS=${FAIR_FRONTS:-"lf-w lf-pm lf-ltp hp-lc"}
else
    DUR_FAIR=${DUR_FAIR:-5} DUR_FAIR1=${DUR_FAIR1:-6} DUR_HASH=${DUR_HASH:-5} HASH_KEYS=${HASH_KEYS:-2000}
    FAIR_FRONTS=${FAIR_FRONTS:-$FAIR_FRONTS_DEF}
fi
FAIR_CONNS=${FAIR_CONNS:-"1 32"}
HASH_LOADKEYS=${HASH_LOADKEYS:-1000}
HASH_HOT=${HASH_HOT:-"0 0.3"}
HFRONTS=${HFRONTS:-$HASH_FRONTS}
CONNS_STALL=${CONNS_STALL:-400}
THINK_MS=${THINK_MS:-200}
WRK_ENV=""
PEERS="ap-bb hp-lc hp-r2 ng-lc ng-r2"
if [ -n "${FRONTS:-}" ]; then
    QFRONTS=$FRONTS
elif [ "$MODE" = smoke ]; then
    QFRONTS=$ALL_FRONTS
else
    QFRONTS=${QFRONTS:-"lf-ll lf-lt lb-ll lb-lt $PEERS"}
fi
QUIET_PCT=${QUIET_PCT:-15}
QUIET_BUDGET=${QUIET_BUDGET:-60}
QUIET_TOTAL=0
FRONTS=${FRONTS:-$ALL_FRONTS}
for v in ROUNDS_THR DUR_THR ROUNDS_SLOW DUR_SLOW ROUNDS_STALL DUR_STALL CONNS_Q WARMUP QUIET_WAIT QUIET_PCT QUIET_BUDGET DUR_FAIR DUR_FAIR1 DUR_HASH HASH_KEYS HASH_LOADKEYS; do
    eval "x=\$$v"
    # shellcheck disable=SC2154  # x is set by the eval above
    case "$x" in ''|*[!0-9]*) die "$v must be a whole number (got \"$x\")" ;; esac
done
for f in $FRONTS; do
    case " $ALL_FRONTS " in *" $f "*) ;; *) die "FRONTS: unknown front \"$f\" (known: $ALL_FRONTS)" ;; esac
done
for s in $SCENARIOS; do
    case "$s" in thr|slow|het|antag|stall|fair|hash) ;; *) die "SCENARIOS: unknown \"$s\" (thr slow het antag stall fair hash)" ;; esac
done
maxc=$CONNS_Q
case " $SCENARIOS " in *" stall "*) maxc=$CONNS_STALL ;; esac
for c in $CONNS_THR; do [ "$c" -gt "$maxc" ] && maxc=$c; done
MPM_THREADS=$((maxc * 2))
[ "$MPM_THREADS" -lt 64 ] && MPM_THREADS=64
DESCS=""
for f in $ALL_FRONTS; do DESCS="$DESCS$(front_desc "$f")|"; done

for t in "$WRK" curl openssl "$APACHE2" "$HAPROXY" "$NGINX"; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (sh tools/install-deps.sh)"
done
[ -f "$MODULE" ] || die "module not built: $MODULE (run make)"
[ -x "$MEMBER" ] || die "member server not built: $MEMBER (run make)"
[ -r "$LUA" ] || die "missing $LUA"

rm -rf "$RESULTS"
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
RUNDIR=$(mktemp -d /tmp/lbfarm-quality.XXXXXX) || die "mktemp -d failed"
mkdir -p "$RUNDIR/run" "$RUNDIR/htdocs" "$RUNDIR/raw"
chmod 755 "$RUNDIR" "$RUNDIR/run" "$RUNDIR/htdocs"
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT
: >"$RUNDIR/data.tsv"
: >"$RUNDIR/precheck.txt"
: >"$RUNDIR/scenarios.txt"
: >"$RUNDIR/hash.tsv"

# The push secret and each member's key (tools/lbfarm-push-key).
od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$RUNDIR/push.secret"
chmod 600 "$RUNDIR/push.secret"
for m in m1 m2 m3 m4; do
    sh "$PUSHKEY" "$RUNDIR/push.secret" "$m" >"$RUNDIR/$m.key" || die "lbfarm-push-key failed"
    chmod 600 "$RUNDIR/$m.key"
done

STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
T0=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $SCENARIOS; do
    case "$s" in
        fair) run_fair ;;
        hash) run_hash ;;
        *) run_scenario "$s" ;;
    esac
done

PICK_OUT=""
if [ "$PICKBENCH" = 1 ]; then
    if [ ! -x "$PICK" ]; then
        make -C "$ROOT" build/bench/pickbench >&2 || WARN="$WARN pickbench-build"
    fi
    if [ -x "$PICK" ]; then
        if [ "$MODE" = smoke ]; then pargs="0.05" eargs=100000; else pargs=1 eargs=1000000; fi
        wait_quiet
        say "pickbench pick $pargs; exact $eargs"
        PICK_OUT=$( { echo "\$ build/bench/pickbench pick $pargs"; "$PICK" pick "$pargs";
                      echo; echo "\$ build/bench/pickbench exact $eargs"; "$PICK" exact "$eargs";
                      echo; echo "\$ build/bench/pickbench hashmove 100000"; "$PICK" hashmove 100000;
                      echo; echo "\$ build/bench/pickbench hashload 100000"; "$PICK" hashload 100000; } 2>&1) \
            || FAIL="$FAIL pickbench"
    fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))

# ------------------------------------------------------------------- output

OUT="$RESULTS/report.md"
{
    printf '# mod_lbfarm quality bench (%s)\n\n' "$MODE"
    printf -- '- when: %s, %s s; repo %s%s\n' "$STARTED" "$ELAPSED" \
        "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo ' (uncommitted changes)')"
    printf -- '- machine: %s CPUs, %s MiB memory, kernel %s\n' "$NCPU" \
        "$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$(uname -r)"
    printf -- '- %s; %s; %s; %s\n' \
        "$("$APACHE2" -v 2>/dev/null | awk -F': ' '/^Server version/ { print $2 }')" \
        "$("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }')" \
        "$("$NGINX" -v 2>&1 | awk -F': ' '{ print $2 }')" \
        "$("$WRK" -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
    printf -- '- load average at start %s, at end %s\n' "$LOAD_START" "$LOAD_END"
    printf -- '- wrk -t2 --timeout 10s --latency -s bench/configs/wrk-percentiles.lua; %s s warm-up before each measured run;\n' "$WARMUP"
    printf '  fronts interleaved round by round; before each run waited up to %s s for other processes < %s%% CPU (%s s in all)\n' \
        "$QUIET_WAIT" "$QUIET_PCT" "$QUIET_TOTAL"
    printf -- '- httpd event MPM: StartServers 2, ServerLimit 2, ThreadsPerChild %s; HAProxy nbthread 2; nginx worker_processes 2\n\n' "$MPM_THREADS"
    printf 'Scenarios:\n\n'
    sed 's/^/    /' "$RUNDIR/scenarios.txt"
    report "$RUNDIR/data.tsv"
    report_fair "$RUNDIR/data.tsv"
    report_hash "$RUNDIR/data.tsv" "$RUNDIR/hash.tsv"
    if [ -n "$PICK_OUT" ]; then
        printf '\n### (c) pick cost, (d) counter exactness, hash ring moves and bound (simulated)\n\n'
        printf '%s\n' "$PICK_OUT" | sed 's/^/    /'
    fi
    printf '\nPre-check (three requests per front, X-Member seen):\n\n'
    sed 's/^/    /' "$RUNDIR/precheck.txt"
    if [ -n "$WARN" ]; then
        printf '\nWARNING: wrk read errors (a connection closed under a request):%s\n' "$WARN"
    fi
    if [ -n "$FAIL" ]; then
        printf '\nFAILED:%s\n' "$FAIL"
    else
        printf '\nOK: every front started and answered 2xx, no connect/write/timeout errors, clean logs.\n'
    fi
} >"$OUT"
cp "$RUNDIR/data.tsv" "$RESULTS/data.tsv"
rm -rf "$RESULTS/raw"
cp -r "$RUNDIR/raw" "$RESULTS/raw"
for s in slow het antag stall; do
    grep -q "^$s " "$RUNDIR/data.tsv" && plot "$s"
done
cat "$OUT"
say "results: $OUT (data.tsv, raw/, rendered configs, logs, plots next to it)"

cleanup
[ -z "$FAIL" ] || exit 1
exit 0
