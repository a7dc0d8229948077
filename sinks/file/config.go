package file

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
)

// Config is the `sink "file" "NAME" { ... }` block.
type Config struct {
	Name              string
	Path              string        // output NDJSON file
	HeartbeatInterval time.Duration // an idle sink writes a heartbeat record this often
	BatchEvents       int           // entries written between two fsyncs, at most
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{HeartbeatInterval: time.Minute, BatchEvents: 4096}
}

type hclConfig struct {
	Path              string         `hcl:"path"`
	HeartbeatInterval hcl.Expression `hcl:"heartbeat_interval,optional"`
	BatchEvents       *int           `hcl:"batch_events,optional"`
}

// Decode reads a file sink block body.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Name = name
	var h hclConfig
	// Decoding goes on past an attribute that failed (it keeps its zero
	// value) so that every mistake of the block is reported at once; the
	// agent drops a second diagnostic at the same place.
	diags := gohcl.DecodeBody(body, ctx, &h)
	c.Path = h.Path
	if c.Path == "" {
		diags = diags.Extend(hclconf.Error(body.MissingItemRange(), "Empty path", "path must name the output file."))
	}
	var d hcl.Diagnostics
	c.HeartbeatInterval, d = hclconf.Duration(h.HeartbeatInterval, ctx, "heartbeat_interval", c.HeartbeatInterval)
	diags = diags.Extend(d)
	if h.BatchEvents != nil {
		if *h.BatchEvents < 1 {
			diags = diags.Extend(hclconf.Error(body.MissingItemRange(), "Invalid batch_events", "batch_events must be at least 1."))
		}
		c.BatchEvents = *h.BatchEvents
	}
	return c, diags
}
