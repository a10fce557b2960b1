# syntax=docker/dockerfile:1
# Fluxora backend image (issue 7 scope 7): a multi-stage build, run as a non-root user on a
# distroless base, one port, HEALTHCHECK with the binary itself (`fluxora healthcheck`).
#
#   docker build -t fluxora .
#   docker run -p 3000:3000 -v fluxora-data:/data fluxora
#
# scripts/container-smoke.sh builds, runs and probes the image where a Docker engine exists.

# The toolchain CI uses (README: Requirements).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and the target dir between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p fluxora --bin fluxora \
    && install -D -m 0755 target/release/fluxora /out/fluxora \
    && install -d -m 0755 -o 65532 -g 65532 /out/data

# distroless/cc: glibc and libgcc only, no shell, runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/fluxora /usr/local/bin/fluxora
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:///data/fluxora.db
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/fluxora", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/fluxora"]
CMD ["serve"]
