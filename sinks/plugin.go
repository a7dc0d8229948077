package sinks

import (
	"log/slog"

	"github.com/hashicorp/hcl/v2"
)

// Plugin is a sink type: the name it has in the config, how its block is
// decoded and how its transport is made. Every sink runs on the Engine; a
// plugin only delivers a batch (see Transport). The agent lists the plugins
// it knows in one place; adding a sink is its folder plus one line there.
type Plugin struct {
	// Type is the block's first label, `sink "<Type>" "NAME" {...}`:
	// snake_case, frozen once released.
	Type string
	// Decode reads the block body of the sink called name. Every problem is
	// a diagnostic at the attribute's range, all of them at once. It does
	// no I/O but reading files the config names (certificates), and returns
	// a Spec even with errors (the agent reports them and starts nothing).
	Decode func(name string, body hcl.Body, ctx *hcl.EvalContext) (Spec, hcl.Diagnostics)
}

// Spec is a decoded sink block: the Engine's settings and how to make the
// transport.
type Spec struct {
	// Delivery is the Engine's part: batching, retries, in-flight,
	// heartbeats, TLS. The agent sets its data-dir paths (SetDataDir).
	Delivery Delivery
	// New makes the transport; it does no network I/O (the first Send
	// does). The agent calls it once, at start.
	New func(log *slog.Logger) (Transport, error)
	// Config is the plugin's own decoded config (its Config type), for
	// tests and tools that inspect a config; the agent does not read it.
	Config any
}
