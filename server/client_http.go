package server

import (
	"encoding/json"
	"net/http"
)

// newClientMux builds what a client port serves over HTTP, as etcd's
// does: /version, the operator's routes (/metrics, /health, /livez,
// /readyz: handleOperatorRoutes), and the JSON gateway under /v3/
// (client_gateway.go). Go's profiler stays on the admin listeners.
func (s *Server) newClientMux(gateway http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	s.handleOperatorRoutes(mux)
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
	mux.Handle("/v3/", gateway)
	return mux
}
