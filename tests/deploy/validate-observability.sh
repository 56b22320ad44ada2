#!/usr/bin/env bash
# Renders the graph with components/observability (Managed Prometheus) and
# with components/observability-prometheus-operator added, and checks what
# they ship (tests/deploy/observability.mjs): the rule objects, every PromQL
# expression of the rules and of the dashboard through promtool, and the
# Grafana dashboard against the schemaVersion it declares (a checker of the
# structure, and @grafana/schema's Dashboard type compiled with TypeScript).
# Exit 77 (ctest: skipped) without node, kubectl or promtool.
#   tests/deploy/validate-observability.sh NPM_DIR [K8S_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=${1:?usage: validate-observability.sh NPM_DIR [K8S_DIR]}
k8s=$(cd "${2:-$here/../../k8s}" && pwd)
for t in node kubectl promtool; do
    command -v "$t" >/dev/null || { echo "validate-observability: $t not installed: skipping" >&2; exit 77; }
done
[ -d "$npm_dir/node_modules" ] || { echo "validate-observability: run tests/deploy/npm-ci.sh $npm_dir first" >&2; exit 1; }
node "$here/validate.mjs" --modules "$npm_dir" --complete --observability "$k8s/graph"
