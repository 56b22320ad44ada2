#!/usr/bin/env bash
# The validator must fail on the mistakes it exists to catch: each case breaks
# one thing in a copy of k8s/ and expects validate.mjs to exit 1 naming it.
#   tests/deploy/validate-rejects.sh NPM_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=${1:?usage: validate-rejects.sh NPM_DIR}
for t in node kubectl; do
    command -v "$t" >/dev/null || { echo "rejects: $t not installed: skipping" >&2; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 n=0

# case NAME FILE SED_EXPR EXPECTED_MESSAGE [--complete|--hpa|--observability]
# (--observability: the graph with the observability components, as
# validate-observability.sh checks it)
case_() {
    local name=$1 file=$2 expr=$3 want=$4 opt=${5:-}
    n=$((n + 1))
    rm -rf "$tmp/k8s" && cp -r "$here/../../k8s" "$tmp/k8s"
    sed -i "$expr" "$tmp/k8s/$file"
    if cmp -s "$here/../../k8s/$file" "$tmp/k8s/$file"; then
        echo "FAIL $name: the edit '$expr' changed nothing in $file"; failures=$((failures + 1)); return
    fi
    local target=$tmp/k8s/overlays/transcode
    case $opt in --complete | --observability) target=$tmp/k8s/graph ;; esac
    [ "$opt" != --observability ] || opt="--complete --observability"
    set +e
    out=$(node "$here/validate.mjs" --modules "$npm_dir" $opt "$target" 2>&1)
    rc=$?
    set -e
    if [ $rc -eq 1 ] && grep -qF -- "$want" <<<"$out"; then
        echo "ok   $name"
    else
        echo "FAIL $name: rc=$rc, want 1 and '$want' in:"; echo "$out" | sed 's/^/    /'
        failures=$((failures + 1))
    fi
}

case_ typo-field base/deployment.yaml 's/revisionHistoryLimit/revisionHistoryLimt/' 'unknown field /spec/revisionHistoryLimt'
case_ wrong-type overlays/transcode/pubsub.yaml 's/maxDeliveryAttempts: 10/maxDeliveryAttempts: "10"/' 'maxDeliveryAttempts must be integer'
case_ short-grace base/deployment.yaml 's/terminationGracePeriodSeconds: 120/terminationGracePeriodSeconds: 30/' 'must exceed runtime.shutdown_grace_s'
case_ readiness-path base/deployment.yaml 's|path: /readyz|path: /healthz|' 'readinessProbe must GET /readyz'
case_ writable-root base/deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' 'readOnlyRootFilesystem'
case_ temp-dir overlays/transcode/job.json 's|"temp_dir": "/tmp"|"temp_dir": "/scratch"|' 'no emptyDir mounted at runtime.temp_dir /scratch'
case_ keda-removed-field base/keda.yaml 's/      mode: SubscriptionSize/      subscriptionSize: "5"/' 'subscriptionSize was removed'
case_ keda-other-sub overlays/transcode/scaling.yaml 's/value: transcode/value: transcod/' "scales on subscription 'transcod'"
case_ config-key overlays/transcode/job.json 's/"workers"/"wrokers"/' 'unknown key /runtime/wrokers'
case_ config-enum overlays/transcode/job.json 's/"format": "flac"/"format": "aiff"/' "steps.format 'aiff'"
case_ undeclared-topic overlays/transcode/job.json 's|topics/transcode-done|topics/transcode-finished|' "topic 'transcode-finished' of the job config is not declared"
case_ graph-dangling-ref overlays/downsample-16k/pubsub.yaml 's/name: transcode-done/name: transcode-finished/' "topicRef 'transcode-finished' is not a PubSubTopic" --complete
case_ netpol-port base/networkpolicy.yaml 's/    - port: http/    - port: 9090/' "admits port 9090, not the config's listen port 8080"
case_ netpol-open base/networkpolicy.yaml 's/^  ingress:$/  ingress:\n  - {}/' 'admits every source'
case_ netpol-selector base/networkpolicy.yaml 's|app.kubernetes.io/component: worker|app.kubernetes.io/component: workers|' 'no NetworkPolicy isolates its pods'
case_ hpa-selector overlays/transcode/scaling-hpa.yaml 's/value: transcode/value: nope/' "metric selects subscription 'nope'" --hpa

# components/observability and observability-prometheus-operator (needs promtool).
if command -v promtool >/dev/null; then
    d=components/observability/wiggly-dashboard.json
    r=components/observability/rules-gmp.yaml
    case_ obs-rule-promql $r 's/> 0.01/> > 0.01/' 'Rules/wiggly: promtool check rules failed' --observability
    case_ obs-rule-scope $r 's/increase(kube_pod_container_status_restarts_total/increase(pubsub_googleapis_com:subscription_num_undelivered_messages/' 'Cloud Monitoring metrics need GlobalRules' --observability
    case_ obs-rule-severity components/observability-prometheus-operator/prometheusrule.yaml 's/severity: critical/severity: page/' 'needs labels.severity' --observability
    case_ obs-dashboard-promql $d 's/histogram_quantile(0.5,/histogram_quantile(0.5/' 'dashboard wiggly-dashboard.json' --observability
    case_ obs-series-typo $d 's/wiggly_worker_queue_depth/wiggly_worker_queue/' 'wiggly_worker_queue is not a series the service exports' --observability
    case_ obs-datasource-var $d 's/"query": "prometheus"/"query": "loki"/' 'needs a variable datasource' --observability
    case_ obs-datasource-string $d '/"id": 2,/,/"datasource": {/s/"datasource": {/"datasource": "Prometheus", "x": {/' 'datasource is a string' --observability
    case_ obs-grid $d 's/"w": 24/"w": 25/' 'outside the 24-column grid' --observability
    case_ obs-schema-version $d 's/"schemaVersion": 42/"schemaVersion": 41/' 'no checker for schemaVersion 41' --observability
    case_ obs-grafana-type $d 's/"graphTooltip": 1/"graphTooltip": "shared"/' 'not a Dashboard of @grafana/schema' --observability
    case_ obs-undefined-var $d 's/wiggly_job=~\\"$job\\"/wiggly_job=~\\"$jobs\\"/' '$jobs is used but not defined' --observability
else
    echo "rejects: promtool not installed: the observability cases are skipped" >&2
fi

echo "$((n - failures)) passed, $failures failed"
[ $failures -eq 0 ]
