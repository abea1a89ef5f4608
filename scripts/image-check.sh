#!/usr/bin/env bash
# Performs the Dockerfile's build and start steps outside Docker (no engine runs
# on these machines) and checks the result: the esbuild bundle alone (no node_modules
# anywhere above it), its compile cache filled (every file of the bundle loads), the
# `offsite` command on PATH, a real backup (gz, zst, encrypted, with a restore), the
# daemon's health check and a clean SIGTERM. CI runs this through test/docker/image.test.ts.
# With --static it only checks the files (Dockerfile, .dockerignore, compose.example.yml).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

# The Dockerfile must still do what this script mirrors.
for step in 'COPY package.json package-lock.json ./' 'RUN npm ci --no-audit' 'COPY src ./src' 'COPY scripts/bundle.ts ./scripts/bundle.ts' \
            'RUN npm run bundle -- /build/dist' 'COPY --from=bundle /build/dist ./dist' \
            'ln -s /opt/offsite/dist/offsite.mjs /usr/local/bin/offsite' 'ln -s /opt/offsite/dist/offsite.mjs /usr/local/bin/backup' 'CMD \["offsite", "daemon"\]' \
            'HEALTHCHECK' 'FROM node:24' 'NODE_COMPILE_CACHE=' 'UV_THREADPOOL_SIZE=8' 'NODE_OPTIONS=--max-semi-space-size=1' 'MALLOC_ARENA_MAX=1' 'RUN node dist/warm-compile-cache.mjs'; do
  grep -q "$step" "$repo/Dockerfile" || { echo "Dockerfile no longer contains: $step (update scripts/image-check.sh)"; exit 1; }
done

# /archive and /backup are mount points, never made by the image (see the Dockerfile's comment).
if grep -E '^[^#]*mkdir[^#]*[[:space:]]/(archive|backup)([[:space:]]|$)' "$repo/Dockerfile"; then
  echo "Dockerfile creates /archive or /backup: the local destination would always be on and an unmounted source would back up nothing"; exit 1
fi

# The build context leaves out what the image does not need, and keeps what it copies.
[ -f "$repo/.dockerignore" ] || { echo ".dockerignore is missing: the build context would carry node_modules and .cache"; exit 1; }
ignored() { grep -v '^[[:space:]]*#' "$repo/.dockerignore" | sed -e 's/[[:space:]]*$//' -e 's|^/||' -e 's|^\*\*/||' -e 's|/$||' | grep -qxF "$1"; }
for p in node_modules .cache .git; do
  ignored "$p" || { echo ".dockerignore does not exclude $p"; exit 1; }
done
for p in package.json package-lock.json src scripts/bundle.ts; do
  ! ignored "$p" && ! ignored '*' || { echo ".dockerignore excludes $p, which the Dockerfile copies"; exit 1; }
done
# compose.example.yml builds every offsite image it runs (`up -d` works from a checkout)
awk '/^  [A-Za-z0-9_.-]+:[[:space:]]*$/ { svc = $1; sub(/:$/, "", svc) }
     /^    build:/ { built[svc] = 1 }
     /^    image:[[:space:]]*offsite/ { uses[svc] = 1 }
     END { n = 0; for (s in uses) { n++; if (!built[s]) { print "compose.example.yml: service " s " runs offsite without build:"; bad = 1 } }
           if (n == 0) { print "compose.example.yml: no service runs the offsite image"; bad = 1 }
           exit bad }' "$repo/compose.example.yml"
if [ "${1:-}" = --static ]; then echo "image-check (static): ok"; exit 0; fi

source "$repo/.ci/node.sh"
work="$(mktemp -d)"
trap 'kill "${daemon_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

app="$work/opt/offsite"; bin="$work/bin"
mkdir -p "$app" "$bin" "$work/backup/data/sub" "$work/archive"
# the bundle stage: its `npm ci` is the one CI (or a developer) already ran in this checkout
(cd "$repo" && node scripts/bundle.ts "$work/build/dist")
# the image: the bundle alone, no package.json, no node_modules above it (a bundle that still
# needed a package from node_modules fails below)
cp -r "$work/build/dist" "$app/dist"
for d in "$app" "$app/.." "$work" "$(dirname "$work")"; do
  [ ! -e "$d/node_modules" ] && [ ! -e "$d/package.json" ] || { echo "$d/node_modules or package.json exists: the bundle would not be checked alone"; exit 1; }
