# muster's container image: a production release build on Debian (`--no-default-features`:
# no built-in sandbox, the emulator is left out), run from a distroless image as a non-root
# user. `docker build -t muster .`
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features --bin muster \
 && install -D -m 0755 target/release/muster /out/muster

# glibc and CA certificates, no shell, no package manager; uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/muster /usr/local/bin/muster
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/muster"]
CMD ["run", "--config", "/etc/muster/settings/muster.yaml"]
