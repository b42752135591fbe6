package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

// maxErrorKinds bounds the distinct kinds an errorCounter keeps; further
// kinds are counted under otherErrorKind.
const (
	maxErrorKinds  = 32
	maxKindLength  = 120
	otherErrorKind = "other"
	timeoutKind    = "timeout"
)

// errorKind names the kind of an operation's error for the error counts:
// "timeout" for an operation that ran out of time, the gRPC code and the
// server's message for an error from the server or the connection (e.g.
// "Unavailable: etcdserver: leader changed"), the text otherwise.
func errorKind(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return timeoutKind
	}
	var kind string
	var etcdError rpctypes.EtcdError
	if errors.As(err, &etcdError) {
		kind = fmt.Sprintf("%s: %s", etcdError.Code(), etcdError.Error())
	} else if grpcStatus, ok := status.FromError(err); ok {
		kind = fmt.Sprintf("%s: %s", grpcStatus.Code(), grpcStatus.Message())
	} else {
		kind = err.Error()
	}
	if len(kind) > maxKindLength {
		kind = kind[:maxKindLength] + "..."
	}
	return kind
}

// errorCounter counts errors by kind. Safe for concurrent use.
type errorCounter struct {
	mutex  sync.Mutex
	byKind map[string]int64
}

// add counts err under its kind.
func (c *errorCounter) add(err error) {
	kind := errorKind(err)
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if c.byKind == nil {
		c.byKind = make(map[string]int64)
	}
	if _, known := c.byKind[kind]; !known && len(c.byKind) >= maxErrorKinds {
		kind = otherErrorKind
	}
	c.byKind[kind]++
}

// counts returns a copy of the counts by kind.
func (c *errorCounter) counts() map[string]int64 {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return maps.Clone(c.byKind)
}
