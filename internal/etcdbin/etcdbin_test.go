package etcdbin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuildsRealEtcd checks that both tools build and report v3.7.3.
func TestBuildsRealEtcd(t *testing.T) {
	for tool, versionArgument := range map[string]string{"etcd": "--version", "etcdctl": "version"} {
		path, err := Path(tool)
		if err != nil {
			t.Fatal(err)
		}
		output, err := exec.Command(path, versionArgument).CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", tool, err, output)
		}
		if !strings.Contains(string(output), "3.7.3") {
			t.Fatalf("%s --version = %q, want 3.7.3", tool, output)
		}
	}
	if _, err := Path("etcdutl"); err == nil {
		t.Fatal("Path accepted an unknown tool")
	}
}
