package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/keeptrusts/kt/configs"
	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/queue"
)

// Config is a decoded and validated agent configuration.
type Config struct {
	File    string // the config file, or "(embedded default)"
	DataDir string

	Signing   SigningConfig
	Ledger    LedgerConfig
	Redact    RedactConfig
	Normalize NormalizeConfig
	Health    HealthConfig
	QueryAPI  *QueryAPIConfig // nil = no query API

	// Sources and Sinks are the plugin blocks, in file order, each decoded
	// by its plugin (agent/plugins.go).
	Sources []SourceBlock
	Sinks   []SinkBlock
}

// SigningConfig is the signing block.
type SigningConfig struct {
	KeyFile            string        // generated on first start if absent
	KeyName            string        // name of a generated key
	Origin             string        // checkpoint origin; "" = "kt/<ledger id>"
	CheckpointInterval time.Duration // ledger.checkpoint entries
	CommitInterval     time.Duration // minimum gap between two signed commit checkpoints
}

// HealthConfig is the health block: when the agent reports a component as
// stalled.
type HealthConfig struct {
	// StallAfter is how long a source, a sink or the ledger may have work
	// waiting without making any progress before `kt status`, /readyz and
	// the kt_stalled metric report it (default DefaultStallAfter).
	StallAfter time.Duration
}

// QueryAPIConfig is the query_api block: listen, token, TLS and limits.
type QueryAPIConfig = query.Config

// EmbeddedName is what diagnostics call the embedded default config.
const EmbeddedName = "(embedded default)"

type rootHCL struct {
	DataDir   *string          `hcl:"data_dir,optional"`
	Signing   []signingHCL     `hcl:"signing,block"`
	Sources   []pluginHCL      `hcl:"source,block"`
	Redact    []redactHCL      `hcl:"redact,block"`
	Sinks     []pluginHCL      `hcl:"sink,block"`
	QueryAPI  []queryAPIHCL    `hcl:"query_api,block"`
	Health    []healthHCL      `hcl:"health,block"`
	Normalize []normalizeHCL   `hcl:"normalize,block"`
	Ledger    []ledgerHCL      `hcl:"ledger,block"`
	Retention []notYetBlockHCL `hcl:"retention,block"`
}

type signingHCL struct {
	KeyFile            *string        `hcl:"key_file,optional"`
	KeyName            *string        `hcl:"key_name,optional"`
	Origin             *string        `hcl:"origin,optional"`
	CheckpointInterval hcl.Expression `hcl:"checkpoint_interval,optional"`
	CommitInterval     hcl.Expression `hcl:"commit_interval,optional"`
	DefRange           hcl.Range      `hcl:",def_range"`
}

type healthHCL struct {
	StallAfter hcl.Expression `hcl:"stall_after,optional"`
	DefRange   hcl.Range      `hcl:",def_range"`
}

type queryAPIHCL struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

type pluginHCL struct {
	Type     string    `hcl:"type,label"`
	Name     string    `hcl:"name,label"`
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

type notYetBlockHCL struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

// LoadFile reads and validates a config file. The returned diagnostics
// carry file:line:col; the parser is returned so they can be rendered with
// source snippets.
func LoadFile(path string) (*Config, *hclparse.Parser, hcl.Diagnostics) {
	p := hclparse.NewParser()
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, p, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read config", Detail: err.Error()}}
	}
	cfg, diags := load(p, path, src, filepath.Dir(path), "/var/lib/kt")
	return cfg, p, diags
}

// LoadDefault returns the embedded default config: data in ./kt-data, a
// webhook on 127.0.0.1:8780, the query API on 127.0.0.1:8781, a file sink.
func LoadDefault() (*Config, *hclparse.Parser, hcl.Diagnostics) {
	p := hclparse.NewParser()
	cfg, diags := load(p, EmbeddedName, configs.Default, ".", "./kt-data")
	return cfg, p, diags
}

// LoadBytes validates config text, for tests and `kt config validate -`.
func LoadBytes(name string, src []byte) (*Config, *hclparse.Parser, hcl.Diagnostics) {
	p := hclparse.NewParser()
	cfg, diags := load(p, name, src, ".", "/var/lib/kt")
	return cfg, p, diags
}

