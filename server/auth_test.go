package server

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// fastBcrypt makes test members hash passwords at bcrypt's lowest cost.
func fastBcrypt(config *Config) { config.BcryptCost = bcrypt.MinCost }

// sameError reports whether err is the etcd error want, as clientv3
// returns it.
func sameError(err, want error) bool {
	return errors.Is(err, want) || rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(want)
}

// userClient returns a client of endpoints authenticated as user.
func (c *testCluster) userClient(user, password string, endpoints ...string) (*clientv3.Client, error) {
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Username: user, Password: password,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err == nil {
		c.t.Cleanup(func() { client.Close() })
	}
	return client, err
}

// TestAuthAdministration runs etcd's auth administration through clientv3
// on a follower (which forwards to the leader): users, roles and
// permissions, answered sorted, and bad input answered with etcd's errors.
func TestAuthAdministration(t *testing.T) {
	cluster := startCluster(t, 3, fastBcrypt)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	ctx := testContext(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := client.UserAdd(ctx, "root", "root-password")
	must("add root", err)
	_, err = client.UserAdd(ctx, "alice", "alice-password")
	must("add alice", err)
	_, err = client.UserAddWithOptions(ctx, "bob", "", &clientv3.UserAddOptions{NoPassword: true})
	must("add bob", err)
	_, err = client.RoleAdd(ctx, "app")
	must("add app", err)
	_, err = client.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite))
	must("grant app/", err)
	_, err = client.UserGrantRole(ctx, "alice", "app")
	must("grant app to alice", err)

	users, err := client.UserList(ctx)
	must("list users", err)
	if !slices.Equal(users.Users, []string{"alice", "bob", "root"}) {
		t.Errorf("users %v", users.Users)
	}
	alice, err := client.UserGet(ctx, "alice")
	must("get alice", err)
	if !slices.Equal(alice.Roles, []string{"app"}) {
		t.Errorf("alice's roles %v", alice.Roles)
	}
	role, err := client.RoleGet(ctx, "app")
	must("get app", err)
	if len(role.Perm) != 1 || string(role.Perm[0].Key) != "app/" || string(role.Perm[0].RangeEnd) != "app0" {
		t.Errorf("app's permissions %v", role.Perm)
	}
	status, err := client.AuthStatus(ctx)
	must("status", err)
	if status.Enabled || status.AuthRevision != 7 {
		t.Errorf("status: enabled %v revision %d, want false 7 (1 on a new store, six changes)", status.Enabled, status.AuthRevision)
	}

	bad := []struct {
		name string
		call func() error
		want error
	}{
		{"empty user name", func() error { _, err := client.UserAdd(ctx, "", "x"); return err }, rpctypes.ErrGRPCUserEmpty},
		{"user twice", func() error { _, err := client.UserAdd(ctx, "alice", "x"); return err }, rpctypes.ErrGRPCUserAlreadyExist},
		{"unknown user", func() error { _, err := client.UserGet(ctx, "carol"); return err }, rpctypes.ErrGRPCUserNotFound},
		{"unknown role", func() error { _, err := client.UserGrantRole(ctx, "alice", "ops"); return err }, rpctypes.ErrGRPCRoleNotFound},
		{"inverted range", func() error {
			_, err := client.RoleGrantPermission(ctx, "app", "b", "a", clientv3.PermissionType(clientv3.PermRead))
			return err
		}, rpctypes.ErrGRPCInvalidAuthMgmt},
		{"revoke not granted", func() error { _, err := client.RoleRevokePermission(ctx, "app", "x", ""); return err }, rpctypes.ErrGRPCPermissionNotGranted},
		{"authenticate while disabled", func() error { _, err := client.Authenticate(ctx, "alice", "alice-password"); return err }, rpctypes.ErrGRPCAuthNotEnabled},
	}
	for _, c := range bad {
		if err := c.call(); !sameError(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	status, err = client.AuthStatus(ctx)
	must("status after bad input", err)
	if status.AuthRevision != 7 {
		t.Errorf("bad input changed the auth revision to %d", status.AuthRevision)
	}
	// Every member applies the same auth store.
	for i, member := range cluster.members {
		poll.Until(t, fmt.Sprintf("member %d at auth revision 7", i), func() bool { _, revision := member.store.AuthEnabled(); return revision == 7 })
	}
	// etcd's rule: auth enable needs a root user holding the root role.
	if _, err := client.AuthEnable(ctx); !sameError(err, rpctypes.ErrGRPCRootRoleNotExist) {
		t.Errorf("auth enable without the root role: %v", err)
	}
	if _, err := client.UserDelete(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AuthEnable(ctx); !sameError(err, rpctypes.ErrGRPCRootUserNotExist) {
		t.Errorf("auth enable without root: %v", err)
	}
}
