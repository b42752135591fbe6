package transport

import (
	"context"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

func TestFetchInfo(t *testing.T) {
	published, err := New(Config{ID: 1, ClusterID: 9, ListenAddress: "127.0.0.1:0", Info: func() []byte { return []byte("members: 1") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := published.Start(func(raft.Message) {}); err != nil {
		t.Fatal(err)
	}
	defer published.Stop()
	silent, err := New(Config{ID: 2, ClusterID: 9, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := silent.Start(func(raft.Message) {}); err != nil {
		t.Fatal(err)
	}
	defer silent.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := FetchInfo(ctx, published.Addr().String(), nil)
	if err != nil || string(info) != "members: 1" {
		t.Fatalf("FetchInfo = %q, %v", info, err)
	}
	if _, err := FetchInfo(ctx, silent.Addr().String(), nil); err == nil {
		t.Fatal("a transport without Info answered")
	}
}
