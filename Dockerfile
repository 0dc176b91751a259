# syntax=docker/dockerfile:1
# The liveshop node image: build with cargo in rust:1-bookworm, run on
# debian:bookworm-slim as a non-root user. Used by docker-compose.yml.
#
# Cache-friendly: the cargo registry, git checkouts and target/ live in
# BuildKit cache mounts, so a rebuild after a source change recompiles only
# the workspace crates, not every dependency. (A manifests-only layer would
# need stub sources for every member's explicit bin and bench targets.)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p liveshop-node \
    && install -m 0755 target/release/liveshop /usr/local/bin/liveshop

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 liveshop \
    && useradd --system --uid 10001 --gid liveshop --home-dir /data --shell /usr/sbin/nologin liveshop \
    && mkdir -p /data /etc/liveshop \
    && chown liveshop:liveshop /data
COPY --from=builder /usr/local/bin/liveshop /usr/local/bin/liveshop
COPY config/liveshop.toml /etc/liveshop/liveshop.toml

ENV LIVESHOP_DATA_DIR=/data \
    LIVESHOP_LISTEN=0.0.0.0:8080 \
    LIVESHOP_LOG_FORMAT=json
USER liveshop
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# No curl or wget in the slim image: bash's /dev/tcp sends one GET /healthz
# and the check passes on an HTTP 200 status line.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["liveshop"]
