#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian/Ubuntu machine: redis-server
# and redis-sentinel (the integration and end-to-end tests start their own on
# loopback ports) and
# rsyslog (the syslog-drain interoperability test runs rsyslogd in the foreground
# on a loopback port; the system's rsyslog service is not used). Under CI=true
# also haproxy and docker-compose, which the deploy/ tests use when present,
# and prometheus for promtool (the /metrics tests run `promtool check metrics`).
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
# Optional checkers of deploy/ (docker-compose config, haproxy -c) and of
# /metrics (promtool, from the prometheus package): installed under CI=true
# so those tests run there instead of falling back; a failure to install the
# deploy checkers is not fatal (the fallback tests still check the files),
# while the metrics tests fail under CI without promtool.
if [ "${CI:-}" = "true" ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
  command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
  { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } || missing="$missing docker-compose"
  if [ -n "$missing" ]; then
    echo "installing$missing for the deploy/ checks (apt-get)…"
    apt_install $missing || echo "could not install$missing; the deploy tests fall back to static checks" >&2
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
