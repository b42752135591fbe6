# The lockstep image: a static binary on alpine, run as a non-root user.
#   docker build -t lockstep .
#   docker run --rm -p 2379:2379 -p 2381:2381 lockstep   # a one-member cluster
# Kubernetes manifests are in deploy/kubernetes; see docs/operations.md.

# Build: the same script CI builds the binary it tests with (.ci/run).
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN tools/build-lockstep /out/lockstep

# Run: alpine rather than distroless so that an operator can kubectl exec
# into a member and kubectl cp a backup in (which needs tar) when restoring.
FROM alpine:3.22
RUN addgroup -S -g 65532 lockstep \
 && adduser -S -D -H -u 65532 -G lockstep -h /var/lib/lockstep lockstep \
 && mkdir -p /var/lib/lockstep \
 && chown lockstep:lockstep /var/lib/lockstep
COPY --from=build /out/lockstep /usr/local/bin/lockstep
USER 65532:65532
WORKDIR /var/lib/lockstep
# client (etcd API), peer (Raft), metrics (/metrics, /livez, /readyz, dashboard)
EXPOSE 2379 2380 2381
ENTRYPOINT ["/usr/local/bin/lockstep"]
# Without arguments: a one-member cluster reachable from outside the container.
CMD ["serve", "--name", "default", "--data-dir", "/var/lib/lockstep/data", "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379", "--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--listen-metrics-urls", "http://0.0.0.0:2381"]
