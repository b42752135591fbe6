// Command lockstep is the command-line face of lockstep: the simulator
// today; the server, benchmark and checker as they land.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lockstep:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "lockstep",
		Short:         "lockstep: a Raft consensus library, server and laboratory",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newSimCommand())
	return root
}

// exitError carries a specific exit status.
type exitError struct {
	code    int
	message string
}

func (e *exitError) Error() string { return e.message }

func exitCode(err error) int {
	if exit, ok := err.(*exitError); ok {
		return exit.code
	}
	return 2
}
