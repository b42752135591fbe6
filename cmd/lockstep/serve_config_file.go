package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// etcd's configuration file (etcd --config-file): a YAML mapping whose keys
// are etcd's flag names, with the TLS flags nested under
// client-transport-security and peer-transport-security. lockstep serve
// reads it the same way: the keys that name lockstep serve flags set them
// (etcd's settings lockstep has no counterpart for are hidden flags of
// serve, ignored with a warning or refused: serve_etcd_flags.go); the TLS
// blocks map onto lockstep's TLS flags; a key etcd does not know is an
// error (a typo).

// transportSecurityKeys maps a key of client-transport-security (without
// prefix) and peer-transport-security ("peer-" before it) onto the flag it
// sets; "" marks a key lockstep has no counterpart for, accepted only at
// its zero value.
var transportSecurityKeys = map[string]struct{ client, peer string }{
	"cert-file":                    {"cert-file", "peer-cert-file"},
	"key-file":                     {"key-file", "peer-key-file"},
	"client-cert-auth":             {"client-cert-auth", "peer-client-cert-auth"},
	"trusted-ca-file":              {"trusted-ca-file", "peer-trusted-ca-file"},
	"allowed-cn":                   {"", "peer-cert-allowed-cn"},
	"allowed-hostname":             {"", "peer-cert-allowed-hostname"},
	"auto-tls":                     {"", ""},
	"client-cert-file":             {"", ""},
	"client-key-file":              {"", ""},
	"skip-client-san-verification": {"", ""},
}

// refusedEtcdKeys are etcd settings lockstep does not honour and that an
// operator relies on when setting them: where the log lives, skipping
// fsync, rebuilding a cluster from one member, discovery, locked memory.
// Set to anything but their zero value, they are an error.
var refusedEtcdKeys = []string{
	"wal-dir", "force-new-cluster", "unsafe-no-fsync", "discovery-srv", "discovery-srv-name",
	"discovery-config", "memory-mlock",
}

// etcdConfigKeys are the top-level keys etcd 3.7's configuration file
// knows (embed.Config's and configJSON's JSON names).
var etcdConfigKeys = strings.Fields(`advertise-client-urls auth-token auth-token-ttl
	auto-compaction-mode auto-compaction-retention backend-batch-interval backend-batch-limit
	backend-bbolt-freelist-type bcrypt-cost bootstrap-defrag-threshold-megabytes cipher-suites
	client-transport-security compact-hash-check-time compaction-batch-limit
	compaction-sleep-interval corrupt-check-time cors data-dir discovery-config discovery-srv
	discovery-srv-name distributed-tracing-address distributed-tracing-instance-id
	distributed-tracing-sampling-rate distributed-tracing-service-name downgrade-check-time
	election-timeout enable-distributed-tracing enable-grpc-gateway enable-log-rotation
	enable-pprof feature-gates force-new-cluster grpc-additional-server-options
	grpc-keepalive-interval grpc-keepalive-min-time grpc-keepalive-timeout heartbeat-interval
	host-whitelist initial-advertise-peer-urls initial-cluster initial-cluster-state
	initial-cluster-token initial-election-tick-advance listen-client-http-urls
	listen-client-urls listen-metrics-urls listen-peer-urls log-format log-level log-outputs
	log-rotation-config-json logger max-concurrent-streams max-learners max-request-bytes
	max-snapshots max-txn-ops max-wals memory-mlock metrics name peer-transport-security pre-vote
	quota-backend-bytes self-signed-cert-validity snapshot-catchup-entries snapshot-count
	socket-options strict-reconfig-check tls-max-version tls-min-version unsafe-no-fsync
	v2-deprecation wal-dir warning-apply-duration warning-unary-request-duration
	watch-progress-notify-interval`)

// flagsFromConfigFile returns serve's flags as the configuration file
// named by given's --config-file sets them, starting from the defaults,
// with a warning for etcd's settings it ignores: as etcd
// does, the other flags set on the command line (commandLine, their
// names) and the environment's LOCKSTEP_ and ETCD_ variables are ignored,
// with a warning each. --dry-run is kept.
func flagsFromConfigFile(commandLine []string, given *serveFlags, environment []string) (*serveFlags, []string, error) {
	fresh := &serveFlags{}
	known := newServeCommandWith(fresh).Flags()
	if err := applyConfigFile(given.configFile, known); err != nil {
		return nil, nil, err
	}
	warnings, err := etcdOnlySettings(known)
	if err != nil {
		return nil, nil, fmt.Errorf("--config-file %s: %w", given.configFile, err)
	}
	fresh.dryRun, fresh.configFile = given.dryRun, given.configFile
	for _, name := range commandLine {
		if name != "config-file" && name != "dry-run" {
			warnings = append(warnings, fmt.Sprintf("--%s is ignored: --config-file is given, and as with etcd the file alone configures the member", name))
		}
	}
	for _, item := range environment {
		key, _, _ := strings.Cut(item, "=")
		name := flagNameOf(key)
		if (strings.HasPrefix(key, lockstepPrefix) || strings.HasPrefix(key, etcdPrefix)) && known.Lookup(name) != nil && name != "config-file" && name != "dry-run" {
			warnings = append(warnings, fmt.Sprintf("%s is ignored: --config-file is given", key))
		}
	}
	return fresh, warnings, nil
}

