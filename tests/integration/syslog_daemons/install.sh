#!/usr/bin/env bash
# Unpack rsyslog and syslog-ng (Debian packages) side by side into one directory, without installing
# them as system daemons: the two packages conflict in apt (both provide system-log-daemon), and the
# tests run each one in the foreground with its own config anyway. Their shared libraries come from apt.
#
#   bash tests/integration/syslog_daemons/install.sh [DEST]      (default /opt/logwarden-syslog-daemons)
#
# Needs root (apt-get) and a prior `apt-get update`. Idempotent.
set -euo pipefail
dest="${1:-/opt/logwarden-syslog-daemons}"
if [[ -x "$dest/usr/sbin/rsyslogd" && -x "$dest/usr/sbin/syslog-ng" ]]; then
  echo "syslog daemons already unpacked in $dest"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Runtime libraries of rsyslog (8.2302, bookworm) and syslog-ng-core (3.38); openssl for test certificates.
# Only the missing ones are installed, and nothing already on the host is upgraded (--no-upgrade).
needed=(
  libestr0 libfastjson4 liblognorm5 libuuid1 libzstd1 zlib1g libsystemd0
  libivykis0 libjson-c5 libnet1 libpcre3 libwrap0 libcap2 libglib2.0-0 libssl3
  bsdutils openssl
)
missing=()
for pkg in "${needed[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt-get install -y --no-install-recommends --no-upgrade "${missing[@]}"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download rsyslog syslog-ng-core)
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$dest"
done
"$dest/usr/sbin/rsyslogd" -v | head -1
LD_LIBRARY_PATH="$dest/usr/lib/syslog-ng:$dest/usr/lib/x86_64-linux-gnu" "$dest/usr/sbin/syslog-ng" -V | head -1
