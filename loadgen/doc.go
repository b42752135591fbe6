// Package loadgen is a load generator for any server that speaks the etcd
// v3 gRPC API: lockstep's own server or etcd itself, measured by the same
// code so that their figures can be compared.
//
// A caller fills a Config (DefaultConfig gives the defaults of the
// `lockstep bench` command), calls Run, and gets a Result: the count of
// operations, errors by kind, throughput, and the latency of every
// successful operation in a Histogram (log buckets, under 0.4% error) from
// which percentiles, a text histogram and SVG or HTML plots are drawn.
//
// Workloads: put, range (linearizable or serializable), txn-put
// (compare-and-swap on the last mod revision seen), watch-latency (a put,
// then the time until a watcher sees it), mixed (reads and puts in a
// ratio), watch-fanout (one writer's puts delivered to many watchers over
// many streams, each event timed) and big-store (range and put on a small
// store, then on a big one after a long prefill). Every run is bounded by a count of operations, a duration, or
// both; errors are counted, never fatal, once at least one endpoint has
// answered at the start.
package loadgen
