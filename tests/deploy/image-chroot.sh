#!/usr/bin/env bash
# Proves the Dockerfile without a Docker engine: replays its instructions in
# fresh Debian 12 roots made by debootstrap, then runs the image's binary in
# the runtime root as the image's non-root user.
#
#   sudo tests/deploy/image-chroot.sh [--keep] [--dockerfile FILE]
#
# The Dockerfile is the only recipe: this script parses it (FROM, WORKDIR,
# COPY [--from=STAGE], RUN, ENV, USER, ENTRYPOINT, CMD; EXPOSE, STOPSIGNAL,
# LABEL and ARG are recorded or ignored) and fails on anything else, so the
# two cannot drift. Each FROM debian:bookworm[-slim] stage gets its own root,
# extracted from one `debootstrap --variant=minbase bookworm` tarball taken
# from the Debian mirror in /etc/apt/sources.list.d/debian.sources. The
# build context honours the simple .dockerignore patterns this project uses
# (NAME, NAME*/, **/NAME).
#
# Needs root (debootstrap, chroot, mount) and network access to the Debian
# mirror; installs debootstrap with apt-get when missing. Takes 10-20 min.
# Not part of ctest (too slow); the Dockerfile's static check is
# tests/deploy/check-dockerfile.sh.
#
# Environment:
#   WIGGLY_CHROOT_DIR    work directory [mktemp under /var/tmp]
#   WIGGLY_CHROOT_CACHE  directory to keep the debootstrap tarball between runs
#                        [none: debootstrap every time]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
dockerfile=$src/Dockerfile
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1 ;;
    --dockerfile) dockerfile=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "image-chroot: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[image-chroot %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

mirror=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

start=$(date +%s)
work=${WIGGLY_CHROOT_DIR:-$(mktemp -d /var/tmp/wiggly-image-chroot.XXXXXX)}
mkdir -p "$work"
mounts=()
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
    if [ "$keep" = 0 ]; then rm -rf --one-file-system "$work"; else log "kept $work"; fi
}
trap cleanup EXIT

# --- the base root, shared by every stage ---------------------------------
base_tar=${WIGGLY_CHROOT_CACHE:+$WIGGLY_CHROOT_CACHE/bookworm-minbase.tar}
base_tar=${base_tar:-$work/bookworm-minbase.tar}
if [ ! -s "$base_tar" ]; then
    log "debootstrap bookworm (minbase) from $mirror"
    mkdir -p "$(dirname "$base_tar")"
    rm -rf "$work/base"
    debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
    tar -C "$work/base" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
    rm -rf --one-file-system "$work/base"
fi

# --- the build context, filtered by .dockerignore -------------------------
excludes=()
if [ -f "$src/.dockerignore" ]; then
    while IFS= read -r pat; do
        pat=${pat%%#*}
        pat=$(echo "$pat" | sed 's/[[:space:]]*$//')
        [ -n "$pat" ] || continue
        pat=${pat%/}
        case "$pat" in
        '**/'*) excludes+=(--no-anchored "--exclude=${pat#\*\*/}") ;;
        *) excludes+=(--anchored "--exclude=./$pat") ;;
        esac
    done <"$src/.dockerignore"
fi
mkdir -p "$work/context"
tar -C "$src" "${excludes[@]}" -cf - . | tar -C "$work/context" -xf -

# --- Dockerfile interpreter -----------------------------------------------
declare -A stage_root=()
root="" cwd="/" user="" entrypoint=() cmd=() stopsignal="" envs=()

stage_start() { # image name
    local image=$1 name=$2
    case "$image" in
    debian:bookworm | debian:bookworm-slim) ;;
    *) die "FROM $image: only debian:bookworm and debian:bookworm-slim are modelled" ;;
    esac
    root=$work/stage-$name
    log "FROM $image AS $name -> $root"
    mkdir -p "$root"
    tar -C "$root" -xf "$base_tar"
    if [ "$image" = debian:bookworm-slim ]; then
        # The slim image drops documentation and locales; so does this root.
        rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc" && mounts+=("$root/proc")
    mount --bind /dev "$root/dev" && mounts+=("$root/dev")
    stage_root[$name]=$root
    cwd="/" user="" envs=()
}

