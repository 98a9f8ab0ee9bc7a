# kzsim in a container image, for sharded campaigns (docs/k8s/campaign-indexed-job.yaml).
#
# Build from the repository root, telling the build which commit it is (the image has no
# .git, and `kzsim merge` refuses to combine summaries of different builds):
#
#   docker build --build-arg KZSIM_GIT_COMMIT="$(git rev-parse HEAD)" -t kzsim:latest .
#
# The image runs `kzsim` (ENTRYPOINT) in /work; the scenario library is in
# /opt/kzsim/scenarios.

FROM rust:1-bookworm AS build
WORKDIR /src
# Simulation mode (--cfg madsim) comes from .cargo/config.toml. Do not set RUSTFLAGS here,
# not even empty: it would silently replace that setting and the build would refuse.
ARG KZSIM_GIT_COMMIT=
ENV KZSIM_GIT_COMMIT=${KZSIM_GIT_COMMIT}
COPY . .
RUN cargo build --release --locked --bin kzsim \
    && install -m 0755 target/release/kzsim /usr/local/bin/kzsim

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/kzsim /usr/local/bin/kzsim
COPY scenarios /opt/kzsim/scenarios
WORKDIR /work
ENTRYPOINT ["kzsim"]
