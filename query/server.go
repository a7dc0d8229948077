// Package query serves the local HTTP API of kt. This version serves the
// health, readiness and metrics endpoints:
//
//	GET /healthz   200 while the process runs
//	GET /readyz    200 once the ledger is open and every source is taking input, else 503
//	GET /metrics   Prometheus text format
//	GET /v1/status the agent's state as JSON: ledger, sources, sinks (what `kt status` prints)
//
// When a token is configured, /metrics and /v1/status need
// "Authorization: Bearer <token>"; the health endpoints stay open for
// probes.
package query

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the query API listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Options configure a Server.
type Options struct {
	Listen   string               // host:port
	Token    string               // bearer token for /metrics and /v1/status; "" = none
	Registry *prometheus.Registry // what /metrics serves
	Ready    func() string        // "" when ready, else why not
	Status   func() any           // the /v1/status document, encoded as JSON; nil = 404
}

// New binds listen.
func New(o Options) (*Server, error) {
	listen, token, reg, ready := o.Listen, o.Token, o.Registry, o.Ready
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("query api: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := ready(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", why)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kt"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return false
		}
		return true
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if authorized(w, r) {
			metrics.ServeHTTP(w, r)
		}
	})
	if o.Status != nil {
		mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
			if !authorized(w, r) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(o.Status())
		})
	}
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("query api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(sctx)
}
