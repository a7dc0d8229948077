// Package listener is what the HTTP listeners of kt (the webhook source and
// the query API) share: TLS and mutual TLS, the refusal of an exposed
// listener without authentication, and the limits that keep memory and
// connections from being exhausted from outside.
//
// A Server refuses, before its handler runs and before reading any of the
// body:
//
//	413 + Connection: close   Content-Length over max_body_bytes
//	415 + Connection: close   a Content-Encoding other than identity or gzip
//	503 + Retry-After         no room in max_inflight_bytes for the body
//	                          within InflightWait
//
// The handler then reads a body that is decoded (gzip), bounded by
// max_body_bytes as sent and once decoded, and accounted in the in-flight
// budget as it is read: a body of known length reserves its
// Content-Length up front; a chunked or compressed one grows its
// reservation (by doubling, from 64 KiB) as it is read. The reservation is
// held until the answer is written. Connections are limited to
// max_connections (more wait in the kernel's accept queue), requests by
// read, write, idle and header timeouts and a header size limit.
package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// Options are what the owner of a listener adds to its Config.
type Options struct {
	Name   string // names the listener in logs and errors: "webhook console", "query_api"
	Auth   Auth   // the owner's own authentication, for the start warnings
	Logger *slog.Logger
	// Error writes a refusal the Server makes before the handler runs
	// (413, 415, 503), in the owner's format; nil writes text/plain.
	Error func(w http.ResponseWriter, code int, msg string)
	// ShutdownTimeout bounds how long Run waits, once its context is
	// done, for requests in flight to be answered; default 10s.
	ShutdownTimeout time.Duration
}

// Server is a bound listener that serves a handler under the limits of
// its Config.
type Server struct {
	cfg    Config
	opt    Options
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	budget *Budget
	deny   *rateLog

	conns, peakConns atomic.Int64
}

// New binds cfg.Listen (so a port conflict fails start-up), logs the
// config's start warnings, and serves nothing until Run. Zero fields of
// cfg take the defaults.
func New(cfg Config, h http.Handler, o Options) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.MaxInflightBytes < cfg.MaxBodyBytes {
		return nil, fmt.Errorf("%s: max_inflight_bytes (%d) is below max_body_bytes (%d)", o.Name, cfg.MaxInflightBytes, cfg.MaxBodyBytes)
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Error == nil {
		o.Error = func(w http.ResponseWriter, code int, msg string) { http.Error(w, msg, code) }
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", o.Name, err)
	}
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS.ServerConfig())
	}
	s := &Server{cfg: cfg, opt: o, log: lg, ln: ln, budget: NewBudget(cfg.MaxInflightBytes),
		deny: &rateLog{log: lg, name: o.Name, now: time.Now}}
	other := &rateLog{log: lg, name: o.Name, now: time.Now}
	s.srv = &http.Server{
		Handler:           s.guard(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.New(&errorLogWriter{deny: s.deny, other: other}, "", 0),
		ConnState:         s.connState,
		// HTTP/1.1 only: the limits above are HTTP/1.1's.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	for _, w := range cfg.StartWarnings(o.Auth) {
		lg.Warn(w, "listener", o.Name)
	}
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Config returns the config the Server runs with, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Budget returns the in-flight budget (max_inflight_bytes).
func (s *Server) Budget() *Budget { return s.budget }

// Conns returns the open connections now and the most ever open at once.
func (s *Server) Conns() (now, peak int64) { return s.conns.Load(), s.peakConns.Load() }

// Denied logs a request refused for its authentication (401), at most
// one line per second for the listener; reason says why and must not
// hold what the client presented.
func (s *Server) Denied(r *http.Request, reason string) { s.deny.denied(r.RemoteAddr, reason) }

// Run serves until ctx is done, then stops taking requests and waits up
// to the shutdown timeout for the ones in flight to be answered; the
// connections still open then are closed.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", s.opt.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("requests still in flight at shutdown; closing their connections", "listener", s.opt.Name, "err", err)
		return s.srv.Close()
	}
	return nil
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		n := s.conns.Add(1)
		for {
			p := s.peakConns.Load()
			if n <= p || s.peakConns.CompareAndSwap(p, n) {
				break
			}
		}
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
	}
}

// guard applies the limits to every request before h runs: the
// Content-Length and Content-Encoding checks, the in-flight reservation,
// the body readers, and a deadline on the request's context that leaves
// time to answer before write_timeout.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			w.Header().Set("Connection", "close")
			s.opt.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"body of %d bytes (Content-Length) is over max_body_bytes (%d bytes); nothing was read; send smaller batches", r.ContentLength, s.cfg.MaxBodyBytes))
			return
		}
		coding, ok := "", true
		if r.ContentLength != 0 {
			coding, ok = contentEncoding(r)
		}
		if !ok {
			w.Header().Set("Connection", "close")
			s.opt.Error(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
				"Content-Encoding %q is not supported; send the body as is (identity) or gzip", coding))
			return
		}
		margin := min(time.Second, s.cfg.WriteTimeout/10)
		ctx, cancel := context.WithDeadline(r.Context(), time.Now().Add(s.cfg.WriteTimeout-margin))
		defer cancel()
		res := &reservation{b: s.budget, ctx: ctx, wait: s.cfg.InflightWait, limit: s.cfg.MaxBodyBytes}
		defer res.release()
		body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if coding == "gzip" {
			body = http.MaxBytesReader(w, &gunzipBody{src: body}, s.cfg.MaxBodyBytes)
			r.Header.Del("Content-Encoding")
			r.ContentLength = -1
		} else if r.ContentLength > 0 {
			res.limit = r.ContentLength
			if err := res.grow(r.ContentLength); err != nil {
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				s.opt.Error(w, http.StatusServiceUnavailable, s.busyMessage())
				return
			}
		}
		r.Body = &accountedBody{rc: body, res: res}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}
