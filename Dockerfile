# syntax=docker/dockerfile:1
#
# leadback-bridge image: the `leadback-bridge` binary (entrypoint) and the `comagic-emulator`
# (for the local stack in docker-compose.yml). Build: docker build -t leadback-bridge .

# Base images pinned by digest: a rebuild of the same commit starts from the same bytes. To move
# to newer patches, refresh both deliberately (docker buildx imagetools inspect <image:tag>).
ARG RUST_IMAGE=rust:1.89-bookworm@sha256:948f9b08a66e7fe01b03a98ef1c7568292e07ec2e4fe90d88c07bb14563c84ff
ARG RUNTIME_IMAGE=debian:bookworm-slim@sha256:4b50eb66f977b4062683ff434ef18ac191da862dbe966961bc11990cf5791a8d

# ---- build ---------------------------------------------------------------------------------
# cargo-chef: the dependencies are compiled in a layer of their own, keyed by a recipe of the
# manifests only, so a change to the bridge's code rebuilds the bridge, not its ~400 crates.
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# The commit in leadback_bridge_build_info: docker build --build-arg GIT_COMMIT=$(git rev-parse --short HEAD)
ARG GIT_COMMIT=unknown
ENV LEADBACK_BRIDGE_COMMIT=${GIT_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked \
        --package leadback-bridge --bin leadback-bridge \
        --package comagic-emulator --bin comagic-emulator \
    && mkdir -p /out \
    && cp target/release/leadback-bridge target/release/comagic-emulator /out/

# ---- runtime -------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
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

# Ready = /readyz answers 200 (queue and database reachable, schema current); no curl needed.
# The same image runs the comagic-emulator, whose compose service turns this check off.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["leadback-bridge", "healthcheck"]

# Numeric user so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["leadback-bridge"]
CMD ["serve"]
