package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// lockstepModule is the module path of the repository this module lives in.
const lockstepModule = "github.com/lockstepdb/lockstep"

// RepositoryRoot returns the lockstep checkout around directory: the
// nearest directory at or above it whose go.mod declares lockstep's module.
func RepositoryRoot(directory string) (string, error) {
	directory, err := filepath.Abs(directory)
	if err != nil {
		return "", err
	}
	for {
		goMod, err := os.ReadFile(filepath.Join(directory, "go.mod"))
		if err == nil && moduleLine(goMod) == lockstepModule {
			return directory, nil
		}
		parent := filepath.Dir(directory)
		if parent == directory {
			return "", fmt.Errorf("cluster: no go.mod of module %s above the working directory", lockstepModule)
		}
		directory = parent
	}
}

// moduleLine returns the module path a go.mod declares.
func moduleLine(goMod []byte) string {
	for _, line := range strings.Split(string(goMod), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "module" {
			return fields[1]
		}
	}
	return ""
}

// EtcdBinary returns the etcd executable to run: explicit when not empty;
// else $LOCKSTEP_ETCD_BIN, the executable itself or the directory holding
// it (the repository's convention, see internal/etcdbin); else the one
// that root's tools/build-etcd builds (v3.7.3 from the Go module proxy,
// reused when up to date).
func EtcdBinary(ctx context.Context, explicit, root string) (string, error) {
	if explicit != "" {
		return executable(explicit)
	}
	if fromEnvironment := os.Getenv("LOCKSTEP_ETCD_BIN"); fromEnvironment != "" {
		if info, err := os.Stat(fromEnvironment); err == nil && info.IsDir() {
			fromEnvironment = filepath.Join(fromEnvironment, "etcd")
		}
		return executable(fromEnvironment)
	}
	directory, err := run(ctx, root, filepath.Join(root, "tools", "build-etcd"), "--with-etcd")
	if err != nil {
		return "", err
	}
	return executable(filepath.Join(strings.TrimSpace(directory), "etcd"))
}

// BuildLockstep builds root's cmd/lockstep into directory and returns the
// executable's path.
func BuildLockstep(ctx context.Context, root, directory string) (string, error) {
	binary := filepath.Join(directory, "lockstep")
	if _, err := run(ctx, root, "go", "build", "-o", binary, "./cmd/lockstep"); err != nil {
		return "", err
	}
	return binary, nil
}

// Version returns the first line that `binary --version` prints (etcd's
// "etcd Version: 3.7.3").
func Version(ctx context.Context, binary string) (string, error) {
	output, err := run(ctx, ".", binary, "--version")
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(strings.TrimSpace(output), "\n")
	return first, nil
}

// executable returns path made absolute if it names an executable file.
func executable(path string) (string, error) {
	absolute, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	info, err := os.Stat(absolute)
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("cluster: %s is not an executable file", absolute)
	}
	return absolute, nil
}

// run runs a command in directory and returns its standard output; the
// error carries its standard error.
func run(ctx context.Context, directory, name string, arguments ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	command := exec.CommandContext(ctx, name, arguments...)
	command.Dir = directory
	command.Stdout, command.Stderr = &stdout, &stderr
	if err := command.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(arguments, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
