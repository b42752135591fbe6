// Package suite runs Kubernetes' storage conformance suite
// (k8s.io/apiserver/pkg/storage/testing, the RunTest* functions that
// Kubernetes runs against its etcd3 store over an embedded etcd) against
// the etcd3 store over an external cluster: etcd, or lockstep.
//
// Its tests take the cluster from the environment (see the cluster
// package's Environment* names), or start one themselves: the system named
// by $COMPAT_K8S_SYSTEM (etcd when unset; lockstep-1 and lockstep-3 build
// the repository's cmd/lockstep unless $LOCKSTEP_BINARY names a binary).
// `go run .` in the module's root runs them against every system and
// prints the table.
package suite
