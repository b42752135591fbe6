package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var systemdDirectory = filepath.Join(repositoryRoot, "deploy", "systemd")

// readEnvironmentFile reads the KEY=VALUE lines of a systemd
// EnvironmentFile (the subset the example uses: no quotes, no
// continuations), skipping comments and blank lines.
func readEnvironmentFile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var environment []string
	for number, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(value, `"'\$`) {
			t.Fatalf("%s:%d: %q is not a plain KEY=VALUE line", path, number+1, line)
		}
		environment = append(environment, line)
	}
	return environment
}

// The unit runs `lockstep serve` with the example environment file, which
// sets only variables serve reads and passes serve's checks as it stands.
func TestSystemdUnitAndEnvironmentFile(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(systemdDirectory, "lockstep.service"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if key, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[key] = value
		}
	}
	arguments := strings.Fields(settings["ExecStart"])
	if len(arguments) < 2 || filepath.Base(arguments[0]) != "lockstep" || arguments[1] != "serve" {
		t.Fatalf("ExecStart=%s: want lockstep serve", settings["ExecStart"])
	}
	if settings["EnvironmentFile"] != "/etc/lockstep/lockstep.env" || settings["User"] == "" || settings["User"] == "root" {
		t.Fatalf("want EnvironmentFile=/etc/lockstep/lockstep.env and a non-root User=, got %q and %q", settings["EnvironmentFile"], settings["User"])
	}

	environment := readEnvironmentFile(t, filepath.Join(systemdDirectory, "lockstep.env"))
	var names []string
	for _, line := range environment {
		name, _, _ := strings.Cut(line, "=")
		if !strings.HasPrefix(name, "LOCKSTEP_") {
			t.Errorf("%s is not a LOCKSTEP_ variable", name)
		}
		names = append(names, name)
	}
	checkVariablesNameFlags(t, names)
	printed, err := dryRun(t, arguments[1:], environment)
	if err != nil {
		t.Fatal(err)
	}
	if printed["name"] != "a" || !strings.HasPrefix(printed["data dir"], "/var/lib/lockstep/") {
		t.Errorf("the environment file was not applied, or its data directory is outside StateDirectory=lockstep: %v", printed)
	}
}

// checkVariablesNameFlags fails for every LOCKSTEP_<FLAG> variable among
// names that names no flag of `lockstep serve` (serve would only warn).
func checkVariablesNameFlags(t *testing.T, names []string) {
	t.Helper()
	help, err := helpOf("serve")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "LOCKSTEP_") {
			continue
		}
		flag := "--" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "LOCKSTEP_"), "_", "-"))
		if !strings.Contains(help, flag+" ") {
			t.Errorf("%s sets no flag of lockstep serve (no %s)", name, flag)
		}
	}
}
