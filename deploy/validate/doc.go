// Package validate holds the tests of lockstep's deployment files, in a
// module of its own so that the main module does not depend on Kubernetes'
// API types: every Kubernetes manifest under deploy/kubernetes (and the TLS
// overlay, built with kustomize) decodes strictly into k8s.io/api's types,
// the StatefulSet's members get their URLs from their stable DNS names, and
// the container arguments of every member, the Dockerfile's CMD and the
// systemd environment file pass `lockstep serve --dry-run` on the binary
// built by tools/build-lockstep, the script the Dockerfile and CI build with.
//
// Run it with `cd deploy/validate && go test ./...` (CI does, in .ci/run).
package validate
