package agent

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
)

// RedactConfig is the redact block.
type RedactConfig struct {
	Paths    []string // extra dotted paths whose values are redacted
	Names    []string // extra secret member names
	Patterns []string // RE2 regular expressions of secret values
	KeyFile  string   // HMAC key for redacted values; generated on first start if absent
}

// NormalizeConfig is the normalize block: how producer vocabulary maps to
// kt's, and the limits of an event. Zero values take the pipeline's
// defaults (pipeline.NewDefaultOptions).
type NormalizeConfig struct {
	CategoryMap   map[string]string
	ActorTypeMap  map[string]string
	MaxIDBytes    int
	MaxEventBytes int
}

// LedgerConfig is the ledger block.
type LedgerConfig struct {
	// SegmentBytes is the size past which the ledger starts a new segment
	// file (0 = queue.DefaultSegmentBytes).
	SegmentBytes int64
}

// The blocks keep their bodies, decoded by decodePipeline and decodeLedger,
// so that a problem can point at its attribute.
type redactHCL struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

type redactAttrs struct {
	Paths    []string `hcl:"paths,optional"`
	Names    []string `hcl:"names,optional"`
	Patterns []string `hcl:"patterns,optional"`
	KeyFile  *string  `hcl:"key_file,optional"`
}

type normalizeHCL struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

type normalizeAttrs struct {
	CategoryMap   map[string]string `hcl:"category_map,optional"`
	ActorTypeMap  map[string]string `hcl:"actor_type_map,optional"`
	MaxIDBytes    *int              `hcl:"max_id_bytes,optional"`
	MaxEventBytes *int              `hcl:"max_event_bytes,optional"`
}

type ledgerHCL struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

type ledgerAttrs struct {
	SegmentBytes *int64 `hcl:"segment_bytes,optional"`
}

// Bounds of ledger.segment_bytes.
const (
	minSegmentBytes = 64 << 10
	maxSegmentBytes = 1 << 30
)

// decodePipeline fills cfg.Redact and cfg.Normalize and checks them the
// way the pipeline will, each problem at its attribute.
func decodePipeline(cfg *Config, redact []redactHCL, normalize []normalizeHCL, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = diags.Extend(single("redact", len(redact), blockRanges(redact, func(b redactHCL) hcl.Range { return b.DefRange })))
	diags = diags.Extend(single("normalize", len(normalize), blockRanges(normalize, func(b normalizeHCL) hcl.Range { return b.DefRange })))
	// Options.Validate on one field at a time, so that its error points at
	// the attribute that has it.
	check := func(rng hcl.Range, summary string, set func(o *pipeline.Options)) {
		o := pipeline.NewDefaultOptions()
		o.RedactKey = make([]byte, pipeline.MinRedactKeyBytes)
		set(&o)
		if err := o.Validate(); err != nil {
			diags = diags.Extend(hclconf.Error(rng, summary, err.Error()))
		}
	}
	cfg.Redact = RedactConfig{KeyFile: layout.RedactKey(cfg.DataDir)}
	if len(redact) > 0 {
		var r redactAttrs
		diags = diags.Extend(gohcl.DecodeBody(redact[0].Body, ctx, &r))
		rng := hclconf.AttrRange(redact[0].Body)
		cfg.Redact.Paths, cfg.Redact.Names, cfg.Redact.Patterns = r.Paths, r.Names, r.Patterns
		hclconf.Set(&cfg.Redact.KeyFile, r.KeyFile)
		check(rng("paths"), "Invalid redact path", func(o *pipeline.Options) { o.RedactPaths = r.Paths })
		check(rng("names"), "Invalid redact name", func(o *pipeline.Options) { o.RedactNames = r.Names })
		for _, p := range r.Patterns {
			if _, err := regexp.Compile(p); err != nil {
				diags = diags.Extend(hclconf.Error(rng("patterns"), "Invalid redact pattern",
					fmt.Sprintf("patterns: %q is not an RE2 regular expression: %v", p, err)))
			}
		}
		check(rng("patterns"), "Invalid redact pattern", func(o *pipeline.Options) { o.RedactPatterns = r.Patterns })
	}
	if len(normalize) > 0 {
		var n normalizeAttrs
		diags = diags.Extend(gohcl.DecodeBody(normalize[0].Body, ctx, &n))
		rng := hclconf.AttrRange(normalize[0].Body)
		cfg.Normalize.CategoryMap, cfg.Normalize.ActorTypeMap = n.CategoryMap, n.ActorTypeMap
		hclconf.Set(&cfg.Normalize.MaxIDBytes, n.MaxIDBytes)
		hclconf.Set(&cfg.Normalize.MaxEventBytes, n.MaxEventBytes)
		check(rng("category_map"), "Invalid category_map", func(o *pipeline.Options) { o.CategoryMap = n.CategoryMap })
		check(rng("actor_type_map"), "Invalid actor_type_map", func(o *pipeline.Options) { o.ActorTypeMap = n.ActorTypeMap })
		if n.MaxIDBytes != nil {
			check(rng("max_id_bytes"), "Invalid max_id_bytes", func(o *pipeline.Options) { o.MaxIDBytes = *n.MaxIDBytes })
			if *n.MaxIDBytes <= 0 {
				diags = diags.Extend(hclconf.Error(rng("max_id_bytes"), "Invalid max_id_bytes", "max_id_bytes must be at least 1."))
			}
		}
		if n.MaxEventBytes != nil {
			check(rng("max_event_bytes"), "Invalid max_event_bytes", func(o *pipeline.Options) { o.MaxEventBytes = *n.MaxEventBytes })
			if *n.MaxEventBytes <= 0 {
				diags = diags.Extend(hclconf.Error(rng("max_event_bytes"), "Invalid max_event_bytes", "max_event_bytes must be at least 1."))
			}
		}
	}
	return diags
}

// decodeLedger fills cfg.Ledger from the ledger block.
func decodeLedger(cfg *Config, b ledgerHCL, ctx *hcl.EvalContext) hcl.Diagnostics {
	var l ledgerAttrs
	if diags := gohcl.DecodeBody(b.Body, ctx, &l); diags.HasErrors() || l.SegmentBytes == nil {
		return diags
	}
	cfg.Ledger.SegmentBytes = *l.SegmentBytes
	if cfg.Ledger.SegmentBytes < minSegmentBytes || cfg.Ledger.SegmentBytes > maxSegmentBytes {
		return hclconf.Error(hclconf.AttrRange(b.Body)("segment_bytes"), "Invalid segment_bytes",
			fmt.Sprintf("segment_bytes = %d is out of range: use %d (64 KiB) to %d (1 GiB); the default is %d.", cfg.Ledger.SegmentBytes, minSegmentBytes, maxSegmentBytes, queue.DefaultSegmentBytes))
	}
	return nil
}
