package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// newClientMux builds what a client port serves over HTTP, as etcd's
// does: /version, the operator's routes (/metrics, /health, /livez,
// /readyz: handleOperatorRoutes), and the JSON gateway under /v3/
// (client_gateway.go). Go's profiler is there only with EnablePprof; it
// is always on the admin listeners.
func (s *Server) newClientMux(gateway http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	s.handleOperatorRoutes(mux)
	if s.config.EnablePprof {
		handleProfiler(mux)
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// etcd's answer, field for field: the server's version, the
		// cluster's (the version all members speak, major.minor.0) and the
		// storage's (Maintenance.Status's StorageVersion).
		minor := EmulatedVersion[:3] + ".0"
		body, _ := json.Marshal(struct {
			Server  string `json:"etcdserver"`
			Cluster string `json:"etcdcluster"`
			Storage string `json:"storage"`
		}{EmulatedVersion, minor, minor})
		w.Write(body)
	})
	// A gateway request's body is read whole before the call is made, so
	// it is bounded here, by what the largest request the server takes
	// may need as JSON (base64 adds a third) with room for a stream of
	// watch requests.
	limit := int64(gatewayBodyFactor*s.config.MaxRequestBytes + gatewayBodyMargin)
	mux.Handle("/v3/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		gateway.ServeHTTP(w, r)
	}))
	return mux
}

// The bound of a JSON gateway request's body: gatewayBodyFactor times
// --max-request-bytes, plus gatewayBodyMargin.
const (
	gatewayBodyFactor = 2
	gatewayBodyMargin = 1 << 20
)

// clientHTTPIdleTimeout closes an HTTP connection on a client port that
// has waited this long for its next request.
const clientHTTPIdleTimeout = 2 * time.Minute
