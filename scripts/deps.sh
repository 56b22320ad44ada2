#!/usr/bin/env bash
# Installs every Debian package wiggly needs to build, test and run, and only
# the ones that are missing. Idempotent: a second run installs nothing.
#   scripts/deps.sh            build + runtime + test packages
#   scripts/deps.sh --runtime  only the shared libraries the binary links
#   scripts/deps.sh --build-only  runtime + build packages, no test packages
#                              (no Java, clang, gcloud): the image's build stage
set -euo pipefail

runtime=(libsndfile1 libsoxr0 libev4 libjansson4 libcurl4 libmicrohttpd12
         libebur128-1 libkissfft-float131 libchromaprint1 libaubio5 libpng16-16
         libssl3 ca-certificates libavformat59 libavcodec59 libavutil57
         libmpg123-0 libopus0)
build=(build-essential cmake pkg-config git
       libsndfile1-dev libsoxr-dev libev-dev libjansson-dev libcurl4-openssl-dev
       libmicrohttpd-dev libebur128-dev libkissfft-dev libchromaprint-dev libaubio-dev
       libpng-dev libssl-dev libcmocka-dev libavformat-dev libavcodec-dev libavutil-dev
       libmpg123-dev libopus-dev)
# Tests: a JRE for the official Pub/Sub emulator, clang + its runtime for
# the fuzzers and sanitizers, and curl for the shell-level checks; Python with
# NumPy for the transform SDK and its examples, and PyTorch (CPU) for the
# torch example (docs/transforms.md), and torchaudio as the reference of the
# analysis arrays (tests/analysis_ref.py); prometheus for promtool, which checks
# that every PromQL expression of the alert rules and the dashboard parses
# (tests/deploy/validate-observability.sh); fpcalc and the aubio command line
# as the references of the fingerprint and of tempo and onsets, pngcheck for
# the spectrogram pictures (tests/analysis2_ref.py). The ffmpeg command line
# makes the test files of the formats read through FFmpeg's libraries
# (docs/audio.md), and strace proves that a hostile input opens no other file.
test=(openjdk-17-jre-headless clang libclang-rt-14-dev curl python3
      python3-numpy python3-torch python3-torchaudio prometheus
      libchromaprint-tools aubio-tools pngcheck ffmpeg strace)

mode=${1:-all}
case "$mode" in
all | --runtime | --build-only) ;;
*) echo "usage: scripts/deps.sh [--runtime | --build-only]" >&2; exit 2 ;;
esac
want=("${runtime[@]}")
if [ "$mode" != "--runtime" ]; then want+=("${build[@]}"); fi
if [ "$mode" = all ]; then want+=("${test[@]}"); fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The deployment tests (tests/deploy/) render manifests with kubectl and
# validate them with node + npm packages; without them they report skipped.
# npm is installed only when missing as a command, because a Node.js from
# another repository (e.g. NodeSource) ships its own npm and conflicts with
# Debian's npm package.
if [ "$mode" = all ] && ! command -v npm >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# The official Pub/Sub emulator and gcloud come from Google's apt repository
# (packages google-cloud-cli and google-cloud-cli-pubsub-emulator), not from
# Debian. Install them when that repository is configured; otherwise say so:
# the tests that need them report themselves as skipped.
if [ "$mode" = all ]; then
    for p in google-cloud-cli google-cloud-cli-pubsub-emulator kubectl; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
                DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$p" >/dev/null
            else
                echo "deps: $p is not available (add Google's apt repository:" \
                     "https://cloud.google.com/sdk/docs/install#deb); its tests will be skipped" >&2
            fi
        fi
    done
fi
