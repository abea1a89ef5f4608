#!/usr/bin/env bash
# Runs one real backup of the embedded example tree (examples/data) into ./archive.
# On a fresh checkout it first installs what it needs: Node 24 when the machine's node is
# older (.ci/node.sh, into .cache/node24) and the npm dependencies (npm ci --omit=dev).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/node.sh
major=$(node --version 2>/dev/null | sed 's/^v\([0-9]*\).*/\1/' || :)
if [ "${major:-0}" -lt 24 ] 2>/dev/null || [ -z "$major" ]; then
  echo "example: Node.js 24 is needed and could not be installed (see above)" >&2; exit 1
fi
if ! npm ls --omit=dev --depth=0 >/dev/null 2>&1; then
  echo "installing the npm dependencies (npm ci --omit=dev)" >&2
  npm ci --omit=dev --no-audit --no-fund --loglevel=error
fi
mkdir -p archive
export BACKUP_SOURCES="$PWD/examples/data/app" BACKUP_ARCHIVE="$PWD/archive" OFFSITE_CONF_DIR="$PWD/examples/no-conf.d"
mkdir -p "$OFFSITE_CONF_DIR"
bin/offsite backup
echo "archives in ./archive:"; ls -l archive
