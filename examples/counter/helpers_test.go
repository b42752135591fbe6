package main

import "os"

func exampleDir() string {
	dir, err := os.MkdirTemp("", "lockstep-counter-test-")
	if err != nil {
		panic(err)
	}
	return dir
}
