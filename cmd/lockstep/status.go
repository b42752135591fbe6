package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/loadgen"
)

func init() { register(newStatusCommand) }

// statusOptions are lockstep status's flags.
type statusOptions struct {
	endpoints          []string
	timeout            time.Duration
	tlsFiles           loadgen.TLSFiles
	insecureSkipVerify bool
	// user and password authenticate with etcd's auth, as etcdctl's
	// --user NAME[:PASSWORD] and --password do.
	user, password string
}

func newStatusCommand() *cobra.Command {
	var options statusOptions
	var endpoints string
	command := &cobra.Command{
		Use:   "status",
		Short: "Show each member's role, term, leader, commit and applied index, store size and errors",
		Long: `status asks every endpoint for its status and prints one row per endpoint. An
endpoint is host:port, http://host:port, https://host:port, unix://path or
unixs://path, as for etcdctl; host:port uses TLS when --cacert, --cert or
--insecure-skip-tls-verify is given. An endpoint that does not answer gets a row
that says why: connection refused (nothing listens there), a TLS failure (and
which), or a timeout.`,
		Args: cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			if name, password, found := strings.Cut(options.user, ":"); found {
				if options.password != "" {
					return &exitError{code: 2, message: "status: --user holds a password and --password is given too"}
				}
				options.user, options.password = name, password
			}
			if options.password != "" && options.user == "" {
				return &exitError{code: 2, message: "status: --password needs --user"}
			}
			options.endpoints = splitURLs(endpoints)
			if len(options.endpoints) == 0 {
				return &exitError{code: 2, message: "status: --endpoints must name at least one endpoint"}
			}
			return printStatus(command.Context(), command.OutOrStdout(), options)
		},
	}
	flags := command.Flags()
	flags.StringVar(&endpoints, "endpoints", "127.0.0.1:2379", "comma-separated client endpoints (host:port, http://, https://, unix:// or unixs://)")
	flags.DurationVar(&options.timeout, "timeout", 5*time.Second, "time allowed for each endpoint to answer")
	flags.StringVar(&options.tlsFiles.CACert, "cacert", "", "verify members' certificates with this CA bundle (PEM)")
	flags.StringVar(&options.tlsFiles.Cert, "cert", "", "client certificate (PEM) for members that require one")
	flags.StringVar(&options.tlsFiles.Key, "key", "", "client key (PEM) for --cert")
	flags.BoolVar(&options.insecureSkipVerify, "insecure-skip-tls-verify", false, "use TLS without verifying members' certificates")
	flags.StringVar(&options.user, "user", "", "NAME[:PASSWORD] of the auth user to ask as, when auth is enabled (as etcdctl's --user)")
	flags.StringVar(&options.password, "password", "", "the password of --user, if --user does not hold it")
	return command
}

// statusEndpoint is one endpoint as dialled: network and address, whether
// it uses TLS, and the endpoint string for the etcd client.
type statusEndpoint struct {
	given, network, address, clientEndpoint string
	secure                                  bool
}

// parseStatusEndpoint reads an endpoint in any of etcdctl's forms.
func parseStatusEndpoint(given string, tlsByDefault bool) (statusEndpoint, error) {
	endpoint := statusEndpoint{given: given, network: "tcp"}
	scheme, rest, hasScheme := strings.Cut(given, "://")
	if !hasScheme {
		scheme, rest = "http", given
		if tlsByDefault {
			scheme = "https"
		}
	}
	switch scheme {
	case "http", "https":
		parsed, err := url.Parse(scheme + "://" + rest)
		if err != nil || parsed.Host == "" || parsed.Port() == "" || (parsed.Path != "" && parsed.Path != "/") {
			return statusEndpoint{}, fmt.Errorf("endpoint %q: want host:port or %s://host:port", given, scheme)
		}
		endpoint.address = parsed.Host
	case "unix", "unixs":
		if rest == "" {
			return statusEndpoint{}, fmt.Errorf("endpoint %q: want %s://path", given, scheme)
		}
		endpoint.network, endpoint.address = "unix", rest
	default:
		return statusEndpoint{}, fmt.Errorf("endpoint %q: scheme must be http, https, unix or unixs", given)
	}
	endpoint.secure = scheme == "https" || scheme == "unixs"
	endpoint.clientEndpoint = scheme + "://" + endpoint.address
	return endpoint, nil
}