in_root() { # run a shell command in the current root as the current user
    local spec=()
    [ -z "$user" ] || spec=(--userspec="$user")
    chroot "${spec[@]}" "$root" /usr/bin/env -i HOME=/root \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive "${envs[@]}" /bin/sh -c "cd '$cwd' && $1" </dev/null
}

copy_in() { # from_dir srcs... dest   (Docker COPY semantics for files and dirs)
    local from=$1
    shift
    local dest=${*: -1}
    local n=$(($# - 1)) i s
    [[ "$dest" = /* ]] || dest="$cwd/$dest"
    for ((i = 1; i <= n; i++)); do
        s=${!i}
        [[ "$s" = /* ]] || s="/$s"
        if [ -d "$from$s" ]; then
            mkdir -p "$root$dest"
            cp -a "$from$s/." "$root$dest/"
        elif [ -e "$from$s" ]; then
            if [[ "$dest" = */ ]] || [ "$n" -gt 1 ]; then
                mkdir -p "$root$dest" && cp -a "$from$s" "$root$dest/"
            else
                mkdir -p "$(dirname "$root$dest")" && cp -a "$from$s" "$root$dest"
            fi
        else
            die "COPY: $s not found in ${from}"
        fi
    done
}

json_array() { # ["a", "b"] -> one element per line (simple strings only)
    echo "$1" | sed -e 's/^[[:space:]]*\[//' -e 's/\][[:space:]]*$//' | tr ',' '\n' |
        sed -e 's/^[[:space:]]*"//' -e 's/"[[:space:]]*$//'
}

# Join continuation lines, drop comments and blank lines.
instructions=$(sed -e 's/^[[:space:]]*#.*$//' "$dockerfile" | awk '
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, ""); buf = buf $0 " "; next }
    { line = buf $0; buf = ""; if (line ~ /[^[:space:]]/) print line }')

while IFS= read -r line; do
    op=${line%%[[:space:]]*}
    args=$(echo "${line#"$op"}" | sed 's/^[[:space:]]*//')
    case "${op^^}" in
    FROM)
        read -r image as name <<<"$args"
        [ "${as^^}" = AS ] || die "FROM without AS name: $line"
        stage_start "$image" "$name"
        ;;
    WORKDIR)
        [[ "$args" = /* ]] || args="$cwd/$args"
        cwd=$args
        mkdir -p "$root$cwd"
        ;;
    ENV)
        [[ "$args" = *=* ]] || die "ENV needs KEY=value: $line"
        envs+=("$args")
        ;;
    USER) user=$args ;;
    COPY)
        read -r -a parts <<<"$args"
        if [[ "${parts[0]}" = --from=* ]]; then
            from=${parts[0]#--from=}
            [ -n "${stage_root[$from]:-}" ] || die "COPY --from=$from: no such stage"
            log "COPY --from=$from ${parts[*]:1}"
            copy_in "${stage_root[$from]}" "${parts[@]:1}"
        else
            [[ "${parts[0]}" != --* ]] || die "COPY option not modelled: $line"
            log "COPY ${parts[*]}"
            copy_in "$work/context" "${parts[@]}"
        fi
        ;;
    RUN)
        log "RUN $args"
        t0=$(date +%s)
        in_root "$args" >"$work/run.log" 2>&1 || { tail -40 "$work/run.log" >&2; die "RUN failed: $args"; }
        log "    ok in $(($(date +%s) - t0)) s"
        ;;
    ENTRYPOINT) mapfile -t entrypoint < <(json_array "$args") ;;
    CMD) mapfile -t cmd < <(json_array "$args") ;;
    STOPSIGNAL) stopsignal=$args ;;
    EXPOSE | LABEL | ARG) ;;
    *) die "instruction not modelled: $op" ;;
    esac
done <<<"$instructions"

# --- the runtime root: what the image would run ----------------------------
[ -n "$user" ] || die "the final stage sets no USER"
[ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || die "the final stage runs as root"
[ "$stopsignal" = SIGTERM ] || die "STOPSIGNAL is '$stopsignal', want SIGTERM"
[ ${#entrypoint[@]} -gt 0 ] || die "no exec-form ENTRYPOINT"
log "image: ENTRYPOINT ${entrypoint[*]}  CMD ${cmd[*]}  USER $user"

bin=$(in_root "command -v '${entrypoint[0]}'") || die "${entrypoint[0]} is not on PATH in the runtime root"
missing=$(chroot "$root" ldd "$bin" | grep 'not found' || true)
[ -z "$missing" ] || die "runtime libraries missing: $missing"
# The libraries wiggly opens with dlopen when a track needs them (not in ldd).
chroot "$root" "$bin" version --libs || die "a library wiggly loads on demand is missing"
if chroot "$root" sh -c 'command -v cc || command -v cmake' >/dev/null; then
    die "the runtime root has a compiler or cmake: the build stage leaked"
fi
[ ! -e "$root/etc/wiggly/job.json" ] || die "a job config is baked into the image"
[ "$(in_root 'id -u')" != 0 ] || die "USER resolves to uid 0"

ep=$(printf "'%s' " "${entrypoint[@]}")
log "as $user: ${entrypoint[*]} --help"
in_root "$ep --help" >"$work/help.txt" 2>&1 || { cat "$work/help.txt" >&2; die "--help failed"; }
grep -q 'usage: wiggly' "$work/help.txt" || die "--help printed no usage"

log "as $user: gen + process a generated track in /tmp"
in_root "$ep gen /tmp/in.flac --seconds 10 --rate 44100 --channels 2 --signal music" ||
    die "wiggly gen failed in the runtime root"
in_root "$ep process /tmp/in.flac /tmp/out.flac --rate 16000 --channels mono --features /tmp/out.json" ||
    die "wiggly process failed in the runtime root"
[ "$(head -c 4 "$root/tmp/out.flac")" = fLaC ] || die "process wrote no FLAC file"
# STREAMINFO (bytes 18-20): 20 bits sample rate, 3 bits channels - 1.
read -r b18 b19 b20 < <(od -An -tu1 -j18 -N3 "$root/tmp/out.flac")
rate=$(((b18 << 12) | (b19 << 4) | (b20 >> 4)))
channels=$((((b20 >> 1) & 7) + 1))
[ "$rate" = 16000 ] && [ "$channels" = 1 ] || die "output is $rate Hz $channels ch, want 16000 Hz mono"
[ -s "$root/tmp/out.json" ] || die "process wrote no features"
log "output: $rate Hz $channels ch, $(stat -c %s "$root/tmp/out.flac") bytes FLAC, $(stat -c %s "$root/tmp/out.json") bytes features"
# The image's own command (ENTRYPOINT + CMD) on a mounted local batch job,
# once `wiggly run` exists in this build.
if in_root "$ep run --help" >/dev/null 2>&1; then
    log "as $user: ${entrypoint[*]} ${cmd[*]} with a local batch job at /etc/wiggly/job.json"
    mkdir -p "$root/etc/wiggly" "$root/tmp/in/album" "$root/tmp/out"
    chown "$user" "$root/tmp/in" "$root/tmp/in/album" "$root/tmp/out"
    cat >"$root/etc/wiggly/job.json" <<'JOB'
{"job": "image-check", "events": {"file": "/tmp/ids.txt"},
 "input": {"location": "file:///tmp/in/", "suffix": ".flac"},
 "output": {"location": "file:///tmp/out/", "suffix": ".flac"},
 "steps": {"channels": "mono", "rate": 16000}, "runtime": {"temp_dir": "/tmp"}, "listen": ""}
JOB
    echo album/track-1 >"$root/tmp/ids.txt"
    in_root "$ep gen /tmp/in/album/track-1.flac --seconds 5" >/dev/null || die "gen for the batch job failed"
    cmdline=$(printf "'%s' " "${cmd[@]}")
    in_root "$ep $cmdline" || die "${entrypoint[*]} ${cmd[*]} failed on a local batch job"
    [ "$(head -c 4 "$root/tmp/out/album/track-1.flac" 2>/dev/null)" = fLaC ] ||
        die "${entrypoint[*]} ${cmd[*]} wrote no output"
    log "    the image's command processed the batch job"
else
    log "SKIP: 'wiggly run' is not in this build yet; the image's CMD was not exercised"
fi
log "runtime root: $(du -sh --exclude=proc --exclude=dev "$root" | cut -f1) on disk; wiggly $(stat -c %s "$root$bin") bytes"

log "PASS in $(($(date +%s) - start)) s"
