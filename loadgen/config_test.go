package loadgen

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func validConfig() Config {
	config := DefaultConfig()
	config.Endpoints = []string{"127.0.0.1:2379"}
	config.Total = 100
	return config
}

func TestValidateAcceptsTheDefaultsWithEndpointsAndABound(t *testing.T) {
	for _, workload := range Workloads {
		config := validConfig()
		config.Workload = workload
		if err := config.Validate(); err != nil {
			t.Errorf("%s: %v", workload, err)
		}
	}
	config := validConfig()
	config.Total, config.Duration = 0, time.Second
	if err := config.Validate(); err != nil {
		t.Errorf("duration alone: %v", err)
	}
}

func TestValidateNamesTheFlagAndTheProblem(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"unknown workload", func(c *Config) { c.Workload = "get" }, `unknown workload "get": want one of put, range, txn-put, watch-latency, mixed, watch-fanout or big-store`},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, "--endpoints is empty"},
		{"blank endpoint", func(c *Config) { c.Endpoints = []string{"a:1", " "} }, `--endpoints: " " is not a host:port`},
		{"unbounded", func(c *Config) { c.Total = 0 }, "give --total or --duration"},
		{"negative total", func(c *Config) { c.Total = -1 }, "--total -1 must not be negative"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "--duration -1s must not be negative"},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, "--warmup -1s must not be negative"},
		{"no clients", func(c *Config) { c.Clients = 0 }, "--clients 0 must be between 1 and 100000"},
		{"no connections", func(c *Config) { c.Connections = 0 }, "--conns 0 must be at least 1"},
		{"more connections than clients", func(c *Config) { c.Clients, c.Connections = 10, 100 }, "--conns 100 is more than --clients 10"},
		{"short keys", func(c *Config) { c.KeySize, c.KeySpace = 3, 10000 }, "--key-size 3 cannot hold 10000 distinct keys of --key-space: it needs at least 4 bytes"},
		{"watch keys", func(c *Config) {
			c.Workload, c.KeySize, c.Clients, c.Connections = WorkloadWatchLatency, 2, 1000, 10
		}, "--key-size 2 cannot hold 1000 distinct keys of --clients (watch-latency gives each client its own key): it needs at least 3 bytes"},
		{"empty key space", func(c *Config) { c.KeySpace = 0 }, "--key-space 0 must be between 1 and"},
		{"txn-put key space", func(c *Config) { c.Workload, c.KeySpace = WorkloadTxnPut, 20_000_000 }, "--key-space 20000000 is too large for txn-put"},
		{"zero key size", func(c *Config) { c.KeySize = 0 }, "--key-size 0 must be between 1 and"},
		{"huge value", func(c *Config) { c.ValueSize = 2 << 20 }, "--val-size 2097152 must be between 0 and 1048576"},
		{"consistency", func(c *Config) { c.Consistency = "linearizable" }, `--consistency "linearizable" must be l (linearizable) or s (serializable)`},
		{"read ratio", func(c *Config) { c.ReadRatio = 1.5 }, "--read-ratio 1.5 must be between 0 and 1"},
		{"cert without key", func(c *Config) { c.TLS.Cert = "client.pem" }, "--cert and --key go together"},
		{"dial timeout", func(c *Config) { c.DialTimeout = 0 }, "--dial-timeout 0s must be positive"},
		{"user without password", func(c *Config) { c.User = "alice" }, `--user "alice" must be name:password`},
		{"operation timeout", func(c *Config) { c.OperationTimeout = 0 }, "--op-timeout 0s must be positive"},
		{"no watchers", func(c *Config) { c.Workload, c.Watchers = WorkloadWatchFanout, 0 }, "--watchers 0 must be between 1 and 1000000"},
		{"more streams than watchers", func(c *Config) { c.Workload, c.Watchers, c.Streams = WorkloadWatchFanout, 10, 20 }, "--streams 20 must be between 1 and --watchers 10"},
		{"fan-out connections", func(c *Config) { c.Workload, c.Streams, c.Connections = WorkloadWatchFanout, 10, 11 }, "--conns 11 is more than --clients 1 and --streams 10"},
		{"fan-out values", func(c *Config) { c.Workload, c.ValueSize = WorkloadWatchFanout, 15 }, "--val-size 15 is too small for watch-fanout: each value starts with its 16-byte send time"},
		{"small store", func(c *Config) { c.Workload, c.SmallKeySpace = WorkloadBigStore, 1001 }, "--small-key-space 1001 must be between 1 and --key-space 1000"},
		{"big store unfilled", func(c *Config) { c.Workload, c.Prefill = WorkloadBigStore, false }, "--prefill=false: big-store is measured on the stores its prefills make"},
	}
	for _, test := range cases {
		config := validConfig()
		test.change(&config)
		err := config.Validate()
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one containing %q", test.name, err, test.want)
		}
	}
}

func TestKeysArePaddedToTheKeySize(t *testing.T) {
	format := keyFormat{size: 6}
	for index, want := range map[int]string{0: "000000", 42: "000042", 999999: "999999"} {
		if got := format.key(index); got != want {
			t.Errorf("key(%d) = %q, want %q", index, got, want)
		}
	}
	config := validConfig()
	config.SequentialKeys, config.KeySpace = true, 3
	var counter atomic.Uint64
	first, second := newKeyChooser(config, 0, &counter), newKeyChooser(config, 1, &counter)
	var got []int
	for range 3 {
		got = append(got, first.choose(), second.choose())
	}
	if want := []int{0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("sequential keys over two workers = %v, want %v", got, want)
	}
	config.SequentialKeys, config.KeySpace = false, 10
	random := newKeyChooser(config, 0, &counter)
	for range 1000 {
		if k := random.choose(); k < 0 || k >= 10 {
			t.Fatalf("random key %d outside [0, 10)", k)
		}
	}
	if value := makeValue(300); len(value) != 300 || strings.Count(value, value[:1]) == 300 {
		t.Fatalf("makeValue(300) gave %d bytes of one letter", len(value))
	}
}
