package kv_test

import (
	"fmt"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Example applies two committed commands as the runtime would, then reads
// and watches the store.
func Example() {
	store, err := kv.Open("example", kv.Options{InMemory: true})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	watcher, _ := store.Watch(kv.WatchRequest{Key: []byte("greeting")})
	defer watcher.Close()

	put, _ := kv.EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("greeting"), Value: []byte("hello")}})
	update, _ := kv.EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("greeting"), Value: []byte("hello, world"), PrevKv: true}})
	results := store.Apply([]machine.Entry{{Index: 1, Term: 1, Command: put}, {Index: 2, Term: 1, Command: update}})
	fmt.Println("previous value:", string(results[1].(*pb.PutResponse).PrevKv.Value))

	response, _ := store.Range(&pb.RangeRequest{Key: []byte("greeting")})
	kv := response.Kvs[0]
	fmt.Printf("%s = %s (version %d, revision %d)\n", kv.Key, kv.Value, kv.Version, response.Header.Revision)

	events := (<-watcher.Responses()).Events
	fmt.Println("watched", len(events), "events; applied index", store.AppliedIndex())
	// Output:
	// previous value: hello
	// greeting = hello, world (version 2, revision 3)
	// watched 2 events; applied index 2
}
