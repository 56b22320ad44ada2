# syntax=docker/dockerfile:1
# wiggly container image: build on Debian 12, run on Debian 12 slim.
#   docker build -t wiggly .
#   docker run --rm -v "$PWD/job.json:/etc/wiggly/job.json:ro" wiggly
# The job config is mounted at /etc/wiggly/job.json (in Kubernetes: a
# ConfigMap), never baked in. tests/deploy/image-chroot.sh replays the RUN
# lines of this file in a debootstrapped root, so keep every step a RUN, COPY,
# WORKDIR, ENV or USER line it understands (see that script).

FROM debian:bookworm AS build
WORKDIR /src
# Dependencies first, so that source edits do not re-run apt-get.
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target wiggly \
 && install -D -m 0755 -s /build/cli/wiggly /out/wiggly

FROM debian:bookworm-slim AS runtime
COPY scripts/deps.sh /tmp/deps.sh
RUN /tmp/deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/deps.sh \
 && groupadd --system --gid 10001 wiggly \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin wiggly
COPY --from=build /out/wiggly /usr/local/bin/wiggly
# FFmpeg, Chromaprint and aubio are opened with dlopen when a track needs
# them, so ldd does not list them: load each once here, or fail the build.
RUN wiggly version --libs
# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
ENV TMPDIR=/tmp
EXPOSE 8080
# The kubelet sends STOPSIGNAL to PID 1; wiggly is PID 1 (exec form, no shell)
# and drains within runtime.shutdown_grace_s when it gets SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["wiggly"]
CMD ["run", "-c", "/etc/wiggly/job.json"]
