package file

import (
	"math"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/sinks"
)

// Type is the sink's type in the config: sink "file" "NAME" { ... }.
const Type = "file"

// The defaults of the optional attributes, and of the delivery settings
// the block has no attribute for.
const (
	DefaultHeartbeatInterval = time.Minute // heartbeat_interval
	DefaultBatchEvents       = 4096        // batch_events

	// A failed write (a full disk) is tried again after 1 s, doubling to
	// 30 s.
	retryInitial = time.Second
	retryMax     = 30 * time.Second
	// DrainTimeout bounds the final delivery at shutdown; a local write
	// of a whole backlog takes far less. What is left is written at the
	// next start.
	DrainTimeout = 30 * time.Second
)

// Config is the `sink "file" "NAME" { ... }` block:
//
//	path               = "/var/lib/kt/out/audit.ndjson"  # required
//	heartbeat_interval = "60s"   # an idle sink writes a heartbeat record this often
//	batch_events       = 4096    # entries written between two fsyncs, at most
type Config struct {
	Name              string
	Path              string        // output NDJSON file
	HeartbeatInterval time.Duration // an idle sink writes a heartbeat record this often
	BatchEvents       int           // entries written between two fsyncs, at most
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{HeartbeatInterval: DefaultHeartbeatInterval, BatchEvents: DefaultBatchEvents}
}

// Delivery returns the Engine's settings for the sink: a batch is up to
// batch_events entries, written at once (no max_wait, no byte limit), one
// batch at a time; a heartbeat every heartbeat_interval when idle. The
// agent sets the data-dir paths (SetDataDir).
func (c Config) Delivery() sinks.Delivery {
	d := sinks.NewDelivery(Type, c.Name)
	d.MaxEvents = c.BatchEvents
	d.MaxBytes = math.MaxInt
	d.MaxWait = 0
	d.InFlight = 1
	d.HeartbeatInterval = c.HeartbeatInterval
	d.RetryInitial, d.RetryMax = retryInitial, retryMax
	d.DrainTimeout = DrainTimeout
	return d
}

type hclConfig struct {
	Path              string         `hcl:"path"`
	HeartbeatInterval hcl.Expression `hcl:"heartbeat_interval,optional"`
	BatchEvents       *int           `hcl:"batch_events,optional"`
}

// Decode reads a file sink block body. Every problem is a diagnostic at
// the attribute it is about, all of them at once.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Name = name
	var h hclConfig
	diags, rng := hclconf.DecodeBlock(body, ctx, &h)
	c.Path = h.Path
	var d hcl.Diagnostics
	c.HeartbeatInterval, d = hclconf.Duration(h.HeartbeatInterval, ctx, "heartbeat_interval", c.HeartbeatInterval)
	diags = diags.Extend(d)
	hclconf.Set(&c.BatchEvents, h.BatchEvents)
	var ps sinks.Problems
	for _, p := range c.problems() {
		if p.Attr == "path" && rng("path") == body.MissingItemRange() {
			continue // no path at all: gohcl said so ("Missing required argument")
		}
		ps = append(ps, p)
	}
	return c, diags.Extend(ps.Diagnostics(rng))
}

// Validate checks c as Decode does, for a Config built in code. New calls
// it.
func (c Config) Validate() error { return c.problems().Err(Type, c.Name) }

// problems returns every rule c breaks. Decode turns them into diagnostics
// at the attribute, Validate into an error.
func (c Config) problems() sinks.Problems {
	var ps sinks.Problems
	if c.Path == "" {
		ps.Add("path", "Empty path", "path must name the output file.")
	}
	if c.BatchEvents < 1 {
		ps.Add("batch_events", "Invalid batch_events", "batch_events must be at least 1.")
	}
	if c.HeartbeatInterval <= 0 {
		ps.Add("heartbeat_interval", "Invalid heartbeat_interval", "heartbeat_interval (%s) must be positive.", c.HeartbeatInterval)
	}
	return ps
}
