package validate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerfileInstructions returns the Dockerfile's instructions (keyword,
// rest), continuation lines joined and comments dropped.
func dockerfileInstructions(t *testing.T) [][2]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repositoryRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var instructions [][2]string
	var pending string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" && pending == "" {
			continue
		}
		pending += trimmed
		if strings.HasSuffix(pending, "\\") {
			pending = strings.TrimSuffix(pending, "\\") + " "
			continue
		}
		keyword, rest, _ := strings.Cut(pending, " ")
		instructions = append(instructions, [2]string{strings.ToUpper(keyword), strings.TrimSpace(rest)})
		pending = ""
	}
	return instructions
}

// The image is built in stages, with the script CI builds the binary it
// tests with, and runs that static binary as a non-root user; its default
// command is a valid one-member `lockstep serve`.
func TestDockerfile(t *testing.T) {
	var stages, builds int
	var user, entrypoint, command string
	for _, instruction := range dockerfileInstructions(t) {
		switch instruction[0] {
		case "FROM":
			stages++
		case "RUN":
			if strings.Contains(instruction[1], "tools/build-lockstep") {
				builds++
			}
			if strings.Contains(instruction[1], "go build") {
				t.Errorf("the Dockerfile runs go build itself (%s): build with tools/build-lockstep, as CI does", instruction[1])
			}
		case "USER":
			user = instruction[1]
		case "ENTRYPOINT":
			entrypoint = instruction[1]
		case "CMD":
			command = instruction[1]
		}
	}
	if stages < 2 || builds != 1 {
		t.Errorf("want a multi-stage build running tools/build-lockstep once; %d stages, %d builds", stages, builds)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("the image runs as %q, want a non-root user", user)
	}
	ci, err := os.ReadFile(filepath.Join(repositoryRoot, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\ntools/build-lockstep .cache/lockstep\n") {
		t.Errorf(".ci/run does not build its lockstep with tools/build-lockstep")
	}
	script, err := os.ReadFile(filepath.Join(repositoryRoot, "tools", "build-lockstep"))
	if err != nil || !strings.Contains(string(script), "CGO_ENABLED=0") {
		t.Errorf("tools/build-lockstep must build with CGO_ENABLED=0 (a static binary): %v", err)
	}

	var entry, arguments []string
	if err := json.Unmarshal([]byte(entrypoint), &entry); err != nil || len(entry) != 1 || filepath.Base(entry[0]) != "lockstep" {
		t.Fatalf("ENTRYPOINT %s: want [\"/path/to/lockstep\"] (%v)", entrypoint, err)
	}
	if err := json.Unmarshal([]byte(command), &arguments); err != nil {
		t.Fatalf("CMD %s: want the JSON form (%v)", command, err)
	}
	printed, err := dryRun(t, arguments, nil)
	if err != nil {
		t.Fatal(err)
	}
	if printed["client URLs"] != "listen http://0.0.0.0:2379, advertise http://127.0.0.1:2379" {
		t.Errorf("the default command's client URLs are %q: clients outside the container must reach it", printed["client URLs"])
	}
}
