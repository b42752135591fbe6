// Command buildwasm builds the playground's WebAssembly binary into
// web/assets/playground.wasm and copies the Go toolchain's wasm_exec.js
// (the loader the binary needs, which must match the Go version) next to
// it. Run it with `go generate ./web` from the repository root after
// changing web/playground, web/wasm or raft/, and commit both files.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "buildwasm:", err)
		os.Exit(1)
	}
}

func build() error {
	// go generate runs in the package's directory: web/.
	command := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join("assets", "playground.wasm"), "./wasm")
	command.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	command.Stdout, command.Stderr = os.Stdout, os.Stderr
	if err := command.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	loader, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("read wasm_exec.js (Go %s): %w", runtime.Version(), err)
	}
	return os.WriteFile(filepath.Join("assets", "wasm_exec.js"), loader, 0o644)
}
