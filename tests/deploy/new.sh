#!/usr/bin/env bash
# `wiggly new` end to end: scaffold a root job, a child and a grandchild into
# a temporary project (with a copy of k8s/base and k8s/components), and a
# transform job (--transform python) with a copy of sdk/python; render each
# overlay with kubectl kustomize and validate it (validate.mjs, also with the
# HPA and the GPU components), run the scaffolded transform.py through the
# SDK driver (tests/support/tf_driver.py) on a 1 kHz tone, then check the
# refusals: existing files, bad names.
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

# A transform job: its files, its config, its images.
mkdir -p "$d/sdk/python" && cp "$here/../../sdk/python/wiggly_transform.py" "$d/sdk/python/"
"$wiggly" new --help | grep -q -- '--transform python' || fail "--help does not mention --transform"
"$wiggly" new centroid --transform python --parent resample-22k --dir "$d" >"$tmp/new.out"
grep -q "wrote $d/transforms/centroid/Dockerfile.cuda" "$tmp/new.out" || fail "no Dockerfile.cuda written: $(cat "$tmp/new.out")"
grep -q 'note: .*sdk/python' "$tmp/new.out" && fail "the sdk note printed although $d/sdk/python is there"
for f in transform.py Dockerfile Dockerfile.cuda; do
    [ -s "$d/transforms/centroid/$f" ] || fail "transforms/centroid/$f missing"
done
[ "$(json "$d/jobs/centroid.json" transform.command.0) $(json "$d/jobs/centroid.json" transform.command.1)" = \
  "python3 transforms/centroid/transform.py" ] ||
    fail "transform.command is not the scaffolded transform.py"
[ "$(json "$d/jobs/centroid.json" transform.workers)" = 1 ] || fail "transform.workers is not 1"
[ "$(json "$d/jobs/centroid.json" transform.outputs.centroid)" = .centroid.npy ] || fail "transform.outputs lacks centroid"
[ -z "$(json "$d/jobs/centroid.json" output.suffix)" ] || fail "a transform job should write no encoded audio"
[ "$(json "$d/jobs/centroid.json" input.location)" = 'gs://${BUCKET}/resample-22k/' ] || fail "--parent not used with --transform"
grep -q 'newName: wiggly-centroid' "$d/k8s/overlays/centroid/kustomization.yaml" || fail "the overlay does not use the transform's image"
# The Dockerfiles, statically: built on the wiggly image (whose binary is at
# the path the CUDA variant copies), everything they COPY is in the project,
# non-root at the end, the CUDA one a complete wiggly image of its own.
df=$d/transforms/centroid/Dockerfile
grep -q '^FROM ${WIGGLY_IMAGE}$' "$df" || fail "Dockerfile is not FROM the wiggly image"
grep -q '/usr/local/bin/wiggly' "$here/../../Dockerfile" || fail "wiggly's image no longer has /usr/local/bin/wiggly"
for f in "$df" "$df.cuda"; do
    [ "$(grep '^USER ' "$f" | tail -1)" = "USER 10001:10001" ] || fail "$f does not end as USER 10001:10001"
    grep -q '^WORKDIR /opt/wiggly$' "$f" || fail "$f: the config's relative paths need WORKDIR /opt/wiggly"
    while read -r src; do
        [ -e "$d/$src" ] || fail "$f copies $src, which the project does not have"
    done < <(awk '$1 == "COPY" && $2 !~ /^--from/ { print $2 }' "$f")
done
grep -q '^FROM ${CUDA_IMAGE}$' "$df.cuda" && grep -q 'ARG CUDA_IMAGE=nvidia/cuda:.*runtime' "$df.cuda" ||
    fail "Dockerfile.cuda is not FROM an nvidia/cuda runtime image"
grep -q '^COPY --from=wiggly /usr/local/bin/wiggly ' "$df.cuda" || fail "Dockerfile.cuda does not copy the wiggly binary"
grep -q '^ENTRYPOINT \["wiggly"\]$' "$df.cuda" || fail "Dockerfile.cuda: no ENTRYPOINT [\"wiggly\"]"
grep -q 'pip install.*torch' "$df.cuda" || fail "Dockerfile.cuda does not install torch"

# The scaffolded transform runs: one 1 kHz tone through the SDK driver, as
# wiggly would start it (from the project directory, the config's command,
# env, params and outputs), and its centroids are the tone's frequency.
py=""
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
    echo "new: no python3 with NumPy (python3-numpy): the scaffolded transform is not run" >&2
else
    (cd "$d" && "$py" "$here/../support/tf_driver.py" --job jobs/centroid.json --keep "$tmp/run") >"$tmp/run.out" 2>&1 ||
        fail "the scaffolded transform failed: $(cat "$tmp/run.out")"
    "$py" -c 'import json, sys, numpy as np
out = json.loads(sys.argv[2])
c = np.load(out["centroid"])
s = json.load(open(out["summary"]))
assert c.dtype == np.float32 and c.size == s["frames"] > 0, (c.dtype, c.size, s)
assert np.all(np.abs(c - 1000) < 10), (c.min(), c.max())' "$tmp/run" "$(sed -n 's/^outputs: //p' "$tmp/run.out")" || fail "wrong centroids from the scaffolded transform"
    echo "ok   the scaffolded transform.py ran: $(grep '^reply:' "$tmp/run.out")"
fi

if [ -n "$checker" ]; then # the transform job loads with the real config loader too
    GOOGLE_CLOUD_PROJECT=test-project BUCKET=test-bucket "$checker" "$d/jobs/centroid.json" "$d/k8s/overlays/centroid/job.json"
fi

# Render and validate every new overlay, with KEDA, with the HPA and with the GPU.
node "$here/validate.mjs" --modules "$npm_dir" --hpa --gpu "$d"/k8s/overlays/*/

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
expect_usage_error "the scaffold is for python only" okname --transform rust
expect_usage_error "--transform needs a value" okname --transform
[ ! -e "$d/k8s/overlays/okname" ] || fail "a refused run created files"
# A transform scaffold whose one file exists writes nothing at all.
mkdir -p "$d/transforms/partial" && echo keep >"$d/transforms/partial/Dockerfile"
set +e
out=$("$wiggly" new partial --transform python --dir "$d" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q 'transforms/partial/Dockerfile already exists' <<<"$out" || fail "clash not refused (rc=$rc): $out"
[ ! -e "$d/k8s/overlays/partial" ] && [ ! -e "$d/jobs/partial.json" ] && [ ! -e "$d/transforms/partial/transform.py" ] &&
    [ "$(cat "$d/transforms/partial/Dockerfile")" = keep ] || fail "a refused --transform run wrote files"
echo "new: all checks passed"
