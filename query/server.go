// Package query serves the local HTTP API of kt. This version serves the
// health, readiness and metrics endpoints:
//
//	GET /healthz   200 while the process runs
//	GET /readyz    200 once the ledger is open and every source is taking input, else 503
//	GET /metrics   Prometheus text format
//	GET /v1/status the agent's state as JSON: ledger, sources, sinks (what `kt status` prints)
//	GET /v1/events, /v1/events/{id}, /v1/events/{id}/timeline, /v1/events/{id}/diff, /v1/state
//	               answered from the query index (events.go)
//
// When a token is configured, /metrics and every /v1/ route
// need "Authorization: Bearer <token>" (the scheme in any case); the
// health endpoints stay open for probes. With tls.client_ca_file, every
// connection needs a client certificate signed by it. Refused requests are
// logged, rate-limited. TLS, the exposure rule and the limits are those of
// internal/listener.
package query

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keeptrusts/kt/index"
	"github.com/keeptrusts/kt/internal/listener"
)

// Server is the query API listener.
type Server struct {
	srv *listener.Server
}

// Options configure a Server.
type Options struct {
	Listen string // host:port; when "", Listener.Listen
	Token  string // bearer token for /metrics, /v1/status and Routes; "" = none
	// Listener is the rest of the query_api block: TLS, limits, timeouts.
	// Zero fields take the defaults of internal/listener.
	Listener listener.Config
	Registry *prometheus.Registry // what /metrics serves
	Ready    func() string        // "" when ready, else why not
	Status   func() Status        // the /v1/status document, encoded as JSON; nil = 404
	// Routes are more endpoints, pattern (as http.ServeMux takes it, e.g.
	// "POST /v1/damage/ack") -> handler, behind the same authentication
	// as /v1/status. A pattern that conflicts with another is an error.
	Routes map[string]http.Handler
	// Index answers GET /v1/events and /v1/events/{id} (events.go); nil =
	// those routes answer 404.
	Index  *index.Index
	Logger *slog.Logger // nil = discard
}

// New binds the listener and logs its start warnings; it serves nothing
// until Run.
func New(o Options) (*Server, error) {
	lc := o.Listener
	if o.Listen != "" {
		lc.Listen = o.Listen
	}
	token, reg, ready := o.Token, o.Registry, o.Ready
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
	s := &Server{}
	authed := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if token != "" && !listener.BearerOK(r, token) {
				s.srv.Denied(r, "missing or wrong bearer token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="kt"`)
				http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET /metrics", authed(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if o.Status != nil {
		mux.Handle("GET /v1/status", authed(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(o.Status())
		})))
	}
	if o.Index != nil {
		mux.Handle("GET /v1/events", authed(eventsHandler(o.Index)))
		mux.Handle("GET /v1/events/{id}", authed(eventHandler(o.Index)))
		mux.Handle("GET /v1/events/{id}/timeline", authed(timelineHandler(o.Index)))
		mux.Handle("GET /v1/events/{id}/diff", authed(diffHandler(o.Index)))
		mux.Handle("GET /v1/state", authed(stateHandler(o.Index)))
	}
	for pattern, h := range o.Routes {
		if err := handle(mux, pattern, authed(h)); err != nil {
			return nil, fmt.Errorf("query api: route %q: %v", pattern, err)
		}
	}
	auth := Config{Config: lc, Token: token}.auth()
	srv, err := listener.New(lc, mux, listener.Options{Name: "query api", Auth: auth, Logger: o.Logger, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// handle registers h on mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.srv.Addr() }

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error { return s.srv.Run(ctx) }
