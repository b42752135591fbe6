package kv

import (
	"fmt"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// BenchmarkApplyPutAuth measures what auth adds to applying a put: none
// (auth disabled), a root user (the root role short-cuts the check), and
// a user whose role grants a range (the permission check runs).
func BenchmarkApplyPutAuth(b *testing.B) {
	for _, who := range []string{"disabled", "root", "range-user"} {
		b.Run(who, func(b *testing.B) {
			h := newHarness(b, Options{})
			identity := Identity{}
			if who != "disabled" {
				setUp := []*pb.InternalRaftRequest{
					{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: "hash"}},
					{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
					{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: "hash"}},
					{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "bench"}},
					{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "bench", Perm: &authpb.Permission{Key: []byte("bench/"), RangeEnd: []byte("bench0"), PermType: authpb.READWRITE}}},
					{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "bench", Perm: &authpb.Permission{Key: []byte("other"), PermType: authpb.READ}}},
					{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "bench"}},
					{AuthEnable: &pb.AuthEnableRequest{}},
				}
				for _, request := range setUp {
					if err, failed := h.one(request).(error); failed {
						b.Fatal(err)
					}
				}
				_, revision := h.store.AuthEnabled()
				identity = Identity{User: "root", Revision: revision}
				if who == "range-user" {
					identity.User = "alice"
				}
			}
			value := make([]byte, 128)
			commands := make([][]byte, 10_000)
			for i := range commands {
				request := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "bench/key/%05d", i), Value: value}}
				if who != "disabled" {
					request.Header = &pb.RequestHeader{Username: identity.User, AuthRevision: identity.Revision}
				}
				commands[i], _ = EncodeCommand(request)
			}
			const batch = 64
			entries := make([]machine.Entry, batch)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range entries {
					h.index++
					entries[i] = machine.Entry{Index: h.index, Term: 1, Command: commands[int(h.index)%len(commands)]}
				}
				for _, result := range h.store.Apply(entries) {
					if err, failed := result.(error); failed {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkAuthorizePut measures the permission check of one put by a
// user whose role grants two permissions, the check a range user's put
// pays at apply.
func BenchmarkAuthorizePut(b *testing.B) {
	state := emptyAuthState()
	state.enabled = true
	state.roles["bench"] = &authpb.Role{Name: []byte("bench"), KeyPermission: []*authpb.Permission{
		{Key: []byte("bench/"), RangeEnd: []byte("bench0"), PermType: authpb.READWRITE},
		{Key: []byte("other"), PermType: authpb.READ},
	}}
	state.users["alice"] = &authpb.User{Name: []byte("alice"), Roles: []string{"bench"}}
	request := &pb.InternalRaftRequest{Header: &pb.RequestHeader{Username: "alice", AuthRevision: state.revision},
		Put: &pb.PutRequest{Key: []byte("bench/key/00001"), Value: []byte("v")}}
	noLease := func(int64) [][]byte { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := state.authorize(request, noLease); err != nil {
			b.Fatal(err)
		}
	}
}
