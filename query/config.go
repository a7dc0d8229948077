package query

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/listener"
)

// Config is the `query_api { ... }` block.
type Config struct {
	// Config holds listen, allow_unauthenticated, tls, max_body_bytes and
	// the other limits every listener shares.
	listener.Config
	Token string // bearer token for every endpoint but the health probes; "" = none
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{Config: listener.NewDefaultConfig()}
}

type hclConfig struct {
	Token    hcl.Expression `hcl:"token,optional"`
	Listener hcl.Body       `hcl:",remain"`
}

// auth describes the query API's own authentication for the listener's
// exposure check and start warnings.
func (c Config) auth() listener.Auth {
	return listener.Auth{Configured: c.Token != "", Options: "token", Exposes: "read the agent's metrics and status"}
}

// Decode reads a query_api block body. Every problem is a diagnostic that
// points into the config file, at the attribute it is about.
func Decode(body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	var h hclConfig
	diags := gohcl.DecodeBody(body, ctx, &h)
	if h.Listener != nil {
		diags = diags.Extend(listener.Decode(h.Listener, ctx, &c.Config))
	}
	if !hclconf.IsAbsent(h.Token) {
		tok, d := hclconf.String(h.Token, ctx, "")
		diags = diags.Extend(d)
		c.Token = tok
		if tok == "" && !d.HasErrors() {
			diags = diags.Extend(hclconf.Error(h.Token.Range(), "Empty token",
				"token is set but empty (an unset variable?): leave the attribute out to serve without a token."))
		}
	}
	a := c.auth()
	a.Configured = a.Configured || !hclconf.IsAbsent(h.Token) // one that did not evaluate is reported already
	return c, diags.Extend(c.RequireAuth(a))
}
