package validate

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// dryRun runs `lockstep ARGS --dry-run` with exactly environment (nothing
// of the test's own), as a container or a systemd unit would start it, and
// returns the configuration it printed, keyed by its labels ("name",
// "initial cluster", "peer URLs", ...).
func dryRun(t *testing.T, args, environment []string) (map[string]string, error) {
	t.Helper()
	command := exec.Command(lockstepBinary, append(append([]string{}, args...), "--dry-run")...)
	command.Env = environment
	// The configuration goes to stdout; warnings (such as about an
	// environment variable that names no flag) to stderr.
	var output, warnings bytes.Buffer
	command.Stdout, command.Stderr = &output, &warnings
	if err := command.Run(); err != nil {
		return nil, &dryRunError{args: args, output: warnings.String() + output.String(), err: err}
	}
	lines := strings.Split(output.String(), "\n")
	if !strings.Contains(lines[0], "the configuration is valid") {
		t.Fatalf("unexpected dry-run output:\n%s%s", warnings.String(), output.String())
	}
	if warnings.Len() != 0 {
		t.Logf("lockstep %s --dry-run warned:\n%s", strings.Join(args, " "), warnings.String())
	}
	printed := map[string]string{}
	for _, line := range lines[1:] {
		// "  label            value": the label is padded to 16 columns.
		if len(line) < 19 {
			continue
		}
		printed[strings.TrimSpace(line[2:18])] = line[19:]
	}
	return printed, nil
}

type dryRunError struct {
	args   []string
	output string
	err    error
}

func (e *dryRunError) Error() string {
	return "lockstep " + strings.Join(e.args, " ") + " --dry-run: " + e.err.Error() + "\n" + e.output
}

// helpOf returns `lockstep SUBCOMMAND --help`.
func helpOf(subcommand string) (string, error) {
	output, err := exec.Command(lockstepBinary, subcommand, "--help").CombinedOutput()
	return string(output), err
}
