package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sampleInterval bounds how stale the page can be when no event arrives
// (stopped members send none): well within the second the page promises.
const sampleInterval = 300 * time.Millisecond

// snapshot is one server-sent event: the whole cluster, small enough to
// resend whole, which keeps the page free of merge logic.
type snapshot struct {
	Time     int64         `json:"time"` // Unix milliseconds
	Controls bool          `json:"controls"`
	Members  []MemberState `json:"members"`
}

// stream serves the dashboard's server-sent events: a snapshot at once,
// then on every change the cluster reports and every sampleInterval.
type stream struct {
	cluster  Cluster
	controls bool
}

func (s *stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "web: streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	// Another member's dashboard may read this stream (a page served by
	// one member's admin listener looking at another's).
	w.Header().Set("Access-Control-Allow-Origin", "*")
	changes, stop := s.cluster.Watch()
	defer stop()
	ticker := time.NewTicker(sampleInterval)
	defer ticker.Stop()
	for {
		if err := s.send(r.Context(), w); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changes:
		case <-ticker.C:
		}
	}
}

func (s *stream) send(ctx context.Context, w http.ResponseWriter) error {
	ctx, cancel := context.WithTimeout(ctx, sampleInterval)
	defer cancel()
	data, err := json.Marshal(snapshot{Time: time.Now().UnixMilli(), Controls: s.controls, Members: s.cluster.Sample(ctx)})
	if err != nil {
		return fmt.Errorf("web: encode snapshot: %w", err)
	}
	_, err = fmt.Fprintf(w, "data: %s\n\n", data)
	return err
}
