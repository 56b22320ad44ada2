#!/usr/bin/env bash
# `wiggly new` end to end: scaffold a root job, a child and a grandchild into
# a temporary project (with a copy of k8s/base and k8s/components), render
# each overlay with kubectl kustomize and validate it (validate.mjs, also with
# the HPA component), then check the refusals: existing files, bad names.
#   tests/deploy/new.sh WIGGLY NPM_DIR [CONFIG_CHECKER]
# CONFIG_CHECKER (test_deploy_configs) loads the new configs with the real
# config loader.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wiggly=${1:?usage: new.sh WIGGLY NPM_DIR}
npm_dir=${2:?usage: new.sh WIGGLY NPM_DIR}
checker=${3:-}
for t in node kubectl; do
    command -v "$t" >/dev/null || { echo "new: $t not installed: skipping" >&2; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "new: FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/proj/k8s"
cp -r "$here/../../k8s/base" "$here/../../k8s/components" "$tmp/proj/k8s/"
d=$tmp/proj

"$wiggly" new --help | grep -q 'usage: wiggly new NAME' || fail "--help prints no usage"
"$wiggly" new ingest --dir "$d" --project my-project-1 --bucket audio-lake
"$wiggly" new resample-22k --parent ingest --dir "$d"
"$wiggly" new tempo --parent resample-22k --dir "$d" --bucket audio-lake

# The files, the symlink, and the wiring between the three jobs.
for f in job.json kustomization.yaml pubsub.yaml scaling.yaml scaling-hpa.yaml; do
    [ -s "$d/k8s/overlays/tempo/$f" ] || fail "k8s/overlays/tempo/$f missing"
done
[ -L "$d/jobs/tempo.json" ] && cmp -s "$d/jobs/tempo.json" "$d/k8s/overlays/tempo/job.json" ||
    fail "jobs/tempo.json is not a link to the overlay's job.json"
json() { node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    console.log(process.argv[2].split(".").reduce((o,k)=>o?.[k],c) ?? "")' "$@"; }
[ "$(json "$d/jobs/ingest.json" project)" = my-project-1 ] || fail "--project not used"
[ "$(json "$d/jobs/ingest.json" output.location)" = gs://audio-lake/ingest/ ] || fail "--bucket not used"
[ "$(json "$d/jobs/resample-22k.json" parent.topic)" = 'projects/${GOOGLE_CLOUD_PROJECT}/topics/ingest' ] ||
    fail "a root parent's input topic should be its own topic"
[ "$(json "$d/jobs/resample-22k.json" input.location)" = gs://audio-lake/ingest/ ] ||
    fail "the child's input should be the parent's output location (read from jobs/ingest.json)"
[ "$(json "$d/jobs/tempo.json" parent.topic)" = 'projects/${GOOGLE_CLOUD_PROJECT}/topics/ingest-done' ] ||
    fail "a child parent's input topic should be the grandparent's -done topic"
grep -q 'name: resample-22k-done' "$d/k8s/overlays/tempo/pubsub.yaml" || fail "tempo does not subscribe to resample-22k-done"
# Without jobs/PARENT.json the parent's overlay is read instead.
mkdir -p "$tmp/other/k8s" && cp -r "$d/k8s/overlays" "$tmp/other/k8s/"
"$wiggly" new beat --parent resample-22k --dir "$tmp/other" >/dev/null
[ "$(json "$tmp/other/jobs/beat.json" parent.topic)" = 'projects/${GOOGLE_CLOUD_PROJECT}/topics/ingest-done' ] ||
    fail "the parent's config was not read from its overlay"

if [ -n "$checker" ]; then
    GOOGLE_CLOUD_PROJECT=test-project BUCKET=test-bucket "$checker" "$d"/jobs/*.json "$d"/k8s/overlays/*/job.json
fi

# Render and validate every new overlay, with KEDA and with the HPA.
node "$here/validate.mjs" --modules "$npm_dir" --hpa "$d"/k8s/overlays/*/

# A graph of the three validates as a whole (every topicRef resolves).
mkdir -p "$d/k8s/graph"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: t\nresources:\n- ../overlays/ingest\n- ../overlays/resample-22k\n- ../overlays/tempo\n' >"$d/k8s/graph/kustomization.yaml"
node "$here/validate.mjs" --modules "$npm_dir" --complete "$d/k8s/graph"

# Refusals: nothing is overwritten, bad names are named precisely.
sum=$(cat "$d"/k8s/overlays/tempo/* | cksum)
set +e
out=$("$wiggly" new tempo --parent resample-22k --dir "$d" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q 'already exists; not overwriting' <<<"$out" || fail "overwrite not refused (rc=$rc): $out"
[ "$(cat "$d"/k8s/overlays/tempo/* | cksum)" = "$sum" ] || fail "a refused run changed files"
expect_usage_error() { # message args...
    local want=$1; shift
    set +e; out=$("$wiggly" new "$@" --dir "$d" 2>&1); rc=$?; set -e
    [ $rc -eq 2 ] && grep -qF -- "$want" <<<"$out" || fail "wiggly new $*: rc=$rc, want 2 and '$want', got: $out"
    echo "ok   refused: wiggly new $*"
}
expect_usage_error "must start with a lowercase letter" Bad_Name
expect_usage_error "must be 3 to 40 characters" ab
expect_usage_error "character 4 is not one of" abc.d
expect_usage_error "must not end in '-'" abc-
expect_usage_error "cannot be its own parent" self --parent self
expect_usage_error "is not a GCP project ID" okname --project X
expect_usage_error "is not a bucket name" okname --bucket -b-
expect_usage_error "unknown option '--frobnicate'" okname --frobnicate
expect_usage_error "--parent needs a value" okname --parent
expect_usage_error "missing the job name" --parent ingest
[ ! -e "$d/k8s/overlays/okname" ] || fail "a refused run created files"
echo "new: all checks passed"
