package webhook

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/listener"
)

// Config is the `source "webhook" "NAME" { ... }` block.
type Config struct {
	Name string // the block's second label
	// Config holds listen, allow_unauthenticated, tls, max_body_bytes and
	// the other limits every listener shares.
	listener.Config
	Path         string        // URL path that takes POSTs
	Token        string        // bearer token; "" = none required
	HMACSecret   []byte        // HMAC-SHA256 key; nil = no signature required
	ReplayWindow time.Duration // Standard Webhooks timestamp tolerance
}

// DefaultMaxBodyBytes is the default max_body_bytes of a webhook.
const DefaultMaxBodyBytes = 32 << 20

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	c := Config{
		Config:       listener.NewDefaultConfig(),
		Path:         "/v1/events",
		ReplayWindow: 5 * time.Minute,
	}
	c.MaxBodyBytes = DefaultMaxBodyBytes
	return c
}

type hclConfig struct {
	Path         hcl.Expression `hcl:"path,optional"`
	Token        hcl.Expression `hcl:"token,optional"`
	HMACSecret   hcl.Expression `hcl:"hmac_secret,optional"`
	ReplayWindow hcl.Expression `hcl:"replay_window,optional"`
	Listener     hcl.Body       `hcl:",remain"`
}

// auth describes the webhook's own authentication for the listener's
// exposure check and start warnings.
func (c Config) auth() listener.Auth {
	return listener.Auth{Configured: c.Token != "" || c.HMACSecret != nil, Options: "token or hmac_secret", Exposes: "write audit events into the ledger"}
}

// Decode reads a webhook block body. Every problem is a diagnostic that
// points into the config file.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Name = name
	var h hclConfig
	diags := gohcl.DecodeBody(body, ctx, &h)
	if h.Listener != nil {
		diags = diags.Extend(listener.Decode(h.Listener, ctx, &c.Config))
	}
	// str evaluates an optional string attribute; ok when it is given and
	// evaluated without error.
	str := func(e hcl.Expression) (string, bool) {
		if hclconf.IsAbsent(e) {
			return "", false
		}
		v, d := hclconf.String(e, ctx, "")
		diags = diags.Extend(d)
		return v, !d.HasErrors()
	}
	if p, ok := str(h.Path); ok {
		c.Path = p
		if !strings.HasPrefix(c.Path, "/") {
			diags = diags.Extend(hclconf.Error(h.Path.Range(), "Invalid path", fmt.Sprintf("path = %q must start with \"/\".", c.Path)))
		}
	}
	if tok, ok := str(h.Token); ok {
		c.Token = tok
		if c.Token == "" {
			diags = diags.Extend(hclconf.Error(h.Token.Range(), "Empty token",
				"token is set but empty (an unset variable?): leave the attribute out to accept requests without a token."))
		}
	}
	if s, ok := str(h.HMACSecret); ok {
		switch {
		case s == "":
			diags = diags.Extend(hclconf.Error(h.HMACSecret.Range(), "Empty hmac_secret",
				"hmac_secret is set but empty: leave the attribute out to accept unsigned requests."))
		case strings.HasPrefix(s, "whsec_"):
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil || len(key) == 0 {
				diags = diags.Extend(hclconf.Error(h.HMACSecret.Range(), "Invalid hmac_secret",
					"a secret starting with whsec_ must be followed by base64, as Standard Webhooks defines."))
			}
			c.HMACSecret = key
		default:
			c.HMACSecret = []byte(s)
		}
	}
	var d hcl.Diagnostics
	c.ReplayWindow, d = hclconf.Duration(h.ReplayWindow, ctx, "replay_window", c.ReplayWindow)
	diags = diags.Extend(d)
	a := c.auth()
	// A token or secret that did not evaluate is reported already.
	a.Configured = a.Configured || !hclconf.IsAbsent(h.Token) || !hclconf.IsAbsent(h.HMACSecret)
	return c, diags.Extend(c.RequireAuth(a))
}
