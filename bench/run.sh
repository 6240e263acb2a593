#!/bin/sh
# bench/run.sh -- throughput of mod_lbfarm against stock mod_proxy_balancer
# (what `make bench` runs).  See bench/README.md.
#
#   sh bench/run.sh            full run: ROUNDS (3) interleaved rounds of
#                              seven fronts, DURATION (5) s each after a
#                              WARMUP (1) s warm-up, CONNS (64) connections
#   sh bench/run.sh --smoke    every front once for 1 s, no warm-up; exits 1
#                              if any front answered non-2xx or served 0
#                              requests, or httpd logged an error or
#                              crashed (socket errors only warn).  ~12 s.
#
# One httpd (/usr/sbin/apache2, event MPM) serves all seven fronts under
# different URL prefixes, against the same three tools/lbf_member servers:
#
#   A /f-w/   farm mode, LBFarmMethod weighted    ProxyPass http://farm_w/
#   B /f-ll/  farm mode, LBFarmMethod least-load  ProxyPass http://farm_ll/
#   C /p-w/   balancer://prov_w,  ProxySet lbmethod=weighted   (our provider)
#   D /p-ll/  balancer://prov_ll, ProxySet lbmethod=least-load (our provider)
#   E /s-br/  balancer://stock_br, lbmethod=byrequests (stock, the baseline)
#   F /s-bb/  balancer://stock_bb, lbmethod=bybusyness (stock)
#   G /direct/ ProxyPass to member m1 alone (the ceiling)
#
# Rounds interleave: A B C D E F G, A B C D E F G, ...  Results go to stdout
# and to bench/results/ (git-ignored): latest.md (smoke.md for --smoke), the
# generated httpd config, httpd's error log and every raw wrk output.
#
# Environment: ROUNDS, DURATION (seconds, "5" or "5s"), CONNS, WARMUP
# (seconds, 0 = none), QUIET_WAIT (seconds to wait before each measured run
# for other processes to use < QUIET_PCT (10) % of the machine; default 5,
# 0 in smoke mode), FRONTS (subset, e.g. "A E G"), WRK (wrk binary),
# LBF_MODULE (module, default <repo>/.libs/mod_lbfarm.so), LBF_HTTPD (httpd
# binary, default /usr/sbin/apache2), LBF_ASAN=1 (preload libasan into
# httpd, for an ASan build of the module), BENCH_RESULTS (results folder).
#
# Every process this script starts (members, httpd, wrk) is recorded by PID
# and stopped by PID on exit, Ctrl-C or SIGTERM (httpd: SIGTERM to the
# parent, then wait).

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lbf-lib.sh
. "$ROOT/tools/lbf-lib.sh"
MODDIR=/usr/lib/apache2/modules
APACHE2=${LBF_HTTPD:-/usr/sbin/apache2}
MODULE=${LBF_MODULE:-$ROOT/.libs/mod_lbfarm.so}
MEMBER=$ROOT/tools/lbf_member
WRK=${WRK:-wrk}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}

MODE=full
RUNDIR=""
HTTPD_PID=""
HTTPD_KIDS=""
MEMBER_PIDS=""
WRK_PID=""
PORT=""
M1_PORT="" M2_PORT="" M3_PORT=""
ALL_FRONTS="A B C D E F G"

# MPM settings, the same for every front (they share one httpd); set from
# CONNS once it is known (mpm_settings).
MPM_START=2
MPM_SERVERLIMIT=2
MPM_THREADS=""
MPM_MAXWORKERS=""
MPM_MINSPARE=""
MPM_MAXSPARE=""

say() {
    printf 'bench: %s\n' "$*" >&2
}

die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 2
}

# ---------------------------------------------------------------- processes

# note_kids: remember httpd's current children by PID, so that they can be
# stopped even if the parent dies first.
note_kids() {
    [ -n "$HTTPD_PID" ] || return 0
    for k in $(ps -o pid= --ppid "$HTTPD_PID" 2>/dev/null); do
        case " $HTTPD_KIDS " in *" $k "*) ;; *) HTTPD_KIDS="$HTTPD_KIDS $k" ;; esac
    done
}

