package validate

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// repositoryRoot is the lockstep repository this module sits in.
const repositoryRoot = "../.."

// lockstepBinary is the binary tools/build-lockstep built for this run.
var lockstepBinary string

// TestMain builds lockstep once, the way the Dockerfile and CI build it.
func TestMain(m *testing.M) {
	directory, err := os.MkdirTemp("", "lockstep-deploy-validate")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lockstepBinary = filepath.Join(directory, "lockstep")
	build := exec.Command(filepath.Join(repositoryRoot, "tools", "build-lockstep"), lockstepBinary)
	build.Stderr = os.Stderr // its stdout is only the path
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tools/build-lockstep:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(directory)
	os.Exit(code)
}

// The image's base (alpine) has no Go runtime dependencies and no glibc:
// the binary must be static.
func TestBinaryIsStatic(t *testing.T) {
	file, err := elf.Open(lockstepBinary)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, program := range file.Progs {
		if program.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	libraries, err := file.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libraries) != 0 {
		t.Fatalf("the binary needs shared libraries %v", libraries)
	}
}
