package transport

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestQueryAsksAPeer: a peer answers the queries its application names,
// with the request it was sent; it refuses a name it does not answer and
// a query from another cluster.
func TestQueryAsksAPeer(t *testing.T) {
	answering := startNode(t, 1, func(config *Config) {
		config.Queries = map[string]QueryHandler{
			"reverse": func(_ context.Context, request []byte) ([]byte, error) {
				answer := bytes.Clone(request)
				for i, j := 0, len(answer)-1; i < j; i, j = i+1, j-1 {
					answer[i], answer[j] = answer[j], answer[i]
				}
				return answer, nil
			},
			"fail": func(context.Context, []byte) ([]byte, error) { return nil, errors.New("no answer today") },
		}
	})
	asking := startNode(t, 2, nil)
	asking.SetPeer(1, answering.Addr().String())
	ctx := deadline(t)

	answer, err := asking.Query(ctx, 1, "reverse", []byte("lockstep"))
	if err != nil || string(answer) != "petskcol" {
		t.Fatalf("reverse: %q, %v", answer, err)
	}
	if _, err := asking.Query(ctx, 1, "hash", nil); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("an unknown query: %v, want ErrUnknownQuery", err)
	}
	if _, err := asking.Query(ctx, 1, "fail", nil); err == nil || !strings.Contains(err.Error(), "no answer today") {
		t.Errorf("a failing query: %v", err)
	}
	if _, err := asking.Query(ctx, 3, "reverse", nil); err == nil {
		t.Error("a query to a node that is no peer succeeded")
	}

	stranger := startNode(t, 3, func(config *Config) { config.ClusterID = testClusterID + 1 })
	stranger.SetPeer(1, answering.Addr().String())
	if _, err := stranger.Query(ctx, 1, "reverse", []byte("x")); err == nil || !strings.Contains(err.Error(), "from cluster") {
		t.Errorf("a query from another cluster: %v, want it refused", err)
	}
}

// TestParseQueryRefusesShortFrames: a frame too short for its header or
// its name is an error, not a panic.
func TestParseQueryRefusesShortFrames(t *testing.T) {
	for _, frame := range [][]byte{nil, make([]byte, 8), append(make([]byte, 8), 5, 'a')} {
		if _, _, _, err := parseQuery(frame); err == nil {
			t.Errorf("parseQuery(%v) succeeded", frame)
		}
	}
	clusterID, name, request, err := parseQuery(appendQuery(nil, 7, "hash", []byte{1, 2}))
	if err != nil || clusterID != 7 || name != "hash" || !bytes.Equal(request, []byte{1, 2}) {
		t.Errorf("round trip: %d %q %v %v", clusterID, name, request, err)
	}
}

// FuzzParseQuery: any frame parses or is refused without a panic, and a
// frame that parses is what appendQuery makes of its parts.
func FuzzParseQuery(f *testing.F) {
	f.Add(appendQuery(nil, 7, "hash", []byte{1, 2}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		clusterID, name, request, err := parseQuery(frame)
		if err != nil {
			return
		}
		if again := appendQuery(nil, clusterID, name, request); !bytes.Equal(again, frame) {
			t.Fatalf("parseQuery(%v) = %d %q %v, which append as %v", frame, clusterID, name, request, again)
		}
	})
}
