package main

import (
	"fmt"
	"os"
)

// Example runs the counter: 1 + 2 + ... + 100 replicated over three nodes
// on loopback, read back on a follower.
func Example() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	value, err := run(dir, 100)
	fmt.Println(value, err)
	// Output: 5050 <nil>
}
