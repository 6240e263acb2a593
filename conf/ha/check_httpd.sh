#!/bin/sh
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# check_httpd.sh -- keepalived's vrrp_script for a mod_lbfarm balancer:
# healthy (exit 0) when this node's httpd runs and its status page answers.
#
#   check_httpd.sh [STATUS_URL] [PIDFILE]
#
#   STATUS_URL  the balancer's own status page, asked on this node
#               (default http://127.0.0.1/lbfarm-status?format=text); its
#               <Location> must let 127.0.0.1 in (Require ip 127.0.0.1)
#   PIDFILE     httpd's PidFile (optional; e.g. /run/apache2/apache2.pid):
#               the process it names must be alive, which fails at once
#               when httpd died, without waiting for a connect timeout
#
# The page must answer 200 within 1 s (curl -f: a 4xx or 5xx is a failure).
# A node whose check fails leaves the MASTER state (keepalived's FAULT
# state, or a lower priority with "weight" in the vrrp_script), and the
# virtual IP moves to the other balancer.  Needs: sh, curl.

url=${1:-http://127.0.0.1/lbfarm-status?format=text}
pidfile=${2:-}

if [ -n "$pidfile" ]; then
    pid=$(cat "$pidfile" 2>/dev/null) || exit 1
    case $pid in
        '' | *[!0-9]*) exit 1 ;;
    esac
    kill -0 "$pid" 2>/dev/null || exit 1
fi
exec curl -fsS -o /dev/null --max-time 1 "$url"
