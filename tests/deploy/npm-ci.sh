#!/usr/bin/env bash
# Installs the validator's npm packages (package-lock.json, exact versions)
# into DIR/node_modules, outside the source tree; again only when the lock
# file changed. Exit 77 (ctest: skipped) without node and npm.
#   tests/deploy/npm-ci.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: npm-ci.sh DIR}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "npm-ci: node/npm not installed: skipping the manifest validation" >&2
    exit 77
fi
mkdir -p "$dir"
if [ -d "$dir/node_modules" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
    echo "npm-ci: $dir is up to date"
    exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dir/"
cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
echo "npm-ci: installed into $dir/node_modules"
