#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian/Ubuntu machine: redis-server
# (the integration and end-to-end tests start their own on loopback ports).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server (apt-get)…"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
  # Debian starts a system redis on :6379; the tests do not use it.
else
  echo "redis-server is missing and apt-get is not available: install redis-server (7.x) and rerun" >&2
  exit 1
fi
command -v redis-server >/dev/null
