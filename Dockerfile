# stixgate in a container: `docker build -t stixgate .`, then
#   docker run -d -p 8080:8080 -v stixgate-data:/var/lib/stixgate \
#     -v /etc/stixgate/stixgate.toml:/etc/stixgate/stixgate.toml:ro stixgate
# The image listens on 0.0.0.0:8080, so serve refuses to start while a collection allows anonymous writes (as
# the embedded default's does): the mounted configuration must set users and rights. See docs/src/guide/deploying.md.

# The build, with the locked dependencies, on the same Debian release as the runtime (the binary links glibc).
FROM rust:1-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY mappings ./mappings
COPY tests ./tests
RUN cargo build --release --locked --bin stixgate

FROM debian:bookworm-slim
# ca-certificates: peers and IntelMQ collectors reached over HTTPS are checked against the system's roots.
# Its version is not pinned: Debian's security updates replace it (hadolint's DL3008 is ignored for that).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 stixgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/stixgate --shell /usr/sbin/nologin stixgate \
    && mkdir -p /var/lib/stixgate /etc/stixgate \
    && chown stixgate:stixgate /var/lib/stixgate
COPY --from=builder /src/target/release/stixgate /usr/local/bin/stixgate
# By number, so that a runtime that checks for a non-root user (Kubernetes' runAsNonRoot) can tell.
USER 10001:10001
# MALLOC_ARENA_MAX: fewer glibc arenas keep the server's memory lower (docs/src/internals/performance.md).
ENV STIXGATE_LISTEN=0.0.0.0:8080 \
    STIXGATE_DATA=/var/lib/stixgate \
    STIXGATE_CONFIG=/etc/stixgate/stixgate.toml \
    STIXGATE_METRICS__PUBLIC=false \
    STIXGATE_LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2
VOLUME /var/lib/stixgate
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz over plain HTTP. With a [tls] table in the
# configuration, this check fails; check from outside instead (or through the reverse proxy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '\"status\": *\"ok\"' <&3"]
# SIGTERM (docker stop) drains in-flight requests and flushes; give it time: docker stop --time 60.
STOPSIGNAL SIGTERM
ENTRYPOINT ["stixgate"]
CMD ["serve"]
