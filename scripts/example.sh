#!/usr/bin/env bash
# Runs one real backup of the embedded example tree (examples/data) into ./archive.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/node.sh
mkdir -p archive
export BACKUP_SOURCES="$PWD/examples/data/app" BACKUP_ARCHIVE="$PWD/archive" OFFSITE_CONF_DIR="$PWD/examples/no-conf.d"
mkdir -p "$OFFSITE_CONF_DIR"
node src/cli.ts backup
echo "archives in ./archive:"; ls -l archive
