#!/usr/bin/env bash
# Static check of the Dockerfile (no Docker engine or hadolint here): a build
# stage on debian:bookworm and a runtime stage on debian:bookworm-slim, both
# installing through scripts/deps.sh, a non-root USER in the final stage,
# STOPSIGNAL SIGTERM, exec-form ENTRYPOINT ["wiggly"] and CMD running the
# mounted config, no job config baked in, and a .dockerignore that keeps
# build trees and .git out. tests/deploy/image-chroot.sh runs the recipe.
#   tests/deploy/check-dockerfile.sh [DOCKERFILE]
#   tests/deploy/check-dockerfile.sh --self-test   each broken copy must fail
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --self-test ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp "$here/../../.dockerignore" "$tmp/.dockerignore"
    bad=0
    for expr in 's/^ENTRYPOINT .*/ENTRYPOINT wiggly/' 's/^USER .*/USER root/' 's/^USER .*//' \
        's/^STOPSIGNAL .*/STOPSIGNAL SIGINT/' 's/^FROM debian:bookworm-slim/FROM debian:bookworm/' \
        's/--build-only//' 's|^CMD .*|CMD ["run", "-c", "/job.json"]|' \
        's|^COPY --from=build /out/wiggly|COPY job.json /etc/wiggly/job.json\nCOPY --from=build /out/wiggly|'; do
        sed "$expr" "$here/../../Dockerfile" >"$tmp/Dockerfile"
        if cmp -s "$tmp/Dockerfile" "$here/../../Dockerfile"; then
            echo "self-test: '$expr' changed nothing" >&2; bad=$((bad + 1))
        elif "$0" "$tmp/Dockerfile" >/dev/null 2>&1; then
            echo "self-test: the check accepted a Dockerfile broken by '$expr'" >&2; bad=$((bad + 1))
        else
            echo "self-test: rejected '$expr'"
        fi
    done
    [ $bad -eq 0 ] || exit 1
    exec "$0"
fi
df=${1:-$here/../../Dockerfile}
ignore=$(dirname "$df")/.dockerignore
errors=0
err() { echo "check-dockerfile: $*" >&2; errors=$((errors + 1)); }

# Instructions with continuations joined and comments dropped.
ins=$(sed -e 's/^[[:space:]]*#.*$//' "$df" | awk '
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, ""); buf = buf $0 " "; next }
    { line = buf $0; buf = ""; if (line ~ /[^[:space:]]/) print line }')
froms=$(grep -ciE '^FROM ' <<<"$ins" || true)
[ "$froms" -ge 2 ] || err "want a multi-stage build (>= 2 FROM), found $froms"
grep -qiE '^FROM +debian:bookworm +AS +[a-z]+' <<<"$ins" || err "no build stage FROM debian:bookworm AS NAME"
last_from=$(grep -iE '^FROM ' <<<"$ins" | tail -1)
grep -qiE '^FROM +debian:bookworm-slim( |$)' <<<"$last_from" || err "final stage is not debian:bookworm-slim: $last_from"
grep -qE '^RUN .*scripts/deps\.sh --build-only' <<<"$ins" || err "build stage must install with scripts/deps.sh --build-only"
grep -qE '^RUN .*cmake .*-DCMAKE_BUILD_TYPE=Release' <<<"$ins" || err "build must be a cmake Release build"
final=$(awk 'BEGIN{IGNORECASE=1} /^FROM /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' <<<"$ins")
grep -qE '^RUN .*deps\.sh --runtime' <<<"$final" || err "runtime stage must install with deps.sh --runtime"
grep -qE '^COPY --from=[a-z]+ ' <<<"$final" || err "runtime stage must COPY the binary --from the build stage"
if grep -qE '^(RUN|COPY) .*(cmake|build-essential|gcc)' <<<"$final"; then err "runtime stage compiles or installs a compiler"; fi
user=$(grep -E '^USER ' <<<"$final" | tail -1 | awk '{print $2}')
[ -n "$user" ] || err "final stage sets no USER"
case "${user%%:*}" in
'' | 0 | root) err "final stage USER '$user' is root" ;;
*[!0-9]*) err "USER '$user' should be numeric (runAsNonRoot can only verify a numeric uid)" ;;
esac
grep -qE '^STOPSIGNAL +SIGTERM$' <<<"$final" || err "want STOPSIGNAL SIGTERM"
grep -qE '^ENTRYPOINT +\[ *"wiggly" *\]$' <<<"$final" ||
    err "want exec-form ENTRYPOINT [\"wiggly\"] (shell form would make /bin/sh PID 1 and swallow SIGTERM)"
grep -qE '^CMD +\[ *"run" *, *"-c" *, *"/etc/wiggly/job\.json" *\]$' <<<"$final" ||
    err "want CMD [\"run\", \"-c\", \"/etc/wiggly/job.json\"]"
if grep -qE '^(COPY|ADD) .*(/etc/wiggly|job\.json)' <<<"$ins"; then err "a job config is baked into the image; mount it"; fi
if grep -qiE '^ADD ' <<<"$ins"; then err "use COPY, not ADD"; fi
if [ -f "$ignore" ]; then
    for p in .git 'build*/'; do grep -qxF "$p" "$ignore" || err ".dockerignore lacks $p"; done
else
    err "no .dockerignore next to $df"
fi
if [ $errors -gt 0 ]; then
    echo "check-dockerfile: $errors problem(s) in $df" >&2
    exit 1
fi
echo "check-dockerfile: $df ok (stages: $froms, USER $user, STOPSIGNAL SIGTERM, exec-form ENTRYPOINT)"
