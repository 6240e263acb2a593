# shellcheck shell=sh
# tools/lbf-lib.sh -- shell helpers shared by tools/demo.sh, bench/run.sh and
# bench/quality.sh (sourced, not run).  The caller defines say() for its
# messages; NCPU is needed by other_cpu().

# alive PID: true while PID runs (a zombie counts as gone).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    st=$(ps -o stat= -p "$1" 2>/dev/null)
    case "$st" in Z*|"") return 1 ;; esac
    return 0
}

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; reap.
# An empty PID is nothing to stop.
stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    n=0
    while alive "$1" && [ "$n" -lt "$(($2 * 10))" ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if alive "$1"; then
        say "PID $1 ignored SIGTERM for ${2}s, sending SIGKILL"
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    return 0
}

# used_ports: every local TCP port in use (listening or connected), sorted.
used_ports() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '
        NR > 1 && $2 ~ /:/ {
            split($2, a, ":"); h = a[length(a)]; v = 0
            for (i = 1; i <= length(h); i++)
                v = v * 16 + index("0123456789ABCDEF", toupper(substr(h, i, 1))) - 1
            print v
        }' | sort -un
}

# pick_port: a free port in 20000..59999, neither in use nor listed in
# $TAKEN (the ports this run picked but has not bound yet).
pick_port() {
    used=$(used_ports)
    tries=0
    while [ "$tries" -lt 200 ]; do
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        p=$((20000 + r % 40000))
        # shellcheck disable=SC2086  # word lists on purpose
        if ! printf '%s\n' $used $TAKEN | grep -qx "$p"; then
            echo "$p"
            return 0
        fi
        tries=$((tries + 1))
    done
    return 1
}

# take_port VAR: pick_port into VAR and add it to $TAKEN (no subshell, so
# the next pick knows it).
take_port() {
    p=$(pick_port) || return 1
    TAKEN="$TAKEN $p"
    eval "$1=\$p"
}

# other_cpu SNAP1 SNAP2: percent of all CPUs used between two cpu_snapshot
# lines by processes other than ours.
other_cpu() {
    echo "$1 $2" | awk -v ncpu="$NCPU" '{
        wall = $5 - $1; other = ($6 - $2) - ($7 - $3) - ($8 - $4)
        if (other < 0) other = 0
        printf "%.1f\n", (wall > 0) ? 100 * other / (wall * ncpu) : 0 }'
}

# usage [CODE]: print the script's header comment and exit.
usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}
