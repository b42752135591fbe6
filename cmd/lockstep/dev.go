package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/web"
	"github.com/lockstepdb/lockstep/web/devcluster"
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
	var dataDir, logLevel, dashboardAddress string
	command := &cobra.Command{
		Use:   "dev",
		Short: "Run a 3-member cluster on 127.0.0.1 until Ctrl-C (data kept for the next run)",
		Long: `dev starts three lockstep members in this process, on 127.0.0.1 ports 2379/22379/32379
(clients) and 2380/22380/32380 (peers), prints the endpoints and an etcdctl line to try,
serves a live dashboard of the whole cluster (with buttons to stop and restart
members, partition one away and transfer leadership) on --dashboard, and runs
until Ctrl-C, when it stops them cleanly. Data lives in --data-dir, so a second
run picks up where the first stopped.`,
		Args: cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(command.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, command.OutOrStdout(), command.ErrOrStderr(), dataDir, logLevel, dashboardAddress)
		},
	}
	command.Flags().StringVar(&dataDir, "data-dir", "lockstep-dev", "directory holding the three members' data")
	command.Flags().StringVar(&dashboardAddress, "dashboard", "127.0.0.1:2378", "address of the whole-cluster dashboard (with stop, restart, partition and transfer buttons)")
	command.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the members: debug, info, warn or error")
	return command
}

func runDev(ctx context.Context, out, logOutput io.Writer, dataDir, logLevel, dashboardAddress string) error {
	logger, err := newLogger(logOutput, "text", logLevel)
	if err != nil {
		return &exitError{code: 2, message: err.Error()}
	}
	config := devcluster.Config{DataDirectory: dataDir, Logger: logger}
	for _, member := range devMembers {
		config.Members = append(config.Members, devcluster.Member{Name: member.name, Client: member.client, Peer: member.peer, Admin: member.metrics})
	}
	// The dashboard listens before the members start, so a busy port
	// fails fast and leaves no member running.
	listener, err := net.Listen("tcp", dashboardAddress)
	if err != nil {
		return &exitError{code: 1, message: fmt.Sprintf("dev: dashboard: %v (is another cluster running?)", err)}
	}
	cluster, err := devcluster.Start(config)
	if err != nil {
		listener.Close()
		return &exitError{code: 1, message: fmt.Sprintf("dev: %v (is another cluster using these ports?)", err)}
	}
	dashboard := &http.Server{Handler: cluster.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- dashboard.Serve(listener) }()
	defer func() {
		// The event streams stay open: close rather than shut down.
		dashboard.Close()
		<-served
		// Members stop side by side: handing leadership around a cluster
		// that is stopping as a whole would only wait on stopped peers.
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cluster.Stop(shutdown)
	}()
	var endpoints []string
	for _, member := range devMembers {
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", member.client))
	}
	absolute, _ := filepath.Abs(dataDir)
	fmt.Fprintf(out, "lockstep dev: 3 members running, data in %s\n", absolute)
	fmt.Fprintf(out, "  dashboard: http://%s%s (playground: http://%s%splayground)\n", listener.Addr(), web.Prefix, listener.Addr(), web.Prefix)
	fmt.Fprintf(out, "  endpoints: %s\n", strings.Join(endpoints, ","))
	for _, member := range devMembers {
		fmt.Fprintf(out, "  %s: client 127.0.0.1:%d, peer 127.0.0.1:%d, admin http://127.0.0.1:%d/metrics\n", member.name, member.client, member.peer, member.metrics)
	}
	fmt.Fprintf(out, "try:\n  etcdctl --endpoints=%s put greeting hello\n  etcdctl --endpoints=%s get greeting\n  %s status --endpoints=%s\n",
		strings.Join(endpoints, ","), strings.Join(endpoints, ","), invocation(), strings.Join(endpoints, ","))
	fmt.Fprintln(out, "Ctrl-C stops the cluster.")
	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err // for the deferred wait
		return fmt.Errorf("dev: dashboard stopped serving: %w", err)
	}
	fmt.Fprintln(out, "lockstep dev: stopping")
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
