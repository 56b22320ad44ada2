#!/usr/bin/env bash
# Acceptance: the official gcloud CLI against wiggly-gcs-emulator. Copies a
# 20 MB random file up (resumable upload) and down byte-identically, lists,
# cats and removes objects. Exits 77 (ctest SKIP_RETURN_CODE) without gcloud.
#   tests/emulator_gcloud.sh /path/to/wiggly-gcs-emulator
set -euo pipefail
emu=${1:?usage: emulator_gcloud.sh EMULATOR_BINARY}
if ! command -v gcloud >/dev/null 2>&1; then
    echo "SKIP: gcloud is not installed; the gcloud acceptance test needs the official CLI"
    exit 77
fi
work=$(mktemp -d /tmp/wiggly-gcloud-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$emu" --root "$work/root" --port 0 --log "$work/requests.log" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^wiggly-gcs-emulator listening on //p' "$work/out" | head -1)
[ -n "$url" ] || { echo "emulator did not start"; cat "$work/err"; exit 1; }

# An isolated gcloud: scratch config, no credentials, no prompts/reporting.
export CLOUDSDK_CONFIG="$work/gcloud"
export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1
export CLOUDSDK_AUTH_DISABLE_CREDENTIALS=True
export CLOUDSDK_CORE_PROJECT=p
export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE="$url/"
g() { timeout 180 gcloud "$@"; }

curl -sf -X POST -H 'Content-Type: application/json' -d '{"name":"bkt"}' \
    "$url/storage/v1/b?project=p" >/dev/null

head -c 20000000 /dev/urandom >"$work/big.bin"
printf 'hello from gcloud\n' >"$work/small.txt"
g storage cp "$work/big.bin" gs://bkt/dir/big.bin
g storage cp "$work/small.txt" "gs://bkt/dir/a b/small.txt"
g storage cp gs://bkt/dir/big.bin "$work/big.down"
cmp "$work/big.bin" "$work/big.down"
echo "20 MB round trip: identical"

ls_out=$(g storage ls gs://bkt/dir/)
echo "$ls_out"
grep -qx 'gs://bkt/dir/big.bin' <<<"$ls_out"
grep -qx 'gs://bkt/dir/a b/' <<<"$ls_out"
[ "$(g storage cat "gs://bkt/dir/a b/small.txt")" = "hello from gcloud" ]
g storage ls -l 'gs://bkt/**' | grep -q '20000000'

# A no-clobber copy onto an existing object must not overwrite it.
g storage cp --no-clobber "$work/small.txt" gs://bkt/dir/big.bin || true
g storage cp gs://bkt/dir/big.bin "$work/big.again"
cmp "$work/big.bin" "$work/big.again"

g storage rm gs://bkt/dir/big.bin "gs://bkt/dir/a b/small.txt"
[ -z "$(g storage ls 'gs://bkt/**' 2>/dev/null || true)" ]

# gcloud took the resumable path for the big file.
grep -q 'uploadType=resumable' "$work/requests.log"
grep -q '^PUT .*upload_id=.* 200 ' "$work/requests.log"
echo "requests gcloud sent:"
cut -d' ' -f1-3 "$work/requests.log"

# The emulator exits 0 on SIGTERM (and, in a sanitizer build, without reports).
kill "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" -ne 0 ] || grep -q 'Sanitizer' "$work/err"; then
    echo "emulator exited with status $status"
    cat "$work/err"
    exit 1
fi
