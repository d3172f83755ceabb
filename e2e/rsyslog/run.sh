#!/usr/bin/env bash
# Interop check: a syslog:// drain delivers 10 000 messages to Debian's
# rsyslogd (imtcp, octet-counted framing, RFC 5424 parser), which must parse
# every field right. Installs rsyslog when missing (Debian/Ubuntu, as root).
# The test itself is dataplane/drain/syslog_rsyslog_test.go; this script only
# makes sure rsyslogd is there and runs it with CI=true, so a missing daemon
# fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v rsyslogd >/dev/null 2>&1 && [ ! -x /usr/sbin/rsyslogd ]; then
  echo "== installing rsyslog"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsyslog
fi
CI=true go test -race -count=1 -run 'Rsyslog' -v ./dataplane/drain/
