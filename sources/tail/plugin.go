package tail

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

// Type is the file source's type name in the config: source "file" "NAME".
const Type = "file"

// Plugin registers the file source with the agent. A file keeps what it
// holds: invalid UTF-8 is escaped with a marker, not refused (its producer
// cannot be asked again).
var Plugin = sources.NewPlugin(Type, pipeline.UTF8Escape, decodeIn, New, (*Source).register)

// decodeIn is Decode with the state files under dataDir.
func decodeIn(name string, body hcl.Body, ctx *hcl.EvalContext, dataDir string) (Config, hcl.Diagnostics) {
	c, diags := Decode(name, body, ctx)
	c.SetDataDir(dataDir)
	return c, diags
}

// Type returns "file".
func (s *Source) Type() string { return Type }

var _ sources.Source = (*Source)(nil)

// register adds the file source's own metrics to reg (the agent counts
// records for every source).
func (s *Source) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"source": s.cfg.Name}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_file_source_lines_total", Help: "Lines of the file source made durable ledger entries (new or duplicate).", ConstLabels: labels},
			func() float64 { st := s.Stats(); return float64(st.Accepted + st.Duplicates) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_file_source_dead_lettered_total", Help: "Lines written to the source's dead-letter file.", ConstLabels: labels},
			func() float64 { return float64(s.Stats().Refused) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_file_source_backlog_bytes", Help: "Bytes of complete lines in the followed files not yet taken in.", ConstLabels: labels},
			func() float64 { return float64(s.Stats().Backlog) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("file %s: metrics: %w", s.cfg.Name, err)
		}
	}
	return nil
}