done
ln -s "$app/dist/offsite.mjs" "$bin/offsite" && ln -s "$app/dist/offsite.mjs" "$bin/backup"
export PATH="$bin:$PATH" NODE_ENV=production NODE_COMPILE_CACHE="$work/node-compile" UV_THREADPOOL_SIZE=8 NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=1
(cd "$app" && node dist/warm-compile-cache.mjs) || { echo "dist/warm-compile-cache.mjs: a file of the bundle does not load"; exit 1; }
[ -n "$(ls -A "$work/node-compile" 2>/dev/null)" ] || { echo "dist/warm-compile-cache.mjs did not fill NODE_COMPILE_CACHE"; exit 1; }
cd "$work"

echo hello > "$work/backup/data/a.txt"; echo world > "$work/backup/data/sub/b.txt"
export BACKUP_SOURCES="$work/backup/data" BACKUP_ARCHIVE="$work/archive" OFFSITE_CONF_DIR="$work/conf.d" \
       OFFSITE_LOCK_FILE="$work/offsite.lock" OFFSITE_HEALTH_FILE="$work/health.json" LOG_FORMAT=json
mkdir -p "$OFFSITE_CONF_DIR"

[ "$(offsite --version)" = "$(node -p "require('$repo/package.json').version")" ] || { echo "offsite --version from the bundle does not print package.json's version"; offsite --version; exit 1; }
offsite version
offsite config >/dev/null
# offen's command names: `backup print-config`, and `backup` runs every job now
printed=$(backup print-config)
grep -q '^source=from environment$' <<<"$printed" || { echo "backup print-config did not print the source"; echo "$printed"; exit 1; }
# BACKUP_EXCLUDE_REGEXP: re2js from its own bundle file, in the archive worker
echo skip > "$work/backup/data/c.skip"
BACKUP_EXCLUDE_REGEXP='\.skip$' backup > "$work/backup.log"
archive=$(ls "$work/archive"/backup-*.tar.gz)
! tar -tzf "$archive" | grep -q 'c\.skip$' || { echo "BACKUP_EXCLUDE_REGEXP did not exclude c.skip"; tar -tzf "$archive"; exit 1; }
# offen's layout: each source under its path without the leading slash
entry="${BACKUP_SOURCES#/}/sub/b.txt"
tar -tzf "$archive" | grep -qxF "$entry" || { echo "archive lacks $entry"; tar -tzf "$archive"; exit 1; }
# the archive worker's own bundle file, zstd, and a library loaded on first use (openpgp) from its
# vendor file; then a restore of that archive
rm -f "$work/archive"/backup-*
BACKUP_COMPRESSION=zst GPG_PASSPHRASE=image-check-passphrase offsite backup > "$work/backup-gpg.log"
ls "$work/archive"/backup-*.tar.zst.gpg >/dev/null || { echo "no encrypted zst backup"; cat "$work/backup-gpg.log"; exit 1; }
GPG_PASSPHRASE=image-check-passphrase offsite restore latest --to "$work/restored" > "$work/restore.log" 2>&1 || { echo "restore failed"; cat "$work/restore.log"; exit 1; }
cmp "$work/restored/$entry" "$work/backup/data/sub/b.txt" || { echo "restored file differs"; exit 1; }

BACKUP_CRON_EXPRESSION='0 0 1 1 *' offsite daemon > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 50); do [ -f "$work/health.json" ] && break; sleep 0.2; done
offsite healthcheck || { echo "healthcheck failed"; cat "$work/daemon.log"; exit 1; }
kill -TERM "$daemon_pid"
set +e; wait "$daemon_pid"; code=$?; set -e
[ "$code" = 0 ] || { echo "daemon exited $code after SIGTERM"; cat "$work/daemon.log"; exit 1; }
grep -q '"job scheduled"' "$work/daemon.log" || { echo "daemon did not log its schedule"; cat "$work/daemon.log"; exit 1; }
[ -n "$(ls -A "$work/node-compile" 2>/dev/null)" ] || { echo "NODE_COMPILE_CACHE was not populated"; exit 1; }
echo "image-check: ok"
