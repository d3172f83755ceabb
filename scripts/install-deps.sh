#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian/Ubuntu machine: redis-server
# (the integration and end-to-end tests start their own on loopback ports) and
# rsyslog (the syslog-drain interoperability test runs rsyslogd in the foreground
# on a loopback port; the system's rsyslog service is not used).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 &&
   { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; }; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server and rsyslog (apt-get)…"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools rsyslog >/dev/null
  # Debian starts a system redis on :6379; the tests do not use it.
else
  echo "redis-server or rsyslog is missing and apt-get is not available: install redis-server (7.x) and rsyslog, then rerun" >&2
  exit 1
fi
command -v redis-server >/dev/null
