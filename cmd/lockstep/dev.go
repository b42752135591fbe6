package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/server"
)

func init() { register(newDevCommand) }

// devMember is one member of the development cluster: etcd's usual local
// ports (as in its Procfile), so stock tools find it.
type devMember struct {
	name                  string
	client, peer, metrics int
}

var devMembers = []devMember{
	{"dev1", 2379, 2380, 2381},
	{"dev2", 22379, 22380, 22381},
	{"dev3", 32379, 32380, 32381},
}

func newDevCommand() *cobra.Command {
	var dataDir, logLevel string
	command := &cobra.Command{
		Use:   "dev",
		Short: "Run a 3-member cluster on 127.0.0.1 until Ctrl-C (data kept for the next run)",
		Long: `dev starts three lockstep members in this process, on 127.0.0.1 ports 2379/22379/32379
(clients) and 2380/22380/32380 (peers), prints the endpoints and an etcdctl line to try,
and runs until Ctrl-C, when it stops them cleanly. Data lives in --data-dir, so a second
run picks up where the first stopped.`,
		Args: cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(command.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, command.OutOrStdout(), command.ErrOrStderr(), dataDir, logLevel)
		},
	}
	command.Flags().StringVar(&dataDir, "data-dir", "lockstep-dev", "directory holding the three members' data")
	command.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the members: debug, info, warn or error")
	return command
}

func runDev(ctx context.Context, out, logOutput io.Writer, dataDir, logLevel string) error {
	logger, err := newLogger(logOutput, "text", logLevel)
	if err != nil {
		return &exitError{code: 2, message: err.Error()}
	}
	cluster := map[string][]string{}
	for _, member := range devMembers {
		cluster[member.name] = []string{fmt.Sprintf("http://127.0.0.1:%d", member.peer)}
	}
	members := make([]*server.Server, len(devMembers))
	defer func() {
		// Members stop side by side: handing leadership around a cluster
		// that is stopping as a whole would only wait on stopped peers.
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var group sync.WaitGroup
		for _, member := range members {
			if member != nil {
				group.Go(func() { member.Stop(shutdown) })
			}
		}
		group.Wait()
	}()
	var endpoints []string
	errs := make([]error, len(devMembers))
	var group sync.WaitGroup
	for i, member := range devMembers {
		client := fmt.Sprintf("http://127.0.0.1:%d", member.client)
		config := server.Config{
			Name: member.name, DataDirectory: filepath.Join(dataDir, member.name),
			ListenClientURLs: []string{client}, ListenPeerURLs: cluster[member.name],
			ListenMetricsURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", member.metrics)},
			InitialCluster:    cluster, InitialClusterToken: "lockstep-dev",
			Logger: logger,
		}
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", member.client))
		group.Go(func() { members[i], errs[i] = server.Start(config) })
	}
	group.Wait()
	for i, err := range errs {
		if err != nil {
			return &exitError{code: 1, message: fmt.Sprintf("dev: start %s: %v (is another cluster using these ports?)", devMembers[i].name, err)}
		}
	}
	absolute, _ := filepath.Abs(dataDir)
	fmt.Fprintf(out, "lockstep dev: 3 members running, data in %s\n", absolute)
	fmt.Fprintf(out, "  endpoints: %s\n", strings.Join(endpoints, ","))
	for _, member := range devMembers {
		fmt.Fprintf(out, "  %s: client 127.0.0.1:%d, peer 127.0.0.1:%d, admin http://127.0.0.1:%d/metrics\n", member.name, member.client, member.peer, member.metrics)
	}
	fmt.Fprintf(out, "try:\n  etcdctl --endpoints=%s put greeting hello\n  etcdctl --endpoints=%s get greeting\n  lockstep status --endpoints=%s\n",
		strings.Join(endpoints, ","), strings.Join(endpoints, ","), strings.Join(endpoints, ","))
	fmt.Fprintln(out, "Ctrl-C stops the cluster.")
	<-ctx.Done()
	fmt.Fprintln(out, "lockstep dev: stopping")
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