// flagNameOf returns the flag name a LOCKSTEP_ or ETCD_ variable names.
func flagNameOf(key string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(key, lockstepPrefix), etcdPrefix)
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// applyConfigFile sets flags (a serve command's, nothing set yet) from the
// etcd configuration file at path. Errors name the file and the key.
func applyConfigFile(path string, flags *pflag.FlagSet) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config-file: %v", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(content, &settings); err != nil {
		return fmt.Errorf("--config-file %s: not YAML: %v", path, err)
	}
	for _, key := range slices.Sorted(maps.Keys(settings)) {
		value := settings[key]
		switch {
		case key == "client-transport-security" || key == "peer-transport-security":
			if err := applyTransportSecurity(path, key, value, flags); err != nil {
				return err
			}
		case key == "log-format" && value == "console":
			// etcd's human-readable format is lockstep's text.
			if err := setFlag(path, key, flags, "log-format", "text"); err != nil {
				return err
			}
		case flags.Lookup(key) == nil || key == "config-file" || key == "dry-run":
			return fmt.Errorf("--config-file %s: unknown key %q (neither etcd nor lockstep has it)", path, key)
		case isZero(value) && !flags.Lookup(key).Hidden:
		default:
			// etcd's settings lockstep lacks are hidden flags: refused
			// or ignored as on the command line (etcdOnlySettings).
			if err := setFlag(path, key, flags, key, value); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyTransportSecurity maps one of etcd's TLS blocks onto the flags.
func applyTransportSecurity(path, block string, value any, flags *pflag.FlagSet) error {
	if isZero(value) {
		return nil
	}
	settings, ok := value.(map[string]any)
	if !ok {
		return fmt.Errorf("--config-file %s: %s must be a mapping", path, block)
	}
	for key, setting := range settings {
		names, known := transportSecurityKeys[key]
		flag := names.client
		if block == "peer-transport-security" {
			flag = names.peer
		}
		switch {
		case !known:
			return fmt.Errorf("--config-file %s: %s: unknown key %q", path, block, key)
		case flag == "" && isZero(setting):
		case flag == "":
			return fmt.Errorf("--config-file %s: %s.%s: lockstep does not support it (see docs/compatibility.md)", path, block, key)
		default:
			if err := setFlag(path, block+"."+key, flags, flag, setting); err != nil {
				return err
			}
		}
	}
	return nil
}

// setFlag sets flag from a YAML value: a list joins with commas (URL
// lists), except a list of one for a flag that takes one value; an
// integer for a duration flag is nanoseconds, as etcd reads its file.
func setFlag(path, key string, flags *pflag.FlagSet, flag string, value any) error {
	if value == nil {
		return nil
	}
	var text string
	switch typed := value.(type) {
	case []any:
		parts := make([]string, len(typed))
		for i, part := range typed {
			parts[i] = fmt.Sprint(part)
		}
		if len(parts) > 1 && strings.HasPrefix(flag, "peer-cert-allowed-") {
			return fmt.Errorf("--config-file %s: %s: lockstep takes one name, got %d", path, key, len(parts))
		}
		text = strings.Join(parts, ",")
	case int:
		text = fmt.Sprint(typed)
		if flags.Lookup(flag).Value.Type() == "duration" {
			text += "ns"
		}
	default:
		text = fmt.Sprint(typed)
	}
	if err := flags.Set(flag, text); err != nil {
		return fmt.Errorf("--config-file %s: %s: %v", path, key, err)
	}
	return nil
}

// isZero reports whether a YAML value is empty: nothing, "", false, 0, or
// an empty list or mapping.
func isZero(value any) bool {
	switch typed := value.(type) {
	case nil:
		return true
	case string:
		return typed == ""
	case bool:
		return !typed
	case int:
		return typed == 0
	case float64:
		return typed == 0
	case []any:
		return len(typed) == 0
	case map[string]any:
		return len(typed) == 0
	}
	return false
}
