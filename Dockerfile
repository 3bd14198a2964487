# syntax=docker/dockerfile:1
# cpgo: build on Debian 12, run on Debian 12 with only the runtime libraries.
#
#   docker build --build-arg CPGO_COMMIT=$(git rev-parse HEAD) -t cpgo .
#   docker run -d --name cpgo --stop-timeout 45 \
#     -v "$PWD/config.yaml:/etc/cpgo/config.yaml:ro" \
#     -v cpgo-state:/var/lib/cpgo \
#     -e GITHUB_TOKEN \
#     -p 127.0.0.1:9090:9090 \
#     cpgo
#
# Configuration: /etc/cpgo/config.yaml (mount it; the image ships none, so a missing mount
#   fails at once with a clear error). Inside a container `listen` must bind every
#   interface, `listen: ':9090'` (as in Go and Prometheus: IPv4 and IPv6), or the published
#   port does not reach it; `127.0.0.1:9090` would be the container's own loopback only.
# State: the volume /var/lib/cpgo (`state_dir: /var/lib/cpgo`): pending samples, publication
#   records, the git caches. Keep it across restarts or pending samples are lost.
# Token: never baked in, never a build argument. Either the environment variable named by
#   github.token_env (default GITHUB_TOKEN: `docker run -e GITHUB_TOKEN`), or a file:
#   `github.token_file: /run/secrets/github-token` with a compose/swarm secret named
#   github-token, or `-v /path/token:/run/secrets/github-token:ro`.
# Stopping: SIGTERM drains for up to `shutdown_timeout` (30 s by default); docker's default
#   grace is 10 s, so give `--stop-timeout 45` (compose: `stop_grace_period: 45s`).
#
# Both stages are the same Debian release, so the libraries the binary was linked against
# are the ones the runtime stage installs. Pin the base by digest in production
# (debian:12@sha256:...) for reproducible builds.

FROM debian:12 AS build
WORKDIR /src
# The build dependencies first, in their own layer: rebuilt only when the list changes.
COPY scripts/setup-deps scripts/setup-deps
RUN scripts/setup-deps && rm -rf /var/lib/apt/lists/*
COPY . .
# scripts/build: the project's build flags (RelWithDebInfo), without -Werror (a packaging
# build must not fail on a warning; the project's tests compile with it); setup-deps finds
# everything present and runs no apt-get. The binary keeps its symbols (backtraces).
# .git stays out of the context: `cpgo --version` and cpgo_build_info name the commit given
# here (cmake/version.cmake), or "unknown"
ARG CPGO_COMMIT=
RUN CPGO_COMMIT="$CPGO_COMMIT" scripts/build --no-werror --dir /build \
 && install -D -m 0755 /build/cpgo /out/usr/local/bin/cpgo \
 && install -D -m 0644 config.sample.yaml /out/usr/share/doc/cpgo/config.sample.yaml

FROM debian:12-slim
# The runtime package list lives in one script, checked against `ldd cpgo` by
# tests/integration/deploy_recipe.sh on machines without a Docker engine.
COPY scripts/runtime-packages /usr/local/share/cpgo/runtime-packages
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends $(/usr/local/share/cpgo/runtime-packages); \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify USER, and fsGroup and
# file ownership on volumes are predictable.
RUN set -eux; \
    groupadd --system --gid 10001 cpgo; \
    useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/cpgo --no-create-home \
            --shell /usr/sbin/nologin cpgo; \
    install -d -o 10001 -g 10001 -m 0750 /var/lib/cpgo; \
    install -d -m 0755 /etc/cpgo
COPY --from=build /out/ /
# Validate a configuration with the image itself:
#   docker run --rm -v "$PWD/config.yaml:/etc/cpgo/config.yaml:ro" cpgo check-config -c /etc/cpgo/config.yaml
USER 10001:10001
WORKDIR /var/lib/cpgo
# Created above with the cpgo owner: a new named volume starts with that ownership.
VOLUME ["/var/lib/cpgo"]
EXPOSE 9090
STOPSIGNAL SIGTERM
# Exec form, no shell. curl (see scripts/runtime-packages for why curl): -q ignores any
# curlrc, --noproxy keeps an http_proxy in the environment from routing the probe away,
# -f makes any non-2xx status a failure. The port is the one of `listen` above.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["curl", "-q", "-fsS", "-o", "/dev/null", "--noproxy", "*", "--max-time", "4", "http://127.0.0.1:9090/healthz"]
# The original tool's command line works as arguments too: `docker run ... cpgo
#   -configPath /etc/cpgo/config.yaml -verbose` (GITHUB_TOKEN rather than -githubToken).
ENTRYPOINT ["/usr/local/bin/cpgo"]
CMD ["run", "-c", "/etc/cpgo/config.yaml"]
