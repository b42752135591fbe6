package main

import (
	"runtime"
	"slices"
	"time"
)

// wakeProbe is how long a sleeping thread takes to run once another wakes
// it: the price of every hand-over between goroutines on different
// threads (a message queued for a sender, a write for the log's writer, a
// frame for gRPC's), paid several times per operation at low load. On bare
// metal it is a few microseconds; on a virtual machine, waking a vCPU that
// halted can cost tens.
type wakeProbe struct {
	Wakes int     `json:"wakes"`
	P50Us float64 `json:"p50_us"`
	P99Us float64 `json:"p99_us"`
}

// wakePause is how long the waker waits before each wake, so that the
// other thread is asleep (parked in the kernel) when it is woken.
const wakePause = 300 * time.Microsecond

// measureWake times wakes one goroutine locked to its own thread sends
// another locked to another thread, the receiver noting when it ran.
func measureWake(wakes int) wakeProbe {
	sent := make(chan time.Time)
	delays := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for at := range sent {
			delays <- time.Since(at)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	latencies := make([]time.Duration, 0, wakes)
	for range wakes {
		time.Sleep(wakePause)
		sent <- time.Now()
		latencies = append(latencies, <-delays)
	}
	close(sent)
	slices.Sort(latencies)
	microseconds := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return wakeProbe{Wakes: wakes, P50Us: microseconds(nearestRank(latencies, 50)), P99Us: microseconds(nearestRank(latencies, 99))}
}

// wakeSamples is how many wakes the probe times (about a second).
const wakeSamples = 2000
