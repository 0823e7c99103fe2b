# feedgate in a container: a multi-stage build into a distroless image that runs as a non-root
# user and holds nothing but the binary, glibc and the CA certificates (for the broker's TLS).
#
#   docker build -t feedgate .
#   docker run -d --name feedgate -p 127.0.0.1:8080:8080 -v feedgate-data:/data \
#     --env-file feedgate.env feedgate
#
# The container listens on 0.0.0.0:8080, which is not loopback, so feedgate requires keys:
# give it FEEDGATE_API_KEYS (see "Run it on a server" in the README) or run
# `docker exec -it feedgate feedgate keys add NAME --scope admin` once (stored in the volume).

# The toolchain pinned in rust-toolchain.toml.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
# Only the binary's crate; the lock file is the one the tests ran against.
RUN cargo build --release --locked -p feedgate \
 && install -D -m 0755 target/release/feedgate /out/feedgate \
 && install -d -m 0700 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/feedgate /usr/local/bin/feedgate
# The data directory (token file, keys, instrument cache, candles) belongs to the image's
# non-root user (65532) and nobody else.
COPY --from=build --chown=65532:65532 /out/data /data
ENV FEEDGATE_LISTEN=0.0.0.0:8080 \
    FEEDGATE_DATA_DIR=/data \
    FEEDGATE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/feedgate"]
CMD ["serve"]
