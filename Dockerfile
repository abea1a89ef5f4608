# offsite: the same Node 24 as a checkout. The image runs an esbuild bundle of the sources and
# their production dependencies (`npm run bundle`, scripts/bundle.ts): one directory of ES modules,
# no node_modules, about a tenth of `npm ci --omit=dev`. A checkout runs the .ts sources directly.
# scripts/image-check.sh performs these steps outside Docker and CI runs it.
FROM node:24-bookworm-slim AS bundle
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN npm run bundle -- /build/dist

FROM node:24-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/offsite
COPY --from=bundle /build/dist ./dist
RUN ln -s /opt/offsite/dist/offsite.mjs /usr/local/bin/offsite \
 && ln -s /opt/offsite/dist/offsite.mjs /usr/local/bin/backup \
 && mkdir -p /etc/dockervolumebackup/conf.d /var/lib/offsite
# No /archive and no /backup: they are mount points. An image-made /archive would turn the local
# destination on for everyone (filling the container's disk), and an image-made /backup would back up
# an empty directory when the volume mount is forgotten.

# NODE_COMPILE_CACHE: Node's compiled-code cache lowers start-up time and the memory of the
# main thread and the archive worker. UV_THREADPOOL_SIZE: room for parallel gzip next to file I/O.
# --max-semi-space-size=1 (MiB): V8's young generation stays small; streaming makes only
# short-lived garbage, so a larger one only holds more of it (measured: 12 MiB less peak memory
# for an uncompressed backup, 5 MiB for gz, 2 MiB for the idle daemon, no measurable CPU cost).
# MALLOC_ARENA_MAX=1: glibc gives every thread that allocates its own malloc arena; zstd's and
# zlib's contexts, used on libuv's pool threads, then leave freed memory in up to 8 arenas
# (measured: zst on 2 threads peaked at 140-146 MiB, 117 MiB with 2 arenas; one arena, measured
# again with 1 MiB zstd frames: zst on 2 threads 108.8 -> 107.5 MiB, gz on 2 threads 103.6 ->
# 102.0 MiB, CPU unchanged: the compressors allocate once per context, not per block).
ENV NODE_ENV=production NODE_COMPILE_CACHE=/var/cache/offsite/node-compile UV_THREADPOOL_SIZE=8 NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=1
# The compile cache is filled at build time (every file of the bundle is loaded once; a file that
# does not load fails the build): the first start of a new container compiles nothing again.
RUN node dist/warm-compile-cache.mjs
# Runs as root by default: it must read every file of the mounted volumes.
# To run as another user, see README "Running as a non-root user".
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["offsite", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["offsite", "daemon"]
