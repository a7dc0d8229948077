package sources

import (
	"context"
	"log/slog"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeptrusts/kt/pipeline"
)

// Source is a running source: it turns outside input into raw records and
// hands them to its Emitter until ctx is done.
//
// Run is called once by the agent, in its own goroutine, after the ledger
// is open and the sinks run. It returns nil when ctx is done and it stopped
// taking input (answering or settling what was in flight), or an error it
// cannot go on from (the agent then stops, and systemd restarts it).
// Stats is safe to call concurrently with Run.
type Source interface {
	Name() string
	Type() string
	Run(ctx context.Context) error
	StatsReporter
}

// Listener is implemented by a source that listens on a network address,
// bound by its constructor (so a port conflict fails start-up).
type Listener interface {
	Addr() string
}

// Env is what the agent gives a source's constructor.
type Env struct {
	// Emit normalizes and appends the source's records. It is also a
	// Submitter and a Redactor.
	Emit Emitter
	// Log is the agent's logger.
	Log *slog.Logger
	// Metrics registers the source's own metrics (beyond the ones the
	// agent keeps for every source from Stats); their names start with
	// kt_<type>_ and carry a "source" label.
	Metrics prometheus.Registerer
}

// Plugin is a source type: the name it has in the config, how its block is
// decoded and how the source is made. The agent lists the plugins it knows
// in one place; adding a source is its folder plus one line there.
type Plugin struct {
	// Type is the block's first label, `source "<Type>" "NAME" {...}`:
	// snake_case, frozen once released.
	Type string
	// Decode reads the block body of the source called name; dataDir is
	// where it may keep state (see internal/layout). Every problem is a
	// diagnostic at the attribute's range, all of them at once; it does no
	// I/O but reading files the config names.
	Decode func(name string, body hcl.Body, ctx *hcl.EvalContext, dataDir string) (Spec, hcl.Diagnostics)
}

// Spec is a decoded source block.
type Spec struct {
	// InvalidUTF8 is what the pipeline does with invalid UTF-8 in this
	// source's records: UTF8Reject where the sender can be told (HTTP),
	// UTF8Escape where it cannot (a file keeps what it holds).
	InvalidUTF8 pipeline.UTF8Mode
	// New makes the source; it may bind a listener, but reads no input
	// before Run.
	New func(env Env) (Source, error)
	// Config is the plugin's own decoded config (its Config type), for
	// tests and tools that inspect a config; the agent does not read it.
	Config any
}

// NewPlugin returns the Plugin of the source type typ, whose block decode
// reads into a config C (dataDir given for the state it keeps), whose
// records the pipeline treats with mode, whose source newS makes, and
// whose own metrics register adds. A source package declares
//
//	var Plugin = sources.NewPlugin(Type, pipeline.UTF8Reject, decode, New, (*Source).register)
func NewPlugin[C any, S Source](typ string, mode pipeline.UTF8Mode,
	decode func(name string, body hcl.Body, ctx *hcl.EvalContext, dataDir string) (C, hcl.Diagnostics),
	newS func(C, Emitter, *slog.Logger) (S, error),
	register func(S, prometheus.Registerer) error,
) Plugin {
	return Plugin{Type: typ, Decode: func(name string, body hcl.Body, ctx *hcl.EvalContext, dataDir string) (Spec, hcl.Diagnostics) {
		c, diags := decode(name, body, ctx, dataDir)
		return Spec{Config: c, InvalidUTF8: mode, New: func(env Env) (Source, error) {
			s, err := newS(c, env.Emit, env.Log)
			if err != nil {
				return nil, err
			}
			if err := register(s, env.Metrics); err != nil {
				return nil, err
			}
			return s, nil
		}}, diags
	}}
}
