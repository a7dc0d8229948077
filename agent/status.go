package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	filesink "github.com/keeptrusts/kt/sinks/file"
	filesource "github.com/keeptrusts/kt/sources/file"
	"github.com/keeptrusts/kt/sources/webhook"
)

// Status is the document GET /v1/status serves and `kt status` prints.
type Status struct {
	Version string         `json:"version"`
	Time    time.Time      `json:"time"`
	Ledger  LedgerStatus   `json:"ledger"`
	Sinks   []SinkStatus   `json:"sinks"`
	Sources []SourceStatus `json:"sources"`
}

// LedgerStatus is the ledger part of Status.
type LedgerStatus struct {
	ID             string    `json:"id"`
	Entries        uint64    `json:"entries"`
	CheckpointSize int64     `json:"checkpoint_size"`
	LastCommit     time.Time `json:"last_commit,omitzero"`
	Commits        uint64    `json:"commits"`
	Duplicates     uint64    `json:"duplicates"`
}

// SinkStatus is one sink's delivery state.
type SinkStatus struct {
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Next          uint64    `json:"next"`        // cursor: entries below it are delivered or parked
	LagEntries    uint64    `json:"lag_entries"` // entries not delivered yet
	LagSeconds    float64   `json:"lag_seconds"` // age of the oldest undelivered entry read so far
	Sent          uint64    `json:"sent"`
	Retried       uint64    `json:"retried"`
	Failed        uint64    `json:"failed"`
	DeadLettered  uint64    `json:"dead_lettered"`
	InFlight      int       `json:"in_flight"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// SourceStatus is one source's intake.
type SourceStatus struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Accepted     uint64 `json:"accepted"`
	DeadLettered uint64 `json:"dead_lettered,omitempty"`
	Refused      uint64 `json:"refused,omitempty"`
}

func status(version string, led *queue.Ledger, files []*filesink.Sink, engines []*sinks.Engine, tails []*filesource.Source, hooks []*webhook.Source) Status {
	now := time.Now()
	size := led.Size()
	st := led.Stats()
	s := Status{Version: version, Time: now.UTC(), Ledger: LedgerStatus{ID: led.LedgerID(), Entries: size, Commits: st.Commits, Duplicates: st.Duplicates}}
	if cp := led.LatestCheckpoint(); cp != nil {
		s.Ledger.CheckpointSize = cp.Size
	}
	if st.LastCommitUnixNano != 0 {
		s.Ledger.LastCommit = time.Unix(0, st.LastCommitUnixNano).UTC()
	}
	s.Sinks = []SinkStatus{}
	for _, f := range files {
		s.Sinks = append(s.Sinks, SinkStatus{Name: f.Name(), Type: "file", Next: f.Next(), LagEntries: size - min(size, f.Next()), Sent: f.Sent()})
	}
	for _, e := range engines {
		es := e.Stats()
		ss := SinkStatus{Name: e.Name(), Type: e.Type(), Next: es.Next, LagEntries: size - min(size, es.Next),
			Sent: es.Sent, Retried: es.Retried, Failed: es.Failed, DeadLettered: es.DeadLettered, InFlight: es.InFlight,
			LastError: es.LastError, LastErrorTime: es.LastErrorTime}
		if !es.Oldest.IsZero() {
			ss.LagSeconds = now.Sub(es.Oldest).Seconds()
		}
		s.Sinks = append(s.Sinks, ss)
	}
	s.Sources = []SourceStatus{}
	for _, t := range tails {
		s.Sources = append(s.Sources, SourceStatus{Name: t.Name(), Type: "file", Accepted: t.Emitted(), DeadLettered: t.DeadLettered()})
	}
	for _, h := range hooks {
		refused := h.Count(webhook.BadRequest) + h.Count(webhook.Unauthorized) + h.Count(webhook.TooLarge) + h.Count(webhook.Conflict)
		s.Sources = append(s.Sources, SourceStatus{Name: h.Name(), Type: "webhook", Accepted: h.Count(webhook.Accepted), Refused: refused})
	}
	return s
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
