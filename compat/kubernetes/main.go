// Command kubernetes runs Kubernetes' storage conformance suite — the
// RunTest* functions of k8s.io/apiserver/pkg/storage/testing, wired in
// ./suite to Kubernetes' etcd3 store — against etcd 3.7.3 (the control)
// and against lockstep with one and with three members, each on clusters
// it starts on free 127.0.0.1 ports and stops when done, and prints a pass
// table: a row per test case, a column per system.
//
// Usage, from compat/kubernetes:
//
//	go run . [-systems etcd,lockstep-1,lockstep-3] [-run REGEXP] [-all] [-v]
//
// lockstep is built from the repository (go build ./cmd/lockstep) unless
// -lockstep or $LOCKSTEP_BINARY names a binary; etcd is -etcd, else
// $LOCKSTEP_ETCD_BIN (the binary or its directory), else what
// tools/build-etcd builds. It exits 0 when every case ran, whatever the
// outcomes (the table is the result), or with -strict only when every case
// passed; 1 when a system could not be run (or, with -strict, a case did
// not pass); 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockstepdb/lockstep/compat/kubernetes/cluster"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		systemsFlag = flag.String("systems", "etcd,lockstep-1,lockstep-3", "systems to run, comma separated, in column order")
		lockstep    = flag.String("lockstep", os.Getenv("LOCKSTEP_BINARY"), "lockstep binary (default $LOCKSTEP_BINARY, else built from the repository)")
		etcd        = flag.String("etcd", "", "etcd binary (default $LOCKSTEP_ETCD_BIN, the binary or its directory, else tools/build-etcd's)")
		runPattern  = flag.String("run", "", "run only the cases matching this regular expression (go test -run)")
		timeout     = flag.Duration("timeout", 10*time.Minute, "bound on each system's run, clusters included")
		allRows     = flag.Bool("all", false, "print a row for every subtest, not only those that did not pass everywhere")
		verbose     = flag.Bool("v", false, "echo the suite's output to standard error")
		keepFiles   = flag.Bool("keep", false, "keep the clusters' data and logs")
		strict      = flag.Bool("strict", false, "exit 1 unless every case passed on every system (a skipped case does not count as passed), for CI")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		return 2
	}
	var systems []cluster.System
	for _, name := range strings.Split(*systemsFlag, ",") {
		system, err := cluster.LookupSystem(strings.TrimSpace(name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		systems = append(systems, system)
	}

	// Ctrl-C cancels: every run stops its processes by their ids.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()

	root, err := cluster.RepositoryRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	workDirectory, err := os.MkdirTemp("", "k8s-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The outputs stay for reading; the binaries go.
	defer os.Remove(filepath.Join(workDirectory, "suite.test"))
	defer os.Remove(filepath.Join(workDirectory, "lockstep"))

	fmt.Fprintln(os.Stderr, "building the suite...")
	settings := runSettings{
		testBinary: filepath.Join(workDirectory, "suite.test"),
		runPattern: *runPattern,
		timeout:    *timeout,
		verbose:    *verbose,
		keepFiles:  *keepFiles,
		outputDir:  workDirectory,
	}
	moduleDirectory := filepath.Join(root, "compat", "kubernetes")
	if err := runIn(ctx, moduleDirectory, "go", "test", "-c", "-o", settings.testBinary, "./suite"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The converter of the suite's output to events, as go test -json
	// uses it (the toolchain builds its tools on demand).
	settings.test2json = filepath.Join(workDirectory, "test2json")
	defer os.Remove(settings.test2json)
	if err := runIn(ctx, moduleDirectory, "go", "build", "-o", settings.test2json, "cmd/test2json"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubernetesVersion, err := output(ctx, moduleDirectory, "go", "list", "-m", "-f", "{{.Version}}", "k8s.io/apiserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	binaries := map[cluster.Kind]string{}
	versions := map[cluster.Kind]string{}
	for _, system := range systems {
		if binaries[system.Kind] != "" {
			continue
		}
		var binary, version string
		switch system.Kind {
		case cluster.Etcd:
			binary, err = cluster.EtcdBinary(ctx, *etcd, root)
			if err == nil {
				version, err = cluster.Version(ctx, binary)
			}
		case cluster.Lockstep:
			binary, version = *lockstep, "lockstep "+*lockstep
			if binary == "" {
				fmt.Fprintln(os.Stderr, "building lockstep...")
				binary, err = cluster.BuildLockstep(ctx, root, workDirectory)
				version = "lockstep at " + treeVersion(ctx, root)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		binaries[system.Kind], versions[system.Kind] = binary, version
	}
	preparation := time.Since(started)

	var runs []*systemRun
	exitCode := 0
	for _, system := range systems {
		fmt.Fprintf(os.Stderr, "running the suite against %s (%d member(s))...\n", system.Name, system.Members)
		run := runSystem(ctx, settings, system, binaries[system.Kind])
		runs = append(runs, run)
		if run.err != nil {
			exitCode = 1
			fmt.Fprintf(os.Stderr, "  %s: %v\n", system.Name, run.err)
		} else {
			fmt.Fprintf(os.Stderr, "  %s: %s in %s\n", system.Name, run.results.summary(), run.elapsed.Round(time.Second))
			if *strict && run.results.count(passed, false) != run.results.total(false) {
				exitCode = 1
			}
		}
		if ctx.Err() != nil {
			break
		}
	}

	fmt.Printf("Kubernetes storage conformance: k8s.io/apiserver %s pkg/storage/testing, every RunTest* function, on the etcd3 store over\n", kubernetesVersion)
	for _, run := range runs {
		fmt.Printf("  %-11s %s, %d member(s): %s\n", run.system.Name, versions[run.system.Kind], run.system.Members, run.elapsed.Round(time.Second))
	}
	fmt.Println()
	writeTable(os.Stdout, runs, *allRows)
	writeFailures(os.Stdout, runs)
	fmt.Printf("\ntotal %s (building %s); each run's whole output is in %s\n",
		time.Since(started).Round(time.Second), preparation.Round(time.Second), workDirectory)
	return exitCode
}

// treeVersion names the repository's working tree: its commit, and
// whether files differ from it.
func treeVersion(ctx context.Context, root string) string {
	commit, err := output(ctx, root, "git", "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "an unknown commit"
	}
	if changes, err := output(ctx, root, "git", "status", "--porcelain", "--untracked-files=no"); err == nil && changes != "" {
		return "commit " + commit + " with uncommitted changes"
	}
	return "commit " + commit
}

// runIn runs a command in directory, its output going to standard error.
func runIn(ctx context.Context, directory, name string, arguments ...string) error {
	command := exec.CommandContext(ctx, name, arguments...)
	command.Dir = directory
	command.Stdout, command.Stderr = os.Stderr, os.Stderr
	if err := command.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(arguments, " "), err)
	}
	return nil
}

// output runs a command in directory and returns its trimmed standard
// output.
func output(ctx context.Context, directory, name string, arguments ...string) (string, error) {
	command := exec.CommandContext(ctx, name, arguments...)
	command.Dir = directory
	command.Stderr = os.Stderr
	result, err := command.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(arguments, " "), err)
	}
	return strings.TrimSpace(string(result)), nil
}
