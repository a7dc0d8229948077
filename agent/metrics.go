package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sources"
)

func (d *daemon) registerLedgerMetrics() {
	led, reg := d.led, d.reg
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_ledger_entries", Help: "Entries in the ledger."},
		func() float64 { return float64(led.Size()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_ledger_commits_total", Help: "Group commits (fsync + signed checkpoint)."},
		func() float64 { return float64(led.Stats().Commits) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_ledger_duplicates_total", Help: "Records not written again because their event id was in the ledger."},
		func() float64 { return float64(led.Stats().Duplicates) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_ledger_pending_events", Help: "Events handed to the ledger and not yet durable."},
		func() float64 { return float64(led.Stats().PendingEvents) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_ledger_damage_unacknowledged", Help: "Damaged ranges found in the ledger's segments that no operator has acknowledged (kt damage list)."},
		func() float64 { return float64(led.Stats().DamageUnacked) }))
}

// registerSourceMetrics counts every source's records the same way, in
// events: kt_source_records_total{result="accepted|duplicate|refused"}. A
// source registers its own metrics beyond these (sources.Env.Metrics).
func (d *daemon) registerSourceMetrics(src sources.Source) {
	for result, f := range map[string]func(sources.Stats) uint64{
		"accepted":  func(s sources.Stats) uint64 { return s.Accepted },
		"duplicate": func(s sources.Stats) uint64 { return s.Duplicates },
		"refused":   func(s sources.Stats) uint64 { return s.Refused },
	} {
		d.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_source_records_total",
			Help:        "Records a source took in, by result: accepted (new ledger entry), duplicate (already in the ledger), refused (400/409 or dead letter).",
			ConstLabels: prometheus.Labels{"source": src.Name(), "type": src.Type(), "result": result}},
			func() float64 { return float64(f(src.Stats())) }))
	}
}

// registerHealthMetrics exports the monitor's view and the pipeline's
// unmapped vocabulary.
func (d *daemon) registerHealthMetrics() {
	d.mon.mu.Lock()
	comps := append([]*watched(nil), d.mon.comps...)
	d.mon.mu.Unlock()
	for _, c := range comps {
		d.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_stalled",
			Help:        "1 while the component has had work waiting for longer than health.stall_after without progress.",
			ConstLabels: prometheus.Labels{"kind": c.kind, "name": c.name}},
			func() float64 {
				if d.mon.isStalled(c.kind, c.name) {
					return 1
				}
				return 0
			}))
	}
	d.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_problems", Help: "Things an operator must look at now (stalled components, unacknowledged damage); kt status lists them."},
		func() float64 { return float64(len(d.problems())) }))
	d.reg.MustRegister(&unmappedCollector{norms: d.norms})
}

// unmappedCollector exports the vocabulary values producers sent that no
// mapping covers, so an operator can add one.
type unmappedCollector struct {
	norms []*pipeline.Normalizer
}

var unmappedDesc = prometheus.NewDesc("kt_pipeline_unmapped_values_total",
	"Records whose category, actor type or outcome is outside kt's vocabulary and no mapping covers (kept as given); values beyond 64 per field are counted under \"(other)\".",
	[]string{"field", "value"}, nil)

// Describe implements prometheus.Collector.
func (c *unmappedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- unmappedDesc }

// Collect implements prometheus.Collector.
func (c *unmappedCollector) Collect(ch chan<- prometheus.Metric) {
	sum := map[[2]string]uint64{}
	for _, n := range c.norms {
		for _, u := range n.Unmapped() {
			sum[[2]string{u.Field, u.Value}] += u.Count
		}
	}
	for k, v := range sum {
		ch <- prometheus.MustNewConstMetric(unmappedDesc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
}
func registerEngineMetrics(reg *prometheus.Registry, d sinks.Delivery, e *sinks.Engine, led *queue.Ledger) {
	labels := prometheus.Labels{"sink": d.Name, "type": d.Type}
	counter := func(name, help string, f func(sinks.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(f(e.Stats())) }))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
	}
	counter("kt_sink_sent_entries_total", "Entries delivered by the sink since start.", func(s sinks.Stats) uint64 { return s.Sent })
	counter("kt_sink_retried_records_total", "Records sent again after a failed attempt.", func(s sinks.Stats) uint64 { return s.Retried })
	counter("kt_sink_failed_requests_total", "Delivery attempts that failed.", func(s sinks.Stats) uint64 { return s.Failed })
	counter("kt_sink_dead_lettered_total", "Records the receiver refused for good, parked in the sink's dead-letter file.", func(s sinks.Stats) uint64 { return s.DeadLettered })
	gauge("kt_sink_lag_entries", "Ledger entries the sink has not delivered yet.", func() float64 {
		size := led.Size()
		return float64(size - min(size, e.Next()))
	})
	gauge("kt_sink_lag_seconds", "Age of the oldest entry read but not yet delivered (0 when caught up).", func() float64 {
		if o := e.Stats().Oldest; !o.IsZero() {
			return time.Since(o).Seconds()
		}
		return 0
	})
	gauge("kt_sink_in_flight_batches", "Batches being sent.", func() float64 { return float64(e.Stats().InFlight) })
	gauge("kt_sink_last_error_timestamp_seconds", "When the sink last failed (Unix time; 0 if never since start).", func() float64 {
		if t := e.Stats().LastErrorTime; !t.IsZero() {
			return float64(t.UnixNano()) / 1e9
		}
		return 0
	})
}
