#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian/Ubuntu machine: redis-server
# and redis-sentinel (the integration and end-to-end tests start their own on
# loopback ports) and
# rsyslog (the syslog-drain interoperability test runs rsyslogd in the foreground
# on a loopback port; the system's rsyslog service is not used). With CI set
# (any value) also haproxy, docker-compose and systemd (the deploy/ checkers) and
# prometheus (promtool, for the /metrics tests): those tests fail without them
# when CI is set (internal/testenv).
set -euo pipefail
# staticcheck, pinned: `make test` runs it and fails on any finding.
STATICCHECK_VERSION=v0.8.2
gobin="$(go env GOPATH)/bin"
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "installing staticcheck $STATICCHECK_VERSION (go install)…"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
# Checkers of deploy/ (docker-compose config, haproxy -c, systemd-analyze verify)
# and of /metrics (promtool, from the prometheus package): installed when CI is
# set, where the tests that run them fail without them; elsewhere they skip.
if [ -n "${CI+set}" ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
  command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
  command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
  { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } || missing="$missing docker-compose"
  if [ -n "$missing" ]; then
    echo "installing$missing for the deploy/ checks (apt-get)…"
    apt_install $missing || echo "could not install$missing; the deploy tests that run them will fail" >&2
  fi
fi
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 &&
   command -v redis-sentinel >/dev/null 2>&1 &&
   { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; }; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server, redis-sentinel and rsyslog (apt-get)…"
  apt_install redis-server redis-tools redis-sentinel rsyslog
  # Debian starts a system redis on :6379 and a sentinel on :26379; the tests use neither.
else
  echo "redis-server, redis-sentinel or rsyslog is missing and apt-get is not available: install redis-server (7.x), redis-sentinel and rsyslog, then rerun" >&2
  exit 1
fi
command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null
