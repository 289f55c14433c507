# syntax=docker/dockerfile:1
#
# leadback-bridge image: the `leadback-bridge` binary (entrypoint) and the `comagic-emulator`
# (for the local stack in docker-compose.yml). Build: docker build -t leadback-bridge .

# ---- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and compiled dependencies between builds; the binaries are
# copied out because a cache mount does not end up in the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        --package leadback-bridge --bin leadback-bridge \
        --package comagic-emulator --bin comagic-emulator \
    && mkdir -p /out \
    && cp target/release/leadback-bridge target/release/comagic-emulator /out/

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: the CoMagic/UIS Data API is HTTPS (rustls reads the system roots).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bridge \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=build /out/leadback-bridge /out/comagic-emulator /usr/local/bin/

# Listeners on every interface inside the container; the embedded backend (single node) keeps
# its SQLite file and generated key in the /data volume.
ENV BRIDGE_DATA_DIR=/data \
    BRIDGE_LISTEN=0.0.0.0:8080 \
    BRIDGE_METRICS_LISTEN=0.0.0.0:9090 \
    BRIDGE_LOG_FORMAT=json \
    RUST_LOG=info
VOLUME ["/data"]
WORKDIR /data
# Webhooks, /healthz, /readyz and the admin API; Prometheus /metrics (keep it private).
EXPOSE 8080 9090

# Numeric user so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["leadback-bridge"]
CMD ["serve"]
