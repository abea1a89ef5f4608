# offsite: the same Node 24 and the same sources as a checkout; no build step.
# scripts/image-check.sh performs these steps outside Docker and CI runs it.
FROM node:24-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/offsite
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
RUN chmod +x src/cli.ts && ln -s /opt/offsite/src/cli.ts /usr/local/bin/offsite \
 && ln -s /opt/offsite/src/cli.ts /usr/local/bin/backup \
 && mkdir -p /etc/dockervolumebackup/conf.d /var/lib/offsite
# No /archive and no /backup: they are mount points. An image-made /archive would turn the local
# destination on for everyone (filling the container's disk), and an image-made /backup would back up
# an empty directory when the volume mount is forgotten.

# NODE_COMPILE_CACHE: Node's compiled-code cache lowers start-up time and the memory of the
# main thread and the archive worker. UV_THREADPOOL_SIZE: room for parallel gzip next to file I/O.
ENV NODE_ENV=production NODE_COMPILE_CACHE=/var/cache/offsite/node-compile UV_THREADPOOL_SIZE=8
# The compile cache is filled at build time (every source module and dependency): the first
# start of a new container neither type-strips the sources nor compiles the SDKs (faster, and
# about 17 MiB less memory for the daemon's whole life).
RUN node src/warm-compile-cache.ts
# Runs as root by default: it must read every file of the mounted volumes.
# To run as another user, see README "Running as a non-root user".
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["offsite", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["offsite", "daemon"]