# stop_httpd: SIGTERM the parent and wait (it stops its children); any
# child it left behind is killed by its recorded PID.
stop_httpd() {
    [ -n "$HTTPD_PID" ] || return 0
    note_kids
    stop_pid "$HTTPD_PID" 15
    for k in $HTTPD_KIDS; do
        alive "$k" && kill -KILL "$k" 2>/dev/null
    done
    HTTPD_PID=""
    HTTPD_KIDS=""
}

# cleanup: stop everything we started, by PID; runs once.
cleanup() {
    trap - INT TERM EXIT
    [ -n "$WRK_PID" ] && stop_pid "$WRK_PID" 2
    WRK_PID=""
    stop_httpd
    for p in $MEMBER_PIDS; do
        stop_pid "$p" 5
    done
    MEMBER_PIDS=""
    if [ -n "$RUNDIR" ] && [ -d "$RUNDIR" ]; then
        rm -rf "$RUNDIR"
    fi
}

# --------------------------------------------------------------------- ports

# mpm_settings: ThreadsPerChild = 2 x CONNS (at least 64), so that one
# child can hold every wrk connection busy and still have idle workers: when
# a child has no idle worker, the event MPM closes its idle keep-alive
# connections, and a client that just sent a request on one sees EOF (a wrk
# "read" socket error) through no fault of the balancer.  Two children, no
# spare-thread churn.
mpm_settings() {
    MPM_THREADS=$((CONNS * 2))
    [ "$MPM_THREADS" -lt 64 ] && MPM_THREADS=64
    MPM_MAXWORKERS=$((MPM_THREADS * MPM_SERVERLIMIT))
    MPM_MINSPARE=$MPM_THREADS
    MPM_MAXSPARE=$((MPM_THREADS * 3))
}

# ------------------------------------------------------------------ members

# start_member NAME: lbf_member on a port the kernel picks (--port 0);
# sets MPORT and records the PID.
start_member() {
    "$MEMBER" --port 0 --name "$1" --quiet \
        >"$RUNDIR/$1.out" 2>"$RUNDIR/$1.log" &
    pid=$!
    MEMBER_PIDS="$MEMBER_PIDS $pid"
    n=0
    while [ "$n" -lt 50 ]; do
        MPORT=$(awk -v m="$1" '$1 == "ready" && $2 == m { print $3; exit }' \
                "$RUNDIR/$1.out" 2>/dev/null)
        [ -n "$MPORT" ] && return 0
        alive "$pid" || break
        sleep 0.1
        n=$((n + 1))
    done
    die "member $1 did not start: $(cat "$RUNDIR/$1.log")"
}

# ------------------------------------------------------------------- fronts

front_path() {
    case "$1" in
        A) echo /f-w/ ;;   B) echo /f-ll/ ;;  C) echo /p-w/ ;;
        D) echo /p-ll/ ;;  E) echo /s-br/ ;;  F) echo /s-bb/ ;;
        G) echo /direct/ ;;
    esac
}

front_desc() {
    case "$1" in
        A) echo "farm, LBFarmMethod weighted" ;;
        B) echo "farm, LBFarmMethod least-load" ;;
        C) echo "balancer://, lbmethod=weighted" ;;
        D) echo "balancer://, lbmethod=least-load" ;;
        E) echo "balancer://, stock byrequests" ;;
        F) echo "balancer://, stock bybusyness" ;;
        G) echo "direct ProxyPass to m1" ;;
    esac
}

# --------------------------------------------------------------------- httpd

