package webhook

import (
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
)

// Config is the `source "webhook" "NAME" { ... }` block.
type Config struct {
	Name         string        // the block's second label
	Listen       string        // host:port
	Path         string        // URL path that takes POSTs
	Token        string        // bearer token; "" = none required
	HMACSecret   []byte        // HMAC-SHA256 key; nil = no signature required
	ReplayWindow time.Duration // Standard Webhooks timestamp tolerance
	MaxBodyBytes int64         // larger bodies get 413
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{
		Path:         "/v1/events",
		ReplayWindow: 5 * time.Minute,
		MaxBodyBytes: 32 << 20,
	}
}

type hclConfig struct {
	Listen       string         `hcl:"listen"`
	Path         *string        `hcl:"path,optional"`
	Token        *string        `hcl:"token,optional"`
	HMACSecret   *string        `hcl:"hmac_secret,optional"`
	ReplayWindow hcl.Expression `hcl:"replay_window,optional"`
	MaxBodyBytes *int64         `hcl:"max_body_bytes,optional"`
}

// Decode reads a webhook block body. Every problem is a diagnostic that
// points into the config file.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Name = name
	var h hclConfig
	diags := gohcl.DecodeBody(body, ctx, &h)
	if diags.HasErrors() {
		return c, diags
	}
	c.Listen = h.Listen
	rng := hclconf.AttrRange(body)
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		diags = diags.Extend(hclconf.Error(rng("listen"), "Invalid listen address",
			fmt.Sprintf("listen = %q: %v; write host:port, such as \"127.0.0.1:8780\".", c.Listen, err)))
	}
	if h.Path != nil {
		c.Path = *h.Path
		if !strings.HasPrefix(c.Path, "/") {
			diags = diags.Extend(hclconf.Error(rng("path"), "Invalid path", fmt.Sprintf("path = %q must start with \"/\".", c.Path)))
		}
	}
	if h.Token != nil {
		c.Token = *h.Token
		if c.Token == "" {
			diags = diags.Extend(hclconf.Error(rng("token"), "Empty token",
				"token is set but empty (an unset variable?): leave the attribute out to accept requests without a token."))
		}
	}
	if h.HMACSecret != nil {
		s := *h.HMACSecret
		switch {
		case s == "":
			diags = diags.Extend(hclconf.Error(rng("hmac_secret"), "Empty hmac_secret",
				"hmac_secret is set but empty: leave the attribute out to accept unsigned requests."))
		case strings.HasPrefix(s, "whsec_"):
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil || len(key) == 0 {
				diags = diags.Extend(hclconf.Error(rng("hmac_secret"), "Invalid hmac_secret",
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
	if h.MaxBodyBytes != nil {
		c.MaxBodyBytes = *h.MaxBodyBytes
		if c.MaxBodyBytes < 1024 {
			diags = diags.Extend(hclconf.Error(rng("max_body_bytes"), "Invalid max_body_bytes",
				fmt.Sprintf("max_body_bytes = %d is below the minimum of 1024.", c.MaxBodyBytes)))
		}
	}
	return c, diags
}
