package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/loadgen"
)

func init() { register(newBenchCommand) }

func newBenchCommand() *cobra.Command {
	config := loadgen.DefaultConfig()
	var (
		jsonOutput bool
		quiet      bool
		plotPath   string
	)
	command := &cobra.Command{
		Use:   "bench WORKLOAD --endpoints HOST:PORT[,...] (--total N | --duration D) [flags]",
		Short: "Load any etcd-v3-API endpoint (lockstep's or etcd's) and measure throughput and latency",
		Long: `bench sends one workload to servers that speak the etcd v3 API, lockstep or
etcd alike, and measures it: operations per second, errors by kind, latency
percentiles (p50, p90, p99, p99.9, max) and a latency histogram.

Workloads:
  put            put a value on a key
  range          read a key (--consistency l: linearizable, s: serializable)
  txn-put        compare-and-swap: a Txn that puts the key if its mod revision is
                 the one last seen, else reads it
  watch-latency  put a key, then time until a watcher on it sees the event
                 (one key and one watch per client)
  mixed          ranges and puts, --read-ratio of them ranges
  watch-fanout   one writer (--clients) puts keys that --watchers watches, spread
                 over --streams watch streams, all receive; the latency is each
                 event's, from the put's sending to its receipt, with events/s
  big-store      range and put on a small store (--small-key-space keys), then
                 prefill a big one (--key-space, default 4,000,000 keys of
                 --val-size, default 1 KiB: 4 GB) and range and put on it

The run stops at --total operations or after --duration, whichever comes
first (one is required). Errors are counted, never fatal; the run fails only
if no endpoint answers at the start. A progress bar is drawn on stderr when
it is a terminal (not with --quiet). See docs/benchmark-method.md.`,
		Example: `  lockstep bench put --endpoints 127.0.0.1:2379 --total 10000
  lockstep bench put --endpoints a:2379,b:2379,c:2379 --conns 100 --clients 1000 --duration 10s --target-leader
  lockstep bench range --consistency s --endpoints 127.0.0.1:2379 --clients 100 --conns 10 --duration 5s --json
  lockstep bench mixed --read-ratio 0.9 --endpoints 127.0.0.1:2379 --total 50000 --plot latency.svg
  lockstep bench watch-fanout --endpoints 127.0.0.1:2379 --watchers 10000 --streams 100 --conns 100 --duration 10s
  lockstep bench big-store --endpoints 127.0.0.1:2379 --key-space 100000 --clients 100 --conns 10 --duration 5s`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("bench takes one workload (put, range, txn-put, watch-latency, mixed, watch-fanout or big-store), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(command *cobra.Command, args []string) error {
			config.Workload = loadgen.Workload(args[0])
			config.ApplyWorkloadDefaults(command.Flags())
			if err := config.Validate(); err != nil {
				return err
			}
			if err := loadgen.CheckFlagUse(command.Flags(), config.Workload); err != nil {
				return err
			}
			if extension := strings.ToLower(filepath.Ext(plotPath)); plotPath != "" && extension != ".svg" && extension != ".html" && extension != ".htm" {
				return fmt.Errorf("--plot %s: the file name must end in .svg or .html", plotPath)
			}
			ctx, stop := signal.NotifyContext(command.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			bar := loadgen.NewProgressBar(command.ErrOrStderr(), config, quiet)
			config.Progress = bar.Update
			result, err := loadgen.Run(ctx, config)
			bar.Finish()
			if err != nil {
				return err
			}
			if err := writeBenchResult(command.OutOrStdout(), result, jsonOutput); err != nil {
				return err
			}
			if plotPath != "" {
				title := fmt.Sprintf("lockstep bench %s: %d clients, %d connections", config.Workload, config.Clients, config.Connections)
				return loadgen.WritePlotFile(plotPath, title, plotSeries(result))
			}
			return nil
		},
	}
	flags := command.Flags()
	config.RegisterFlags(flags)
	flags.BoolVar(&jsonOutput, "json", false, "print the result as one JSON object (fields in docs/benchmark-method.md)")
	flags.StringVar(&plotPath, "plot", "", "also draw the latency distribution into this .svg or .html file")
	flags.BoolVar(&quiet, "quiet", false, "no progress bar")
	return command
}

// writeBenchResult prints result as text or as one line of JSON.
func writeBenchResult(out io.Writer, result *loadgen.Result, asJSON bool) error {
	if !asJSON {
		return result.WriteText(out)
	}
	encoded, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("bench: encoding the result: %w", err)
	}
	_, err = fmt.Fprintf(out, "%s\n", encoded)
	return err
}

// plotSeries returns the latency distributions to plot: the run's, or
// for big-store one per stage.
func plotSeries(result *loadgen.Result) []loadgen.PlotSeries {
	if len(result.Stages) == 0 {
		return []loadgen.PlotSeries{{Name: string(result.Workload), Latencies: result.Latencies()}}
	}
	var series []loadgen.PlotSeries
	for _, stage := range result.Stages {
		series = append(series, loadgen.PlotSeries{Name: stage.Stage, Latencies: stage.Latencies()})
	}
	return series
}
