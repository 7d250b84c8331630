# CPU image: a static agate binary (CGO_ENABLED=0, the same build CI tests)
# on distroless, running as non-root. Build: docker build -t agate .
# Run:   docker run -p 8080:8080 -v agate-cache:/var/cache/agate agate
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/agate ./cmd/agate
# Build the demo model into the image so the container starts without writing.
RUN /out/agate pull demo-rf --out /out/cache/demo-rf

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agate /usr/local/bin/agate
COPY --from=build --chown=65532:65532 /out/cache /var/cache/agate
ENV AGATE_ADDR=:8080 \
    AGATE_CACHE_DIR=/var/cache/agate \
    AGATE_SHUTDOWN_DELAY=0s
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/agate", "serve", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/agate"]
CMD ["serve"]