func load(p *hclparse.Parser, name string, src []byte, dir, defaultDataDir string) (*Config, hcl.Diagnostics) {
	f, diags := p.ParseHCL(src, name)
	if diags.HasErrors() {
		return nil, diags
	}
	ctx := hclconf.EvalContext(dir)
	var root rootHCL
	// Decoding goes on past errors at the top level (an unknown attribute,
	// an env() that is not set) so that every mistake of the file is
	// reported at once, the blocks' included; what failed to decode is left
	// at its default.
	diags = diags.Extend(gohcl.DecodeBody(f.Body, ctx, &root))
	cfg := &Config{File: name, DataDir: defaultDataDir}
	if root.DataDir != nil {
		cfg.DataDir = *root.DataDir
		if cfg.DataDir == "" {
			diags = diags.Extend(hclconf.Error(f.Body.MissingItemRange(), "Empty data_dir", "data_dir must name a directory."))
		}
	}
	diags = diags.Extend(single("signing", len(root.Signing), blockRanges(root.Signing, func(b signingHCL) hcl.Range { return b.DefRange })))
	diags = diags.Extend(single("query_api", len(root.QueryAPI), blockRanges(root.QueryAPI, func(b queryAPIHCL) hcl.Range { return b.DefRange })))

	cfg.Signing = SigningConfig{
		KeyFile:            layout.SigningKey(cfg.DataDir),
		KeyName:            defaultKeyName(),
		CheckpointInterval: queue.DefaultCheckpointInterval,
		CommitInterval:     queue.DefaultCommitInterval,
	}
	if len(root.Signing) > 0 {
		s := root.Signing[0]
		if s.KeyFile != nil {
			cfg.Signing.KeyFile = *s.KeyFile
		}
		if s.KeyName != nil {
			cfg.Signing.KeyName = *s.KeyName
			if *s.KeyName == "" || strings.ContainsAny(*s.KeyName, "+ \t\n") {
				diags = diags.Extend(hclconf.Error(s.DefRange, "Invalid key_name", "key_name must be non-empty, without spaces or '+'."))
			}
		}
		if s.Origin != nil {
			cfg.Signing.Origin = *s.Origin
		}
		var d hcl.Diagnostics
		cfg.Signing.CheckpointInterval, d = hclconf.Duration(s.CheckpointInterval, ctx, "checkpoint_interval", cfg.Signing.CheckpointInterval)
		diags = diags.Extend(d)
		cfg.Signing.CommitInterval, d = hclconf.Duration(s.CommitInterval, ctx, "commit_interval", cfg.Signing.CommitInterval)
		diags = diags.Extend(d)
	}
	diags = diags.Extend(decodePipeline(cfg, root.Redact, root.Normalize, ctx))
	diags = diags.Extend(single("ledger", len(root.Ledger), blockRanges(root.Ledger, func(b ledgerHCL) hcl.Range { return b.DefRange })))
	if len(root.Ledger) > 0 {
		diags = diags.Extend(decodeLedger(cfg, root.Ledger[0], ctx))
	}
	diags = diags.Extend(single("health", len(root.Health), blockRanges(root.Health, func(b healthHCL) hcl.Range { return b.DefRange })))
	cfg.Health = HealthConfig{StallAfter: DefaultStallAfter}
	if len(root.Health) > 0 {
		var d hcl.Diagnostics
		cfg.Health.StallAfter, d = hclconf.Duration(root.Health[0].StallAfter, ctx, "stall_after", cfg.Health.StallAfter)
		diags = diags.Extend(d)
	}
	if len(root.QueryAPI) > 0 {
		q, d := query.Decode(root.QueryAPI[0].Body, ctx)
		diags = diags.Extend(d)
		cfg.QueryAPI = &q
	}
	for _, r := range root.Retention {
		diags = diags.Extend(notYet(r.DefRange, "retention", "The retention block"))
	}

	diags = diags.Extend(decodePlugins(cfg, root.Sources, root.Sinks, ctx))
	if len(root.Sources) == 0 {
		diags = diags.Extend(hclconf.Error(f.Body.MissingItemRange(), "No source",
			"The config has no source block, so nothing would ever be recorded. Add a source \"webhook\" or source \"file\" block."))
	}
	diags = hclconf.Dedupe(diags)
	hclconf.Sort(diags)
	return cfg, diags
}

func notYet(rng hcl.Range, what, subject string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Not available yet: " + what,
		Detail:   subject + " is part of the kt configuration schema but is not available in this version; remove the block (it would otherwise be silently ignored).",
		Subject:  rng.Ptr(),
	}}
}

func single(name string, n int, ranges []hcl.Range) hcl.Diagnostics {
	if n <= 1 {
		return nil
	}
	return hclconf.Error(ranges[1], "Duplicate "+name+" block",
		fmt.Sprintf("Only one %s block is allowed; the first is at %s.", name, pos(ranges[0])))
}

var hclErr = hclconf.Error

func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func blockRanges[T any](bs []T, f func(T) hcl.Range) []hcl.Range {
	out := make([]hcl.Range, len(bs))
	for i, b := range bs {
		out[i] = f(b)
	}
	return out
}

func defaultKeyName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	h = strings.NewReplacer("+", "-", " ", "-").Replace(h)
	return "kt-" + h
}
