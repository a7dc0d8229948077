package agent

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/elasticsearch"
	"github.com/keeptrusts/kt/sinks/file"
	"github.com/keeptrusts/kt/sinks/splunkhec"
	"github.com/keeptrusts/kt/sources"
	"github.com/keeptrusts/kt/sources/tail"
	"github.com/keeptrusts/kt/sources/webhook"
)

// The plugins kt has: adding a source or a sink is its own folder plus one
// line here (docs/ARCHITECTURE.md).
var (
	sourcePlugins = []sources.Plugin{
		webhook.Plugin,
		tail.Plugin,
	}
	sinkPlugins = []sinks.Plugin{
		file.Plugin,
		splunkhec.Plugin,
		elasticsearch.Plugin,
	}
)

// Types of the config schema whose plugin is not built yet: a block of one
// is refused with "not available yet" rather than ignored.
var (
	plannedSources []string
	plannedSinks   = []string{"kafka", "syslog", "s3"}
)

// SourceBlock is a decoded `source "<Type>" "<Name>"` block.
type SourceBlock struct {
	Type, Name string
	Spec       sources.Spec
}

// SinkBlock is a decoded `sink "<Type>" "<Name>"` block.
type SinkBlock struct {
	Type, Name string
	Spec       sinks.Spec
}

// registry finds the plugin of a block's type.
type registry[P any] struct {
	kind    string // "source" or "sink"
	plugins map[string]P
	planned []string
}

func newRegistry[P any](kind string, ps []P, typeOf func(P) string, planned []string) registry[P] {
	r := registry[P]{kind: kind, plugins: map[string]P{}, planned: planned}
	for _, p := range ps {
		t := typeOf(p)
		if _, dup := r.plugins[t]; dup {
			panic(fmt.Sprintf("agent: two %s plugins of type %q", kind, t))
		}
		r.plugins[t] = p
	}
	return r
}

// lookup returns the plugin of b's type, or the diagnostics that say why
// there is none; it also reports a name used twice (names key cursors,
// metrics and logs).
func (r registry[P]) lookup(b pluginHCL, seen map[string]hcl.Range) (P, bool, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if prev, dup := seen[b.Name]; dup {
		diags = diags.Extend(hclErr(b.DefRange, fmt.Sprintf("Duplicate %s name", r.kind),
			fmt.Sprintf("A %s named %q is already defined at %s; names must be unique (they key cursors, metrics and logs).", r.kind, b.Name, pos(prev))))
	} else {
		seen[b.Name] = b.DefRange
	}
	p, ok := r.plugins[b.Type]
	if ok {
		return p, true, diags
	}
	for _, t := range r.planned {
		if t == b.Type {
			return p, false, diags.Extend(notYet(b.DefRange, r.kind+" "+b.Type, fmt.Sprintf("The %q %s", b.Type, r.kind)))
		}
	}
	var types []string
	for t := range r.plugins {
		types = append(types, fmt.Sprintf("%q", t))
	}
	for _, t := range r.planned {
		types = append(types, fmt.Sprintf("%q", t))
	}
	sort.Strings(types)
	return p, false, diags.Extend(hclErr(b.DefRange, fmt.Sprintf("Unknown %s type", r.kind),
		fmt.Sprintf("There is no %s type %q; the types are %s.", r.kind, b.Type, strings.Join(types, ", "))))
}

var (
	sourceRegistry = newRegistry("source", sourcePlugins, func(p sources.Plugin) string { return p.Type }, plannedSources)
	sinkRegistry   = newRegistry("sink", sinkPlugins, func(p sinks.Plugin) string { return p.Type }, plannedSinks)
)

// decodePlugins decodes every source and sink block with its plugin.
func decodePlugins(cfg *Config, srcs, snks []pluginHCL, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, b := range srcs {
		p, ok, d := sourceRegistry.lookup(b, seen)
		diags = diags.Extend(d)
		if !ok {
			continue
		}
		spec, d := p.Decode(b.Name, b.Body, ctx, cfg.DataDir)
		diags = diags.Extend(d)
		cfg.Sources = append(cfg.Sources, SourceBlock{Type: b.Type, Name: b.Name, Spec: spec})
	}
	clear(seen)
	for _, b := range snks {
		p, ok, d := sinkRegistry.lookup(b, seen)
		diags = diags.Extend(d)
		if !ok {
			continue
		}
		spec, d := p.Decode(b.Name, b.Body, ctx)
		diags = diags.Extend(d)
		spec.Delivery.SetDataDir(cfg.DataDir)
		cfg.Sinks = append(cfg.Sinks, SinkBlock{Type: b.Type, Name: b.Name, Spec: spec})
	}
	return diags
}
