#!/bin/sh
# Install the Debian 12 packages mod_lbfarm builds, tests and demos with.
# Idempotent: apt-get runs only when something is missing.
set -e
PKGS="apache2 apache2-dev libssl-dev libapr1-dev libaprutil1-dev check \
pkg-config gcc make perl libhttp-tiny-perl wrk apache2-utils curl openssl \
procps libclang-rt-14-dev"
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
# Debian starts the packaged apache2 service on install; ours never uses it,
# but stop it so it holds no port while we test.
if command -v service >/dev/null 2>&1; then
    service apache2 stop >/dev/null 2>&1 || true
fi
exit 0
