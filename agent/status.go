package agent

import (
	"time"

	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sources"
)

// Status is the document GET /v1/status serves and `kt status` prints.
type Status struct {
	Version string    `json:"version"`
	Time    time.Time `json:"time"`
	// Problems are what an operator must look at now: stalled sources,
	// sinks or ledger, and damage nobody acknowledged. `kt status` exits 1
	// while there is one; /readyz answers 503 naming them.
	Problems []Problem      `json:"problems"`
	Ledger   LedgerStatus   `json:"ledger"`
	Sinks    []SinkStatus   `json:"sinks"`
	Sources  []SourceStatus `json:"sources"`
}

// LedgerStatus is the ledger part of Status.
type LedgerStatus struct {
	ID             string    `json:"id"`
	Entries        uint64    `json:"entries"`
	CheckpointSize int64     `json:"checkpoint_size"`
	LastCommit     time.Time `json:"last_commit,omitzero"`
	Commits        uint64    `json:"commits"`
	Duplicates     uint64    `json:"duplicates"`
	Pending        int       `json:"pending"` // events accepted by Submit, not yet durable
	// Damage is every damage found in the segments, acknowledged or not
	// (see docs/RELIABILITY.md, "Damage").
	Damage []queue.DamageRecord `json:"damage,omitempty"`
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
	Stalled       bool      `json:"stalled"` // entries waiting and none delivered for health.stall_after
}

// SourceStatus is one source's intake, counted in events for every type.
type SourceStatus struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Accepted     uint64    `json:"accepted"`   // events that became new ledger entries
	Duplicates   uint64    `json:"duplicates"` // events already in the ledger (retries, re-reads)
	Refused      uint64    `json:"refused"`    // events refused: 400/409 (webhook), dead-lettered (file)
	Backlog      int64     `json:"backlog"`    // input waiting, in BacklogUnit
	BacklogUnit  string    `json:"backlog_unit"`
	LastProgress time.Time `json:"last_progress,omitzero"`
	Stalled      bool      `json:"stalled"` // input waiting and none taken in for health.stall_after
}

// status builds the Status document.
func (d *daemon) status() Status {
	now := time.Now()
	led := d.led
	size := led.Size()
	st := led.Stats()
	s := Status{Version: d.version, Time: now.UTC(), Problems: d.problems(),
		Ledger: LedgerStatus{ID: led.LedgerID(), Entries: size, Commits: st.Commits, Duplicates: st.Duplicates,
			Pending: st.PendingEvents, Damage: led.Damage()}}
	if cp := led.LatestCheckpoint(); cp != nil {
		s.Ledger.CheckpointSize = cp.Size
	}
	if st.LastCommitUnixNano != 0 {
		s.Ledger.LastCommit = time.Unix(0, st.LastCommitUnixNano).UTC()
	}
	s.Sinks = []SinkStatus{}
	for _, f := range d.fileSinks {
		s.Sinks = append(s.Sinks, SinkStatus{Name: f.Name(), Type: "file", Next: f.Next(), LagEntries: size - min(size, f.Next()), Sent: f.Sent(),
			Stalled: d.mon.isStalled("sink", f.Name())})
	}
	for _, e := range d.engines {
		es := e.Stats()
		ss := SinkStatus{Name: e.Name(), Type: e.Type(), Next: es.Next, LagEntries: size - min(size, es.Next),
			Sent: es.Sent, Retried: es.Retried, Failed: es.Failed, DeadLettered: es.DeadLettered, InFlight: es.InFlight,
			LastError: es.LastError, LastErrorTime: es.LastErrorTime, Stalled: d.mon.isStalled("sink", e.Name())}
		if !es.Oldest.IsZero() {
			ss.LagSeconds = now.Sub(es.Oldest).Seconds()
		}
		s.Sinks = append(s.Sinks, ss)
	}
	s.Sources = []SourceStatus{}
	add := func(name, typ, unit string, r sources.StatsReporter) {
		x := r.Stats()
		s.Sources = append(s.Sources, SourceStatus{Name: name, Type: typ, Accepted: x.Accepted, Duplicates: x.Duplicates, Refused: x.Refused,
			Backlog: x.Backlog, BacklogUnit: unit, LastProgress: x.LastProgress, Stalled: d.mon.isStalled("source", name)})
	}
	for _, t := range d.tails {
		add(t.Name(), "file", "bytes", t)
	}
	for _, h := range d.hooks {
		add(h.Name(), "webhook", "requests", h)
	}
	return s
}