// endpointStatus is what one endpoint said, or why it did not.
type endpointStatus struct {
	endpoint statusEndpoint
	status   *clientv3.StatusResponse
	members  *clientv3.MemberListResponse
	failure  string
}

// printStatus asks every endpoint, side by side, for its Status and its
// member list (serializable, so a member without a leader still names
// everyone), and prints one aligned row per endpoint; an endpoint that
// does not answer gets a row saying why, named from the others' lists.
func printStatus(ctx context.Context, out io.Writer, options statusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	tlsConfig, err := options.tlsFiles.ClientConfig()
	if err != nil {
		return &exitError{code: 2, message: "status: " + err.Error()}
	}
	if options.insecureSkipVerify {
		if tlsConfig == nil {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tlsConfig.InsecureSkipVerify = true
	}
	endpoints := make([]statusEndpoint, len(options.endpoints))
	for i, given := range options.endpoints {
		if endpoints[i], err = parseStatusEndpoint(given, tlsConfig != nil); err != nil {
			return &exitError{code: 2, message: "status: " + err.Error()}
		}
	}
	results := make([]endpointStatus, len(endpoints))
	var group sync.WaitGroup
	for i, endpoint := range endpoints {
		group.Go(func() { results[i] = askEndpoint(ctx, endpoint, tlsConfig, options) })
	}
	group.Wait()

	names := map[uint64]string{}
	idsByAddress := map[string]uint64{}
	for _, result := range results {
		if result.members == nil {
			continue
		}
		for _, member := range result.members.Members {
			if member.Name != "" {
				names[member.ID] = member.Name
			}
			for _, clientURL := range member.ClientURLs {
				if parsed, err := url.Parse(clientURL); err == nil {
					idsByAddress[parsed.Host] = member.ID
				}
			}
		}
	}
	table := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "ENDPOINT\tNAME\tID\tROLE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tREVISION\tDB SIZE\tIN USE\tERROR")
	failures := 0
	for _, result := range results {
		if result.status == nil {
			failures++
			name, id := "-", "-"
			if memberID, ok := idsByAddress[result.endpoint.address]; ok {
				id = fmt.Sprintf("%x", memberID)
				if names[memberID] != "" {
					name = names[memberID]
				}
			}
			fmt.Fprintf(table, "%s\t%s\t%s\tunreachable\t-\t-\t-\t-\t-\t-\t-\t%s\n", result.endpoint.given, name, id, strings.ReplaceAll(result.failure, "\t", " "))
			continue
		}
		status := result.status
		role := "follower"
		switch {
		case status.IsLearner:
			role = "learner"
		case status.Leader == status.Header.MemberId:
			role = "leader"
		case status.Leader == 0:
			role = "no leader"
		}
		name := names[status.Header.MemberId]
		if name == "" {
			name = "-" // a member added but not yet started has no name
		}
		leader := "-"
		if status.Leader != 0 {
			leader = fmt.Sprintf("%x", status.Leader)
		}
		// Alarms, a full disk, a failed log: what the member says is wrong.
		problems := "-"
		if len(status.Errors) > 0 {
			problems = strings.ReplaceAll(strings.Join(status.Errors, "; "), "\t", " ")
		}
		fmt.Fprintf(table, "%s\t%s\t%x\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", result.endpoint.given, name, status.Header.MemberId,
			role, status.RaftTerm, leader, status.RaftIndex, status.RaftAppliedIndex, status.Header.Revision, status.DbSize, status.DbSizeInUse, problems)
	}
	table.Flush()
	if failures == len(endpoints) {
		return &exitError{code: 1, message: "status: no endpoint answered"}
	}
	return nil
}

