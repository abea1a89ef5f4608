#!/usr/bin/env bash
# Debian packages the tests use as real peers and cross-checks. Idempotent.
set -euo pipefail
need=()
for p in openssh-server apache2 apache2-utils age pigz zstd gnupg postgresql tar gzip openssl util-linux bsdutils passwd sshfs mosquitto prometheus prometheus-pushgateway chromium tinyproxy haproxy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing Debian packages (need root to install): ${need[*]}" >&2; exit 1; fi
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p /run/sshd 2>/dev/null || true