# write_conf FILE: one httpd config holding every front.
write_conf() {
    user=""
    if [ "$(id -u)" = 0 ]; then
        user="User www-data
Group www-data"
    fi
    m1="http://127.0.0.1:$M1_PORT"
    m2="http://127.0.0.1:$M2_PORT"
    m3="http://127.0.0.1:$M3_PORT"
    cat >"$1" <<EOF
# Generated by bench/run.sh ($MODE) -- every front in one httpd.
ServerRoot "$RUNDIR"
ServerName 127.0.0.1
PidFile "$RUNDIR/run/httpd.pid"
DefaultRuntimeDir "$RUNDIR/run"
Mutex file:$RUNDIR/run default
ErrorLog "$RUNDIR/error.log"
LogLevel warn
Listen 127.0.0.1:$PORT

LoadModule mpm_event_module           $MODDIR/mod_mpm_event.so
LoadModule authz_core_module          $MODDIR/mod_authz_core.so
LoadModule proxy_module               $MODDIR/mod_proxy.so
LoadModule proxy_http_module          $MODDIR/mod_proxy_http.so
LoadModule proxy_balancer_module      $MODDIR/mod_proxy_balancer.so
LoadModule slotmem_shm_module         $MODDIR/mod_slotmem_shm.so
LoadModule lbmethod_byrequests_module $MODDIR/mod_lbmethod_byrequests.so
LoadModule lbmethod_bybusyness_module $MODDIR/mod_lbmethod_bybusyness.so
LoadModule lbfarm_module              $MODULE
$user

# Event MPM, the same for every front (one process tree serves them all).
StartServers           $MPM_START
ServerLimit            $MPM_SERVERLIMIT
ThreadLimit            $MPM_THREADS
ThreadsPerChild        $MPM_THREADS
MaxRequestWorkers      $MPM_MAXWORKERS
MinSpareThreads        $MPM_MINSPARE
MaxSpareThreads        $MPM_MAXSPARE
MaxConnectionsPerChild 0
KeepAlive              On
MaxKeepAliveRequests   0
KeepAliveTimeout       15
Timeout                30

# No access log (no CustomLog, no mod_log_config format in use).
DocumentRoot "$RUNDIR/htdocs"

# A, B: farm mode.  Members of equal weight.
<LBFarm farm_w>
    LBFarmMethod weighted
    LBFarmMember m1 $m1
    LBFarmMember m2 $m2
    LBFarmMember m3 $m3
</LBFarm>
<LBFarm farm_ll>
    LBFarmMethod least-load
    LBFarmMember m1 $m1
    LBFarmMember m2 $m2
    LBFarmMember m3 $m3
</LBFarm>
ProxyPass /f-w/  http://farm_w/
ProxyPass /f-ll/ http://farm_ll/

# C, D: our methods as lbmethod providers of stock balancer://.
<Proxy balancer://prov_w>
    BalancerMember $m1
    BalancerMember $m2
    BalancerMember $m3
    ProxySet lbmethod=weighted
</Proxy>
<Proxy balancer://prov_ll>
    BalancerMember $m1
    BalancerMember $m2
    BalancerMember $m3
    ProxySet lbmethod=least-load
</Proxy>
ProxyPass /p-w/  balancer://prov_w/
ProxyPass /p-ll/ balancer://prov_ll/

# E, F: stock methods.
<Proxy balancer://stock_br>
    BalancerMember $m1
    BalancerMember $m2
    BalancerMember $m3
    ProxySet lbmethod=byrequests
</Proxy>
<Proxy balancer://stock_bb>
    BalancerMember $m1
    BalancerMember $m2
    BalancerMember $m3
    ProxySet lbmethod=bybusyness
</Proxy>
ProxyPass /s-br/ balancer://stock_br/
ProxyPass /s-bb/ balancer://stock_bb/

# G: the ceiling, one member, no balancing at all.
ProxyPass /direct/ $m1/
EOF
}