// askEndpoint connects to one endpoint itself first, so that a refused
// connection and a failed TLS handshake are reported as such at once, then
// asks it for its Status and member list within timeout.
func askEndpoint(ctx context.Context, endpoint statusEndpoint, tlsConfig *tls.Config, options statusOptions) endpointStatus {
	timeout := options.timeout
	result := endpointStatus{endpoint: endpoint}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if endpoint.secure && tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12} // the system's roots
	}
	if failure := probeEndpoint(ctx, endpoint, tlsConfig, timeout); failure != "" {
		result.failure = failure
		return result
	}
	config := clientv3.Config{Endpoints: []string{endpoint.clientEndpoint}, DialTimeout: timeout, Logger: zap.NewNop(),
		Username: options.user, Password: options.password}
	if endpoint.secure {
		config.TLS = tlsConfig
	}
	client, err := clientv3.New(config)
	if err != nil {
		result.failure = err.Error()
		return result
	}
	defer client.Close()
	result.status, err = client.Status(ctx, endpoint.clientEndpoint)
	if err != nil {
		result.status = nil
		result.failure = describeAnswerFailure(ctx, endpoint, timeout, err)
		return result
	}
	result.members, _ = client.MemberList(ctx, clientv3.WithSerializable())
	return result
}

// probeEndpoint opens a connection (and, for TLS, completes a handshake)
// and returns why that failed, or "".
func probeEndpoint(ctx context.Context, endpoint statusEndpoint, tlsConfig *tls.Config, timeout time.Duration) string {
	var dialer net.Dialer
	connection, err := dialer.DialContext(ctx, endpoint.network, endpoint.address)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens there (is the member stopped, or is this not its client URL?)"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("timed out after %v connecting", timeout)
	case err != nil:
		return "cannot connect: " + err.Error()
	}
	defer connection.Close()
	if !endpoint.secure {
		return ""
	}
	config := tlsConfig.Clone()
	if config.ServerName == "" && endpoint.network == "tcp" {
		host, _, _ := net.SplitHostPort(endpoint.address)
		config.ServerName = host
	}
	session := tls.Client(connection, config)
	if err := session.HandshakeContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return fmt.Sprintf("timed out after %v in the TLS handshake (is the member serving TLS?)", timeout)
		}
		return "TLS failure: " + describeTLSError(err)
	}
	return ""
}

// describeTLSError adds the flag that usually fixes a handshake failure.
func describeTLSError(err error) string {
	message := err.Error()
	switch {
	case strings.Contains(message, "certificate signed by unknown authority"):
		return message + " (give the members' CA with --cacert)"
	case strings.Contains(message, "first record does not look like a TLS handshake"):
		return message + " (the member serves plaintext: use http://)"
	case strings.Contains(message, "certificate required") || strings.Contains(message, "bad certificate"):
		return message + " (the member requires a client certificate: --cert and --key)"
	}
	return message
}

// describeAnswerFailure says why a member that accepted the connection did
// not answer: a plaintext request to a member that serves TLS is told
// apart from a member that is just slow.
func describeAnswerFailure(ctx context.Context, endpoint statusEndpoint, timeout time.Duration, err error) string {
	if !endpoint.secure && speaksTLS(endpoint, timeout) {
		return "the member serves TLS: use https:// (with --cacert)"
	}
	if ctx.Err() != nil {
		return fmt.Sprintf("timed out after %v waiting for an answer", timeout)
	}
	return err.Error()
}

// speaksTLS reports whether the endpoint completes a TLS handshake (without
// verifying its certificate: this only tells the protocol).
func speaksTLS(endpoint statusEndpoint, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, 2*time.Second))
	defer cancel()
	var dialer net.Dialer
	connection, err := dialer.DialContext(ctx, endpoint.network, endpoint.address)
	if err != nil {
		return false
	}
	defer connection.Close()
	session := tls.Client(connection, &tls.Config{InsecureSkipVerify: true}) // a protocol probe, nothing is sent
	err = session.HandshakeContext(ctx)
	var alert tls.AlertError
	return err == nil || errors.As(err, &alert) // an alert (certificate required) is TLS too
}

func isTimeout(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}
