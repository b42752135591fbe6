package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// AdminHandler returns the handler every admin listener serves: /metrics
// (Prometheus), /health (etcd's: healthy when a leader is known and a
// linearizable read completes), /livez (the process answers), /readyz (it
// can serve linearizable requests) and Go's profiler under /debug/pprof/.
// It is the hook for more admin routes: the mux is the same one for the
// member's whole life, so a handler mounted on it (the dashboard, mounted
// by package web/serverview) is served by every admin listener from then
// on. http.ServeMux is safe for concurrent use.
func (s *Server) AdminHandler() *http.ServeMux { return s.adminMux }

// newAdminMux builds the admin routes the server itself serves.
func (s *Server) newAdminMux() *http.ServeMux {
	mux := http.NewServeMux()
	s.handleOperatorRoutes(mux)
	// Go's profiler, for finding what a slow member spends its time on
	// (the admin listener is the operator's).
	handleProfiler(mux)
	return mux
}

// handleProfiler adds Go's profiler under /debug/pprof/ to mux: always on
// the admin listeners, and on the client ports with EnablePprof, as etcd's
// --enable-pprof serves it there.
func handleProfiler(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
}

// handleOperatorRoutes adds to mux the routes both the admin listeners and
// the client ports serve: /metrics, /health, /livez and /readyz.
func (s *Server) handleOperatorRoutes(mux *http.ServeMux) {
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		healthy, reason := s.checkHealth(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]string{"health": fmt.Sprint(healthy), "reason": reason})
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if healthy, reason := s.checkHealth(r.Context()); !healthy {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// checkHealth is etcd's health check: a leader, a disk that takes writes
// (lockstep's), no alarm, and a
// linearizable read that completes within a second.
func (s *Server) checkHealth(ctx context.Context) (bool, string) {
	if s.leader.Load() == 0 {
		return false, "RAFT NO LEADER"
	}
	if disk := s.diskStatus(); disk != "" {
		return false, disk
	}
	for _, alarm := range s.store.Alarms() {
		if alarm.Alarm != pb.AlarmType_NONE {
			return false, "ALARM " + alarm.Alarm.String()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.node.Read(ctx); err != nil {
		return false, "QGET ERROR: " + err.Error()
	}
	return true, ""
}

// serveAdmin builds the admin mux and serves it on every metrics URL.
func (s *Server) serveAdmin() error {
	s.adminMux = s.newAdminMux()
	for _, raw := range s.config.ListenMetricsURLs {
		address, _ := hostPort(raw)
		listener, err := net.Listen("tcp", address)
		if err != nil {
			return fmt.Errorf("server: listen for metrics on %s: %w", raw, err)
		}
		server := &http.Server{Handler: s.adminMux, ReadHeaderTimeout: 10 * time.Second}
		s.admin = append(s.admin, server)
		s.adminAddress = append(s.adminAddress, listener.Addr())
		s.group.Go(func() {
			if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serving metrics failed", "address", raw, "error", err)
			}
		})
	}
	return nil
}

// AdminAddresses returns the addresses the admin listeners are bound to.
func (s *Server) AdminAddresses() []string {
	addresses := make([]string, len(s.adminAddress))
	for i, address := range s.adminAddress {
		addresses[i] = address.String()
	}
	return addresses
}
