// Command lockstep is the command-line face of lockstep: the simulator,
// the server, the benchmark and the checker, each a subcommand in its own file.
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
	for _, build := range subcommands {
		root.AddCommand(build())
	}
	return root
}

// subcommands holds the constructors of commands that live in their own
// files; each such file registers itself from init with register, so
// adding a command never touches this file.
var subcommands []func() *cobra.Command

// register adds a command constructor to the root command.
func register(build func() *cobra.Command) { subcommands = append(subcommands, build) }

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
