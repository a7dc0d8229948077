package listener

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
)

// Defaults of the shared listener attributes.
const (
	DefaultMaxBodyBytes      = 1 << 20  // 1 MiB; the webhook sets its own
	DefaultMaxInflightBytes  = 64 << 20 // 64 MiB
	DefaultMaxConnections    = 1024
	DefaultMaxHeaderBytes    = 64 << 10 // 64 KiB
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	// DefaultInflightWait is how long a request waits for its share of
	// max_inflight_bytes before it is answered 503.
	DefaultInflightWait = time.Second
)

// Config is what every kt HTTP listener shares: its address, whether it
// may run unauthenticated, TLS and the limits that keep it from being
// exhausted from outside. Plugins embed it in their own Config and decode
// it with Decode.
type Config struct {
	Listen string // host:port
	// AllowUnauthenticated lets a listener on a non-loopback address run
	// with no authentication; it is logged as a warning at every start.
	AllowUnauthenticated bool
	TLS                  *TLSConfig // nil = plain HTTP

	// MaxBodyBytes bounds a request body, as sent and once decoded
	// (gzip): larger ones get 413.
	MaxBodyBytes int64
	// MaxInflightBytes bounds the bytes of all request bodies the listener
	// reads or handles at once; at least MaxBodyBytes.
	MaxInflightBytes int64
	// InflightWait is how long a request waits for its share of
	// MaxInflightBytes before it gets 503 + Retry-After.
	InflightWait      time.Duration
	MaxConnections    int // simultaneous connections; more wait in the kernel's backlog
	MaxHeaderBytes    int // request line and headers
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // the whole request, body included
	WriteTimeout      time.Duration // from the end of the headers to the end of the answer
	IdleTimeout       time.Duration // a keep-alive connection between requests

	listenRange hcl.Range // for diagnostics about the listen attribute
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{
		MaxBodyBytes:      DefaultMaxBodyBytes,
		MaxInflightBytes:  DefaultMaxInflightBytes,
		InflightWait:      DefaultInflightWait,
		MaxConnections:    DefaultMaxConnections,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
	}
}

// withDefaults fills the zero fields of c with the defaults, for a Config
// built in code rather than decoded.
func (c Config) withDefaults() Config {
	d := NewDefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxInflightBytes <= 0 {
		c.MaxInflightBytes = max(d.MaxInflightBytes, c.MaxBodyBytes)
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = d.MaxHeaderBytes
	}
	set(&c.InflightWait, d.InflightWait)
	set(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	set(&c.ReadTimeout, d.ReadTimeout)
	set(&c.WriteTimeout, d.WriteTimeout)
	set(&c.IdleTimeout, d.IdleTimeout)
	return c
}

type hclConfig struct {
	Listen               hcl.Expression `hcl:"listen"`
	AllowUnauthenticated *bool          `hcl:"allow_unauthenticated,optional"`
	MaxBodyBytes         *int64         `hcl:"max_body_bytes,optional"`
	MaxInflightBytes     *int64         `hcl:"max_inflight_bytes,optional"`
	MaxConnections       *int           `hcl:"max_connections,optional"`
	MaxHeaderBytes       *int           `hcl:"max_header_bytes,optional"`
	ReadHeaderTimeout    hcl.Expression `hcl:"read_header_timeout,optional"`
	ReadTimeout          hcl.Expression `hcl:"read_timeout,optional"`
	WriteTimeout         hcl.Expression `hcl:"write_timeout,optional"`
	IdleTimeout          hcl.Expression `hcl:"idle_timeout,optional"`
	TLS                  *tlsHCL        `hcl:"tls,block"`
}

// Decode reads the shared listener attributes and the tls block from body
// (the `hcl:",remain"` part of a plugin's block) into c, whose fields hold
// the plugin's defaults. Attributes neither the plugin nor the listener
// knows are reported here. Every problem is a diagnostic at the attribute
// it is about; certificate and key files are read and checked now, so
// `kt config validate` finds a bad one.
func Decode(body hcl.Body, ctx *hcl.EvalContext, c *Config) hcl.Diagnostics {
	var h hclConfig
	diags, rng := hclconf.DecodeBlock(body, ctx, &h)
	diags = diags.Extend(required(h.Listen, "listen", body))
	if !hclconf.IsAbsent(h.Listen) {
		c.listenRange = h.Listen.Range()
		listen, d := hclconf.String(h.Listen, ctx, "")
		diags = diags.Extend(d)
		c.Listen = listen
		if _, _, err := net.SplitHostPort(c.Listen); err != nil && !d.HasErrors() {
			diags = diags.Extend(hclconf.Error(c.listenRange, "Invalid listen address",
				fmt.Sprintf("listen = %q: %v; write host:port, such as \"127.0.0.1:8780\".", c.Listen, err)))
		}
	}
	hclconf.Set(&c.AllowUnauthenticated, h.AllowUnauthenticated)
	atLeast(&diags, h.MaxBodyBytes, &c.MaxBodyBytes, "max_body_bytes", 1024, rng)
	if h.MaxInflightBytes == nil {
		c.MaxInflightBytes = max(c.MaxInflightBytes, c.MaxBodyBytes)
	} else {
		atLeast(&diags, h.MaxInflightBytes, &c.MaxInflightBytes, "max_inflight_bytes", 1024, rng)
		if c.MaxInflightBytes < c.MaxBodyBytes {
			diags = diags.Extend(hclconf.Error(rng("max_inflight_bytes"), "Invalid max_inflight_bytes",
				fmt.Sprintf("max_inflight_bytes = %d is below max_body_bytes (%d): a request of the largest allowed size could never be taken, and would be told to retry forever. Raise max_inflight_bytes or lower max_body_bytes.",
					c.MaxInflightBytes, c.MaxBodyBytes)))
		}
	}
	atLeast(&diags, h.MaxConnections, &c.MaxConnections, "max_connections", 1, rng)
	atLeast(&diags, h.MaxHeaderBytes, &c.MaxHeaderBytes, "max_header_bytes", 4096, rng)
	dur := func(e hcl.Expression, dst *time.Duration, name string) {
		v, d := hclconf.Duration(e, ctx, name, *dst)
		diags = diags.Extend(d)
		*dst = v
	}
	dur(h.ReadHeaderTimeout, &c.ReadHeaderTimeout, "read_header_timeout")
	dur(h.ReadTimeout, &c.ReadTimeout, "read_timeout")
	dur(h.WriteTimeout, &c.WriteTimeout, "write_timeout")
	dur(h.IdleTimeout, &c.IdleTimeout, "idle_timeout")
	if c.WriteTimeout < c.ReadTimeout {
		diags = diags.Extend(hclconf.Error(rng("write_timeout"), "Invalid write_timeout",
			fmt.Sprintf("write_timeout (%s) is below read_timeout (%s): it runs from the end of the headers to the end of the answer, so it must leave time to read the body and answer.",
				c.WriteTimeout, c.ReadTimeout)))
	}
	if h.TLS != nil {
		t, d := decodeTLS(h.TLS, ctx)
		diags = diags.Extend(d)
		c.TLS = t
	}
	return diags
}

// Auth describes what authenticates the callers of a listener besides
// client certificates, for RequireAuth.
type Auth struct {
	Configured bool   // a token or a signature secret is set
	Options    string // the attributes that would add it, e.g. "token or hmac_secret"
	Exposes    string // what an unauthenticated caller could do, e.g. "write audit events"
}

// RequireAuth refuses a listener that other hosts can reach and that
// nothing authenticates (no token or signature, no client certificates),
// unless allow_unauthenticated says the operator wants it so. The
// diagnostic points at the listen attribute.
func (c Config) RequireAuth(a Auth) hcl.Diagnostics {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return nil // reported as an invalid address
	}
	if IsLoopback(c.Listen) || a.Configured || c.ClientCertsRequired() || c.AllowUnauthenticated {
		return nil
	}
	return hclconf.Error(c.listenRange, "Listener exposed without authentication",
		fmt.Sprintf("listen = %q accepts connections from other hosts, and nothing authenticates them: anyone who can reach it could %s. "+
			"Set %s, or a tls block with client_ca_file (client certificates), or listen on 127.0.0.1. "+
			"If something outside kt already authenticates every caller, say so with allow_unauthenticated = true (logged as a warning at every start).",
			c.Listen, a.Exposes, a.Options))
}

