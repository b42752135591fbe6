package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func init() { register(newStatusCommand) }

func newStatusCommand() *cobra.Command {
	var endpoints string
	var timeout time.Duration
	command := &cobra.Command{
		Use:   "status",
		Short: "Show each member's role, term, leader, commit and applied index, store size and errors",
		Args:  cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			list := splitURLs(endpoints)
			if len(list) == 0 {
				return &exitError{code: 2, message: "status: --endpoints must name at least one endpoint"}
			}
			return printStatus(command.Context(), command.OutOrStdout(), list, timeout)
		},
	}
	command.Flags().StringVar(&endpoints, "endpoints", "127.0.0.1:2379", "comma-separated client endpoints (host:port)")
	command.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "time allowed for each endpoint to answer")
	return command
}

// printStatus asks every endpoint for its Status and prints one row per
// member; an endpoint that does not answer gets a row saying why.
func printStatus(ctx context.Context, out io.Writer, endpoints []string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: timeout})
	if err != nil {
		return &exitError{code: 1, message: fmt.Sprintf("status: %v", err)}
	}
	defer client.Close()
	names := map[uint64]string{}
	listCtx, cancel := context.WithTimeout(ctx, timeout)
	if members, err := client.MemberList(listCtx); err == nil {
		for _, member := range members.Members {
			names[member.ID] = member.Name
		}
	}
	cancel()
	table := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "ENDPOINT\tNAME\tID\tROLE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tREVISION\tDB SIZE\tIN USE\tERRORS")
	failures := 0
	for _, endpoint := range endpoints {
		statusCtx, cancel := context.WithTimeout(ctx, timeout)
		status, err := client.Status(statusCtx, endpoint)
		cancel()
		if err != nil {
			failures++
			fmt.Fprintf(table, "%s\t-\t-\tunreachable: %v\n", endpoint, strings.ReplaceAll(err.Error(), "\t", " "))
			continue
		}
		role := "follower"
		switch {
		case status.IsLearner:
			role = "learner"
		case status.Leader == status.Header.MemberId:
			role = "leader"
		case status.Leader == 0:
			role = "no leader"
		}
		// Alarms, a full disk, a failed log: what the member says is wrong.
		problems := "-"
		if len(status.Errors) > 0 {
			problems = strings.ReplaceAll(strings.Join(status.Errors, "; "), "\t", " ")
		}
		fmt.Fprintf(table, "%s\t%s\t%x\t%s\t%d\t%x\t%d\t%d\t%d\t%d\t%d\t%s\n", endpoint, names[status.Header.MemberId], status.Header.MemberId,
			role, status.RaftTerm, status.Leader, status.RaftIndex, status.RaftAppliedIndex, status.Header.Revision, status.DbSize, status.DbSizeInUse, problems)
	}
	table.Flush()
	if failures == len(endpoints) {
		return &exitError{code: 1, message: "status: no endpoint answered"}
	}
	return nil
}