# set_httpd_env: HTTPD_ENV, the "VAR=value" words httpd runs with, given to
# env(1) so that "env ... apache2 &" execs httpd under the PID $! names
# (a shell function run with & would put a subshell there instead).
set_httpd_env() {
    HTTPD_ENV=""
    if [ "${LBF_ASAN:-0}" = 1 ]; then
        lib=$(gcc -print-file-name=libasan.so)
        case "$lib" in /*) ;; *) die "LBF_ASAN=1 but gcc knows no libasan.so" ;; esac
        HTTPD_ENV="LD_PRELOAD=$lib ASAN_OPTIONS=detect_leaks=0:abort_on_error=0"
    fi
}

# start_httpd: check the config, start httpd in the foreground (so $! is
# the parent) and wait until it answers; retries on another port if the
# one picked was taken meanwhile.
start_httpd() {
    set_httpd_env
    attempt=0
    while [ "$attempt" -lt 3 ]; do
        attempt=$((attempt + 1))
        TAKEN="$M1_PORT $M2_PORT $M3_PORT"
        PORT=$(pick_port) || die "no free port found"
        write_conf "$RUNDIR/httpd.conf"
        if ! out=$(env $HTTPD_ENV "$APACHE2" -d "$RUNDIR" -f "$RUNDIR/httpd.conf" -t 2>&1); then
            cp "$RUNDIR/httpd.conf" "$RESULTS/$PREFIX-httpd.conf" 2>/dev/null
            printf '%s\n' "$out" >&2
            die "apache2 -t rejects the generated config (saved as $RESULTS/$PREFIX-httpd.conf)"
        fi
        : >"$RUNDIR/error.log"
        env $HTTPD_ENV "$APACHE2" -d "$RUNDIR" -f "$RUNDIR/httpd.conf" -DFOREGROUND \
            >>"$RUNDIR/httpd.out" 2>&1 &
        HTTPD_PID=$!
        n=0
        while [ "$n" -lt 100 ]; do
            if ! alive "$HTTPD_PID"; then
                wait "$HTTPD_PID" 2>/dev/null
                HTTPD_PID=""
                break
            fi
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
                   "http://127.0.0.1:$PORT/nothing-here" 2>/dev/null)
            case "$code" in [1-5]??) note_kids; return 0 ;; esac
            sleep 0.1
            n=$((n + 1))
        done
        if [ -n "$HTTPD_PID" ]; then
            stop_httpd
            tail -n 20 "$RUNDIR/error.log" >&2
            die "httpd started but did not answer on 127.0.0.1:$PORT"
        fi
        if grep -q 'Address already in use' "$RUNDIR/error.log" "$RUNDIR/httpd.out" 2>/dev/null; then
            say "port $PORT was taken meanwhile, trying another"
            continue
        fi
        cat "$RUNDIR/httpd.out" >&2
        tail -n 20 "$RUNDIR/error.log" >&2
        die "httpd exited at start-up (log above)"
    done
    die "httpd could not bind a free port in 3 tries"
}

# precheck: each front answers 200 with an X-Member header, three times;
# prints "FRONT members-seen" lines, and returns 1 if any front failed.
precheck() {
    bad=0
    for f in $FRONTS; do
        seen=""
        for i in 1 2 3; do
            hdr=$(curl -s -D - -o /dev/null --max-time 5 \
                  "http://127.0.0.1:$PORT$(front_path "$f")" 2>/dev/null | tr -d '\r')
            code=$(printf '%s\n' "$hdr" | awk 'NR == 1 { print $2 }')
            mem=$(printf '%s\n' "$hdr" | awk 'tolower($1) == "x-member:" { print $2 }')
            if [ "$code" != 200 ] || [ -z "$mem" ]; then
                say "front $f ($(front_path "$f")): request $i answered '${code:-nothing}'${mem:+ from $mem}"
                bad=1
            fi
            seen="$seen ${mem:--}"
        done
        echo "$f$seen"
    done >"$RUNDIR/precheck.txt"
    return "$bad"
}

# ---------------------------------------------------------------------- wrk

# tcp_active_opens: the kernel's count of outgoing TCP connections so far
# (wrk's own connections included); its change over one wrk run, less
# CONNS, is how many new connections httpd opened to the members.
tcp_active_opens() {
    awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "ActiveOpens") c = i; h = 1 }
                        else { print $c; exit } }' /proc/net/snmp
}

# cpu_snapshot: "wall busy ours kids" in seconds: wall clock, CPU time the
# whole machine spent busy (/proc/stat), CPU time of our servers (httpd
# parent, its children and the children it reaped, the members), and CPU
# time of this shell's reaped children (after a wrk run: mostly wrk).
# "times" runs first and in this shell (not in a $(...) subshell, which
# would not see our children).
cpu_snapshot() {
    times >"$RUNDIR/times"
    {
        date +%s.%N
        awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / '"$CLK"'; exit }' /proc/stat
        for p in $HTTPD_PID $HTTPD_KIDS $MEMBER_PIDS; do
            cat "/proc/$p/stat" 2>/dev/null
        done | awk '{ s += $14 + $15 + $16 + $17 } END { print s / '"$CLK"' }'
        awk 'NR == 2 { n = 0
                       for (i = 1; i <= 2; i++) { split($i, t, "m"); n += t[1] * 60 + t[2] }
                       print n }' "$RUNDIR/times"
    } | tr '\n' ' '
}

# wait_quiet: before a measured run, wait (QUIET_WAIT seconds at most) until
# the machine is quiet: other processes using under QUIET_PCT % of it over
# half a second (our servers are idle then, so this is the others' load).
# Prints how many seconds it waited.
wait_quiet() {
    t0=$(date +%s)
    while :; do
        cpu_snapshot >"$RUNDIR/q1"
        sleep 0.5
        cpu_snapshot >"$RUNDIR/q2"
        o=$(other_cpu "$(cat "$RUNDIR/q1")" "$(cat "$RUNDIR/q2")")
        waited=$(($(date +%s) - t0))
        if awk -v o="$o" -v m="$QUIET_PCT" 'BEGIN { exit !(o < m) }' \
           || [ "$waited" -ge "$QUIET_WAIT" ]; then
            break
        fi
        sleep 0.5
    done
    echo "$waited"
}

# run_wrk SECONDS URL OUTFILE: wrk in the background (its PID recorded so a
# signal stops it), then wait.  Returns wrk's exit status.
run_wrk() {
    "$WRK" -t"$THREADS" -c"$CONNS" -d"${1}s" --latency "$2" >"$3" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID"
    rc=$?
    WRK_PID=""
    return "$rc"
}

# parse_wrk FILE: "rps p50_ms p99_ms requests non2xx socket_errors".
parse_wrk() {
    awk '
        function ms(v,   n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000
            if (u == "ms") return n
            if (u == "s")  return n * 1000
            if (u == "m")  return n * 60000
            if (u == "h")  return n * 3600000
            return -1
        }
        $1 == "50%"            { p50 = ms($2) }
        $1 == "99%"            { p99 = ms($2) }
        / requests in /        { reqs = $1 }
        /^Requests\/sec:/      { rps = $2 }
        /Non-2xx or 3xx/       { bad = $NF }
        /^ *Socket errors:/    { gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; i++) se += $i }
        END { printf "%.2f %.3f %.3f %d %d %d\n", rps, p50, p99, reqs, bad, se }
    ' "$1"
}

# ------------------------------------------------------------------- report

# report DATA: the markdown table (and the per-round numbers) from DATA,
# whose lines are "round front rps p50 p99 reqs non2xx sockerr newconns".
report() {
    awk -v fronts="$FRONTS" -v mode="$MODE" -v descs="$DESCS" '
        function sortn(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) {
                t = a[i]
                for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
                a[j + 1] = t
            }
        }
        function median(key, n,   a, i) {
            for (i = 1; i <= n; i++) a[i] = val[key, i]
            sortn(a, n)
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        function mn(key, n,   i, m) { m = val[key, 1]; for (i = 2; i <= n; i++) if (val[key, i] < m) m = val[key, i]; return m }
        function mx(key, n,   i, m) { m = val[key, 1]; for (i = 2; i <= n; i++) if (val[key, i] > m) m = val[key, i]; return m }
        function put(f, k, v) { cnt[f, k]++; val[f SUBSEP k, cnt[f, k]] = v }
        {
            f = $2
            put(f, "rps", $3); put(f, "p50", $4); put(f, "p99", $5)
            put(f, "new", $9); put(f, "oth", $10)
            if ($10 > othmax) othmax = $10
            reqs[f] += $6; bad[f] += $7; serr[f] += $8
            rounds[f]++; rps[f, $1] = $3; if ($1 > maxr) maxr = $1
        }
        END {
            nf = split(fronts, F, " ")
            split(descs, D, "|")
            for (i = 1; i <= nf; i++) {
                f = F[i]; n = cnt[f, "rps"]
                if (!n) continue
                med[f] = median(f SUBSEP "rps", n)
            }
            printf "| front | what | req/s median | min | max | p50 ms | p99 ms | vs E | vs G | goal | non-2xx | sock err | new member conns | other CPU %% |\n"
            printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n"
            for (i = 1; i <= nf; i++) {
                f = F[i]; n = cnt[f, "rps"]
                if (!n) { printf "| %s | %s | no data ||||||||||||\n", f, D[i]; continue }
                ve = ("E" in med && med["E"] > 0) ? sprintf("%.3f", med[f] / med["E"]) : "-"
                vg = ("G" in med && med["G"] > 0) ? sprintf("%.3f", med[f] / med["G"]) : "-"
                goal = "-"
                if (f ~ /^[ABCD]$/) {
                    if (ve == "-" || vg == "-") goal = "n/a"
                    else {
                        goal = ""
                        if (ve + 0 < 1.0)  goal = goal "MISS vs E "
                        if (vg + 0 < 0.95) goal = goal "MISS vs G "
                        if (goal == "") goal = "met"
                        sub(/ $/, "", goal)
                    }
                } else if (f == "E") goal = "baseline"
                else if (f == "G") goal = "ceiling"
                printf "| %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %s | %s | %s | %d | %d | %d | %.0f |\n",
                    f, D[i], med[f], mn(f SUBSEP "rps", n), mx(f SUBSEP "rps", n),
                    median(f SUBSEP "p50", n), median(f SUBSEP "p99", n), ve, vg, goal,
                    bad[f], serr[f], median(f SUBSEP "new", n), median(f SUBSEP "oth", n)
            }
            printf "\nGoals: A-D (farm and provider methods) median req/s >= 1.00x E (stock byrequests) and >= 0.95x G (direct).\n"
            printf "p50/p99 are medians of the per-round wrk percentiles. \"new member conns\" is the median per run of TCP connections\n"
            printf "httpd opened to members during the measured run (near 0 = pooled keep-alive connections were reused;\n"
            printf "counted machine-wide, so other programs opening connections inflate it). \"other CPU %%\" is the median share\n"
            printf "of the whole machine used by processes outside this benchmark during a measured run.\n"
            if (othmax > 10)
                printf "\n**Warning: other processes used up to %.0f%% of the machine during a measured run; these numbers are\ndisturbed. Rerun on a quiet machine before drawing conclusions.**\n", othmax
            if (mode == "smoke") printf "Smoke mode: 1 s runs, no warm-up: ratios are noise, not judged.\n"
            if (maxr > 1) {
                printf "\nPer-round req/s:\n\n| front |"
                for (r = 1; r <= maxr; r++) printf " round %d |", r
                printf "\n|---|"
                for (r = 1; r <= maxr; r++) printf "---:|"
                printf "\n"
                for (i = 1; i <= nf; i++) {
                    f = F[i]; printf "| %s |", f
                    for (r = 1; r <= maxr; r++) printf " %s |", ((f, r) in rps) ? sprintf("%.0f", rps[f, r]) : "-"
                    printf "\n"
                }
            }
        }
    ' "$1"
}

# ---------------------------------------------------------------------- main

case "${1:-}" in
    "") ;;
    --smoke) MODE=smoke ;;
    -h|--help) usage 0 ;;
    *) printf 'bench: unknown argument "%s"\n' "$1" >&2; usage 2 ;;
esac

if [ "$MODE" = smoke ]; then
    ROUNDS=1; DURATION=1; WARMUP=0; QUIET_WAIT=0
    PREFIX=smoke
else
    ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}
    QUIET_WAIT=${QUIET_WAIT:-5}
    PREFIX=latest
fi
CONNS=${CONNS:-64}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_TOTAL=0
DURATION=${DURATION%s}
WARMUP=${WARMUP%s}
FRONTS=${FRONTS:-$ALL_FRONTS}
for v in ROUNDS DURATION CONNS WARMUP QUIET_WAIT QUIET_PCT; do
    eval "x=\$$v"
    # shellcheck disable=SC2154  # x is set by the eval above
    case "$x" in ''|*[!0-9]*) die "$v must be a whole number (got \"$x\")" ;; esac
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] \
    || die "ROUNDS, DURATION and CONNS must be >= 1"
for f in $FRONTS; do
    case "$f" in [A-G]) ;; *) die "FRONTS: unknown front \"$f\" (known: $ALL_FRONTS)" ;; esac
done
THREADS=2
[ "$CONNS" -lt 2 ] && THREADS=1
mpm_settings
DESCS=""
for f in $FRONTS; do DESCS="$DESCS$(front_desc "$f")|"; done

if ! command -v "$WRK" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        say "wrk not found, running tools/install-deps.sh"
        sh "$ROOT/tools/install-deps.sh" >&2 || die "tools/install-deps.sh failed"
    fi
    command -v "$WRK" >/dev/null 2>&1 || die "wrk not found (apt-get install -y wrk, or sh tools/install-deps.sh)"
fi
command -v curl >/dev/null 2>&1 || die "curl not found (sh tools/install-deps.sh)"
[ -x "$APACHE2" ] || die "$APACHE2 not found (sh tools/install-deps.sh)"
[ -f "$MODULE" ] || die "module not built: $MODULE (run make)"
[ -x "$MEMBER" ] || die "member server not built: $MEMBER (run make)"
[ -r /proc/net/snmp ] || die "/proc/net/snmp not readable (Linux only)"

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
RUNDIR=$(mktemp -d /tmp/lbfarm-bench.XXXXXX) || die "mktemp -d failed"
mkdir -p "$RUNDIR/run" "$RUNDIR/htdocs" "$RUNDIR/raw"
chmod 755 "$RUNDIR" "$RUNDIR/run" "$RUNDIR/htdocs"
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

start_member m1; M1_PORT=$MPORT
start_member m2; M2_PORT=$MPORT
start_member m3; M3_PORT=$MPORT
start_httpd

NCPU=$(nproc 2>/dev/null || echo 1)
CLK=$(getconf CLK_TCK 2>/dev/null || echo 100)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
HTTPD_VER=$("$APACHE2" -v 2>/dev/null | awk -F': ' '/^Server version/ { print $2 }')
WRK_VER=$("$WRK" -v 2>&1 | awk 'NR == 1 { print $1, $2 }')
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
GIT_DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo ' (uncommitted changes)')
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
say "$MODE: httpd PID $HTTPD_PID on 127.0.0.1:$PORT; members m1 :$M1_PORT m2 :$M2_PORT m3 :$M3_PORT (PIDs$MEMBER_PIDS)"

FAIL=""
WARN=""
if ! precheck; then
    FAIL="$FAIL precheck"
fi

: >"$RUNDIR/data.tsv"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for f in $FRONTS; do
        url="http://127.0.0.1:$PORT$(front_path "$f")"
        qw=0
        [ "$QUIET_WAIT" -gt 0 ] && qw=$(wait_quiet)
        [ "$qw" -gt 0 ] && say "waited ${qw}s for other processes to calm down"
        QUIET_TOTAL=$((QUIET_TOTAL + qw))
        if [ "$WARMUP" -gt 0 ]; then
            run_wrk "$WARMUP" "$url" "$RUNDIR/raw/warmup-r$r-$f.txt" \
                || say "warm-up of $f (round $r): wrk failed"
        fi
        o1=$(tcp_active_opens)
        cpu_snapshot >"$RUNDIR/cpu1"
        if ! run_wrk "$DURATION" "$url" "$RUNDIR/raw/r$r-$f.txt"; then
            say "front $f round $r: wrk failed: $(tail -n 3 "$RUNDIR/raw/r$r-$f.txt")"
            FAIL="$FAIL wrk-$f"
        fi
        note_kids
        cpu_snapshot >"$RUNDIR/cpu2"
        o2=$(tcp_active_opens)
        other=$(other_cpu "$(cat "$RUNDIR/cpu1")" "$(cat "$RUNDIR/cpu2")")
        new=$((o2 - o1 - CONNS))
        [ "$new" -lt 0 ] && new=0
        # shellcheck disable=SC2046  # split into six numbers on purpose
        set -- $(parse_wrk "$RUNDIR/raw/r$r-$f.txt")
        echo "$r $f $1 $2 $3 $4 $5 $6 $new $other" >>"$RUNDIR/data.tsv"
        say "round $r/$ROUNDS front $f $(front_path "$f"): $1 req/s, p50 $2 ms, p99 $3 ms, $4 requests, non-2xx $5, socket errors $6, new member conns $new, other CPU $other%"
        [ "$4" -gt 0 ] || FAIL="$FAIL zero-$f"
        [ "$5" -eq 0 ] || FAIL="$FAIL non2xx-$f"
        [ "$6" -eq 0 ] || WARN="$WARN sockerr-$f"
    done
    r=$((r + 1))
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# Did httpd survive, and what did it log?  Stop it first so its log is whole.
if ! alive "$HTTPD_PID"; then
    FAIL="$FAIL httpd-died"
fi
stop_httpd
LOG_BAD=$(grep -E ':(error|crit|alert|emerg)\]|exit signal|AddressSanitizer|runtime error:' \
          "$RUNDIR/error.log" "$RUNDIR/httpd.out" 2>/dev/null | wc -l)
LOG_WARN=$(grep -cE ':warn\]' "$RUNDIR/error.log" 2>/dev/null)
[ "$LOG_BAD" -eq 0 ] || FAIL="$FAIL error-log"

# ------------------------------------------------------------------- output

OUT="$RUNDIR/report.md"
{
    printf '# mod_lbfarm bench (%s)\n\n' "$MODE"
    printf -- '- when: %s; repo %s%s\n' "$STARTED" "$GIT_REV" "$GIT_DIRTY"
    printf -- '- httpd: %s (%s), event MPM, one process tree serves all fronts:\n' "$APACHE2" "$HTTPD_VER"
    printf '  StartServers %s, ServerLimit %s, ThreadLimit/ThreadsPerChild %s, MaxRequestWorkers %s, MinSpareThreads %s, MaxSpareThreads %s,\n' \
        "$MPM_START" "$MPM_SERVERLIMIT" "$MPM_THREADS" "$MPM_MAXWORKERS" "$MPM_MINSPARE" "$MPM_MAXSPARE"
    printf '  MaxConnectionsPerChild 0, KeepAlive On (MaxKeepAliveRequests 0), no access log, LogLevel warn;\n'
    printf '  member connections pooled by mod_proxy (keep-alive) for every front\n'
    printf -- '- module: %s\n' "$MODULE"
    printf -- '- members: 3 x tools/lbf_member on 127.0.0.1 (:%s :%s :%s), equal weight, plain GET / (cheap answer)\n' \
        "$M1_PORT" "$M2_PORT" "$M3_PORT"
    printf -- '- load: %s, -t%s -c%s -d%ss --latency, %s s warm-up per front per round; %s round(s), interleaved %s\n' \
        "$WRK_VER" "$THREADS" "$CONNS" "$DURATION" "$WARMUP" "$ROUNDS" "$(echo $FRONTS | tr -d ' ')"
    printf -- '- machine: %s cores; wrk, httpd and the members share them, nothing pinned (expect run-to-run noise of several %%);\n' "$NCPU"
    printf '  load average (1/5/15 min) at start %s, at end %s; before each measured run waited up to %s s\n' \
        "$LOAD_START" "$LOAD_END" "$QUIET_WAIT"
    printf '  for other processes to use < %s%% of the machine (waited %s s in all)\n\n' "$QUIET_PCT" "$QUIET_TOTAL"
    report "$RUNDIR/data.tsv"
    printf '\nPre-check (3 sequential requests per front, X-Member seen):\n\n'
    sed 's/^/    /' "$RUNDIR/precheck.txt"
    printf '\nhttpd error log: %s line(s) at error level or worse (or crashes), %s warn line(s)' "$LOG_BAD" "$LOG_WARN"
    if grep -qvE ':(notice|info|debug)\]' "$RUNDIR/error.log" "$RUNDIR/httpd.out" 2>/dev/null; then
        printf '; first lines (notices left out):\n\n'
        cat "$RUNDIR/error.log" "$RUNDIR/httpd.out" 2>/dev/null \
            | grep -vE ':(notice|info|debug)\]' | head -n 15 | sed 's/^/    /'
    else
        printf '.\n'
    fi
    if [ -n "$WARN" ]; then
        printf '\nWARNING: socket errors (connect/read/write/timeout, see the raw wrk output):%s\n' "$WARN"
    fi
    if [ -n "$FAIL" ]; then
        printf '\nFAILED:%s\n' "$FAIL"
    else
        printf '\nOK: every front answered 2xx with requests served, clean error log, httpd alive.\n'
    fi
} >"$OUT"

cp "$OUT" "$RESULTS/$PREFIX.md"
cp "$RUNDIR/httpd.conf" "$RESULTS/$PREFIX-httpd.conf"
cp "$RUNDIR/error.log" "$RESULTS/$PREFIX-error.log"
rm -rf "$RESULTS/$PREFIX-raw"
cp -r "$RUNDIR/raw" "$RESULTS/$PREFIX-raw"
if [ "$MODE" = full ]; then
    mkdir -p "$RESULTS/history"
    cp "$OUT" "$RESULTS/history/$(date -u '+%Y%m%d-%H%M%S').md"
fi
cat "$OUT"
say "results: $RESULTS/$PREFIX.md (config $PREFIX-httpd.conf, log $PREFIX-error.log, raw wrk output $PREFIX-raw/)"

cleanup
[ -z "$FAIL" ] || exit 1
exit 0