// ClientCertsRequired reports whether clients must present a certificate
// signed by tls.client_ca_file.
func (c Config) ClientCertsRequired() bool { return c.TLS != nil && c.TLS.ClientCAs != nil }

// StartWarnings returns what a listener with this config should warn about
// at every start: running exposed without authentication, or sending
// credentials and events across the network in clear.
func (c Config) StartWarnings(a Auth) []string {
	if c.Listen == "" || IsLoopback(c.Listen) {
		return nil
	}
	var out []string
	if !a.Configured && !c.ClientCertsRequired() {
		out = append(out, fmt.Sprintf("listening on %s without authentication (allow_unauthenticated = true): anyone who can reach it can %s", c.Listen, a.Exposes))
	}
	if c.TLS == nil {
		out = append(out, fmt.Sprintf("listening on %s without TLS: tokens and audit events cross the network in clear; add a tls block", c.Listen))
	}
	if c.TLS != nil {
		if w := c.TLS.expiryProblem(time.Now()); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// IsLoopback reports whether a listen address (host:port) takes
// connections from this host only: a loopback IP address or "localhost".
// An empty host, 0.0.0.0, ::, any other address and any other host name
// are reachable from other hosts.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// atLeast copies an optional integer attribute into dst, or reports it at
// its range when it is below least.
func atLeast[T int | int64](diags *hcl.Diagnostics, v, dst *T, name string, least T, rng func(string) hcl.Range) {
	if v == nil {
		return
	}
	if *v < least {
		*diags = diags.Extend(hclconf.Error(rng(name), "Invalid "+name,
			fmt.Sprintf("%s = %d is below the minimum of %d.", name, *v, least)))
		return
	}
	*dst = *v
}

// required reports a required attribute decoded as an hcl.Expression
// (which gohcl leaves optional) that is absent from body, as gohcl reports
// other required attributes.
func required(expr hcl.Expression, name string, body hcl.Body) hcl.Diagnostics {
	if !hclconf.IsAbsent(expr) {
		return nil
	}
	return hclconf.Error(body.MissingItemRange(), "Missing required argument",
		fmt.Sprintf("The argument %q is required, but no definition was found.", name))
}
