#!/bin/sh
# Install the Debian 12 packages mod_lbfarm builds, tests and demos with.
# Idempotent: apt-get runs only when something is missing.
set -e
PKGS="apache2 apache2-dev libssl-dev libapr1-dev libaprutil1-dev check \
pkg-config gcc make perl libhttp-tiny-perl wrk apache2-utils curl openssl \
procps clang libclang-rt-14-dev chromium python3-prometheus-client haproxy \
nginx gnuplot-nox keepalived iproute2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: need root to apt-get install:$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
# Debian starts the packaged apache2, nginx and haproxy services on install;
# ours never use them (tests and benchmarks start their own on ports they
# pick), but stop them so they hold no port and no CPU while we measure.
if command -v service >/dev/null 2>&1; then
    for svc in apache2 nginx haproxy; do
        service "$svc" stop >/dev/null 2>&1 || true
    done
fi
exit 0
