package server

import (
	"strings"
	"testing"
)

// TestAuthEtcdctl drives auth with the stock etcdctl: users, roles,
// permissions, auth enable, and key commands as a user with and without
// permission.
func TestAuthEtcdctl(t *testing.T) {
	cluster := startCluster(t, 3, fastBcrypt)
	cluster.leader()
	etcdctl(t, cluster, "", "user", "add", "root:root-password")
	etcdctl(t, cluster, "", "role", "add", "root")
	etcdctl(t, cluster, "", "user", "grant-role", "root", "root")
	etcdctl(t, cluster, "", "user", "add", "alice:alice-password")
	etcdctl(t, cluster, "", "role", "add", "app")
	expectOutput(t, etcdctl(t, cluster, "", "role", "grant-permission", "app", "--prefix=true", "readwrite", "app/"),
		"Role app updated")
	etcdctl(t, cluster, "", "user", "grant-role", "alice", "app")
	expectOutput(t, etcdctl(t, cluster, "", "auth", "enable"), "Authentication Enabled")

	root := "--user=root:root-password"
	expectOutput(t, etcdctl(t, cluster, "", root, "auth", "status"), "Authentication Status: true")
	expectOutput(t, etcdctl(t, cluster, "", root, "role", "get", "app"), "KV Read:", "[app/, app0) (prefix app/)")
	expectOutput(t, etcdctl(t, cluster, "", root, "user", "list"), "alice", "root")

	alice := "--user=alice:alice-password"
	expectOutput(t, etcdctl(t, cluster, "", alice, "put", "app/x", "1"), "OK")
	expectOutput(t, etcdctl(t, cluster, "", alice, "get", "app/x"), "app/x\n1")
	denied, err := etcdctlCommand(t, cluster, "", alice, "put", "other", "1").CombinedOutput()
	if err == nil || !strings.Contains(string(denied), "permission denied") {
		t.Errorf("alice put other: %v\n%s", err, denied)
	}
	wrong, err := etcdctlCommand(t, cluster, "", "--user=alice:wrong", "get", "app/x").CombinedOutput()
	if err == nil || !strings.Contains(string(wrong), "authentication failed") {
		t.Errorf("wrong password: %v\n%s", err, wrong)
	}
	anonymous, err := etcdctlCommand(t, cluster, "", "get", "app/x").CombinedOutput()
	if err == nil || !strings.Contains(string(anonymous), "user name is empty") {
		t.Errorf("no user: %v\n%s", err, anonymous)
	}
	expectOutput(t, etcdctl(t, cluster, "", root, "auth", "disable"), "Authentication Disabled")
	expectOutput(t, etcdctl(t, cluster, "", "put", "other", "1"), "OK")
}
