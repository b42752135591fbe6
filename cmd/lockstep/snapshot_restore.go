package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/server"
)

func newSnapshotRestoreCommand() *cobra.Command {
	// serve's flags, with serve's defaults: restore validates the member's
	// configuration as serve will.
	flags := &serveFlags{}
	serveFlagSet := newServeCommandWith(flags).Flags()
	command := &cobra.Command{
		Use:   "restore FILE",
		Short: "Create a member's data directory for a new cluster from a backup",
		Long: `restore creates --data-dir for member --name of a new cluster, whose members are
--initial-cluster, holding the state of the backup. Run it for every member with
the same backup, --initial-cluster and --initial-cluster-token, then start each
member with lockstep serve and the same flags. The data directory must not exist
or be empty. --initial-cluster-token is required (it has no default here): give
the new cluster a token its old cluster did not use. A token that gives a new
member the ID of a member in the backup (the old cluster's token with that
member's peer URLs) is refused, so that no member of the old cluster can be
mistaken for one of the new.
Like serve, every flag also reads from its LOCKSTEP_<FLAG> or ETCD_<FLAG> variable.`,
		Example: `  lockstep snapshot restore backup.db --name m1 --data-dir m1.lockstep \
    --initial-cluster m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380 \
    --initial-advertise-peer-urls http://10.0.0.1:2380 --initial-cluster-token restored-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(command *cobra.Command, arguments []string) error {
			warnings, err := applyEnvironment(command.Flags(), os.Environ(), serveFlagSet)
			printWarnings(command.ErrOrStderr(), warnings)
			if err != nil {
				return &exitError{code: 2, message: "snapshot restore: " + err.Error()}
			}
			if !command.Flags().Changed("initial-cluster-token") {
				return &exitError{code: 2, message: "snapshot restore: --initial-cluster-token is required: give the new cluster a token the old one did not use"}
			}
			if flags.advertisePeer != "" {
				flags.listenPeer = flags.advertisePeer
			}
			config, err := flags.config(command.ErrOrStderr())
			if err != nil {
				return &exitError{code: 2, message: "snapshot restore: " + err.Error()}
			}
			info, err := server.RestoreBackup(config, arguments[0])
			if err != nil {
				return &exitError{code: 1, message: "snapshot restore: " + err.Error()}
			}
			fmt.Fprintf(command.OutOrStdout(), "restored %s into %s: revision %d, %d keys; start it with %s serve --name %s --data-dir %s and the same cluster flags\n",
				arguments[0], config.DataDirectory, info.Revision, info.Keys, invocation(), config.Name, config.DataDirectory)
			return nil
		},
	}
	addMemberFlags(command.Flags(), flags)
	// Required, so without serve's default: help shows none, and an
	// unset token is refused rather than defaulted.
	token := command.Flags().Lookup("initial-cluster-token")
	token.DefValue, token.Usage, flags.initialToken = "", "(required) token of the new cluster, one its old cluster did not use", ""
	flags.logLevel = "warn"
	return command
}
