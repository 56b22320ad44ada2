#!/usr/bin/env bash
# Renders every kustomization under k8s/ with kubectl kustomize and validates
# the objects offline (validate.mjs): the base, every job overlay with KEDA
# and with the HPA component and with the GPU component, and the whole graph
# (cross-job refs resolved).
# Exit 77 (ctest: skipped) without node or kubectl.
#   tests/deploy/validate.sh NPM_DIR [K8S_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=${1:?usage: validate.sh NPM_DIR [K8S_DIR]}
k8s=$(cd "${2:-$here/../../k8s}" && pwd)
for t in node kubectl; do
    command -v "$t" >/dev/null || { echo "validate: $t not installed: skipping" >&2; exit 77; }
done
[ -d "$npm_dir/node_modules" ] || { echo "validate: run tests/deploy/npm-ci.sh $npm_dir first" >&2; exit 1; }
overlays=("$k8s"/overlays/*/)
node "$here/validate.mjs" --modules "$npm_dir" --hpa --gpu "$k8s/base" "${overlays[@]}"
node "$here/validate.mjs" --modules "$npm_dir" --complete "$k8s/graph"
