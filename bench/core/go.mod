module github.com/lockstepdb/lockstep/bench/core

go 1.26.8

require (
	github.com/lockstepdb/lockstep v0.0.0
	go.etcd.io/raft/v3 v3.7.0
)

require google.golang.org/protobuf v1.36.12 // indirect

replace github.com/lockstepdb/lockstep => ../..
