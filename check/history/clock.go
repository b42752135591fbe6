package history

import "time"

// Clock gives the run's timestamps: nanoseconds since the run started, from
// the monotonic clock, so call and return times of all clients, watch
// events and faults are comparable. Safe for concurrent use.
type Clock struct{ start time.Time }

// NewClock starts a clock at zero now.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now returns the nanoseconds elapsed since the clock started. It is never
// negative and never goes backwards.
func (clock *Clock) Now() int64 { return int64(time.Since(clock.start)) }
