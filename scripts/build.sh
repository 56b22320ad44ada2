#!/usr/bin/env bash
# Configure and build into a build directory.
#   scripts/build.sh [--sanitize]   -> build/ (or build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
flags=(-DWIGGLY_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    flags+=(-DWIGGLY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir"
