package syncbuffer

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWritesAndTail(t *testing.T) {
	var buffer Buffer
	var group sync.WaitGroup
	for writer := range 8 {
		group.Go(func() {
			for line := range 100 {
				fmt.Fprintf(&buffer, "writer %d line %d\n", writer, line)
			}
		})
	}
	group.Wait()
	if lines := strings.Count(buffer.String(), "\n"); lines != 800 {
		t.Fatalf("%d lines, want 800", lines)
	}
	tail := buffer.Tail(3)
	if strings.Count(tail, "\n") != 2 || !strings.HasSuffix(buffer.String(), tail+"\n") {
		t.Fatalf("tail %q is not the last 3 lines", tail)
	}
	var empty Buffer
	if empty.Tail(5) != "" {
		t.Fatalf("tail of an empty buffer: %q", empty.Tail(5))
	}
}
