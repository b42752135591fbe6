package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockstepdb/lockstep/compat/kubernetes/cluster"
)

// systemRun is one system's run of the suite: a column of the table.
type systemRun struct {
	system cluster.System
	// results are nil when the suite could not run (err says why).
	results *runResults
	err     error
	// notes are what the reader of the table must know about the run.
	notes   []string
	elapsed time.Duration
	// outputPath holds the run's whole output.
	outputPath string
}

// runSettings are what every system's run shares.
type runSettings struct {
	testBinary string // the compiled suite
	test2json  string
	runPattern string        // -test.run, when not empty
	timeout    time.Duration // for the whole run of one system
	verbose    bool          // echo the suite's output to standard error
	keepFiles  bool
	outputDir  string
}

// runSystem deploys system from binary, runs the suite against it and
// stops the deployment, all within settings.timeout.
func runSystem(ctx context.Context, settings runSettings, system cluster.System, binary string) *systemRun {
	run := &systemRun{system: system, outputPath: filepath.Join(settings.outputDir, system.Name+".json")}
	start := time.Now()
	defer func() { run.elapsed = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, settings.timeout)
	defer cancel()

	runDirectory, err := cluster.NewRunDirectory()
	if err != nil {
		run.err = err
		return run
	}
	if settings.keepFiles {
		run.notes = append(run.notes, "cluster files kept in "+runDirectory)
	} else {
		// After the clusters stop (deferred below, so run before this),
		// with whatever the suite's own clusters left if it crashed.
		defer os.RemoveAll(runDirectory)
	}
	deployment, err := cluster.Deploy(ctx, system, binary, runDirectory, settings.keepFiles)
	if err != nil {
		run.err = err
		return run
	}
	defer deployment.Stop()
	if deployment.ProgressErr != nil {
		flag := "--watch-progress-notify-interval"
		if cluster.IsUnknownFlag(deployment.ProgressErr) {
			run.notes = append(run.notes, fmt.Sprintf("the binary does not know %s: the two cases Kubernetes runs with a 1s progress-notify interval (TestOptionalProgressNotify, TestWatchDispatchBookmarkEvents) fail without running", flag))
		} else {
			run.notes = append(run.notes, fmt.Sprintf("the cluster with %s=%s did not start, failing the cases that need it: %v", flag, cluster.ProgressNotifyInterval, deployment.ProgressErr))
		}
	}

	// The suite's own timeout comes first, so that it reports the case
	// that hangs; the context's kill is the backstop.
	suiteTimeout := settings.timeout - time.Since(start) - 30*time.Second
	if suiteTimeout < time.Minute {
		suiteTimeout = time.Minute
	}
	arguments := []string{"-p", "suite", settings.testBinary, "-test.v=test2json", "-test.count=1",
		"-test.timeout=" + suiteTimeout.Round(time.Second).String()}
	if settings.runPattern != "" {
		arguments = append(arguments, "-test.run="+settings.runPattern)
	}
	command := exec.CommandContext(ctx, settings.test2json, arguments...)
	command.Env = append(os.Environ(), deployment.Environment()...)
	command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout or Ctrl-C: the whole process group (test2json and the
	// suite), by its id.
	command.Cancel = func() error { return syscall.Kill(-command.Process.Pid, syscall.SIGKILL) }
	command.WaitDelay = 10 * time.Second
	stdout, err := command.StdoutPipe()
	if err != nil {
		run.err = err
		return run
	}
	outputFile, err := os.Create(run.outputPath)
	if err != nil {
		run.err = err
		return run
	}
	defer outputFile.Close()
	var stderr strings.Builder
	command.Stderr = io.MultiWriter(&stderr, outputFile)
	if err := command.Start(); err != nil {
		run.err = fmt.Errorf("starting the suite: %w", err)
		return run
	}
	var echo io.Writer
	if settings.verbose {
		echo = os.Stderr
	}
	results, readErr := readResults(io.TeeReader(stdout, outputFile), echo)
	waitErr := command.Wait()
	run.results = results
	switch {
	case ctx.Err() != nil:
		run.err = fmt.Errorf("stopped after %s: %w", time.Since(start).Round(time.Second), context.Cause(ctx))
	case readErr != nil:
		run.err = fmt.Errorf("reading the suite's output: %w", readErr)
	case len(results.outcomes) == 0:
		run.err = fmt.Errorf("the suite ran no test (%v): %s", waitErr, strings.TrimSpace(stderr.String()))
	case waitErr != nil && results.count(failed, false) == 0:
		var exit *exec.ExitError
		if !errors.As(waitErr, &exit) {
			run.err = fmt.Errorf("the suite: %w", waitErr)
		} else {
			run.err = fmt.Errorf("the suite exited with %v and no failed test: %s", waitErr, lastLines(results.packageOutput, 5))
		}
	}
	return run
}

// lastLines joins the last count lines.
func lastLines(lines []string, count int) string {
	if len(lines) > count {
		lines = lines[len(lines)-count:]
	}
	return strings.Join(lines, "\n")
}
