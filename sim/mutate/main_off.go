//go:build !mutation

// Command mutate is the simulator's mutation harness. Its mutations exist
// only in builds with -tags mutation; see hunt.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mutate: the mutations are compiled only with -tags mutation: go run -tags mutation ./sim/mutate")
	os.Exit(2)
}
