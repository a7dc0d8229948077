package agent

import (
	"time"

	"github.com/keeptrusts/kt/query"
)

// status builds the Status document.
func (d *daemon) status() query.Status {
	now := time.Now()
	led := d.led
	size := led.Size()
	st := led.Stats()
	s := query.Status{Version: d.version, Time: now.UTC(), Problems: d.problems(),
		Ledger: query.LedgerStatus{ID: led.LedgerID(), Entries: size, Commits: st.Commits, Duplicates: st.Duplicates,
			Pending: st.PendingEvents, Damage: led.Damage()}}
	if cp := led.LatestCheckpoint(); cp != nil {
		s.Ledger.CheckpointSize = cp.Size
	}
	if st.LastCommitUnixNano != 0 {
		s.Ledger.LastCommit = time.Unix(0, st.LastCommitUnixNano).UTC()
	}
	s.Sinks = []query.SinkStatus{}
	for _, e := range d.sinks {
		es := e.Stats()
		kind := "sink"
		if e == d.idxEngine {
			kind = "index"
		}
		ss := query.SinkStatus{Name: e.Name(), Type: e.Type(), Next: es.Next, LagEntries: size - min(size, es.Next),
			Sent: es.Sent, Retried: es.Retried, Failed: es.Failed, DeadLettered: es.DeadLettered, InFlight: es.InFlight,
			LastError: es.LastError, LastErrorTime: es.LastErrorTime, Stalled: d.mon.isStalled(kind, e.Name())}
		if !es.Oldest.IsZero() {
			ss.LagSeconds = now.Sub(es.Oldest).Seconds()
		}
		if kind == "index" {
			s.Index = &ss
			continue
		}
		s.Sinks = append(s.Sinks, ss)
	}
	s.Sources = []query.SourceStatus{}
	for _, src := range d.sources {
		x := src.Stats()
		s.Sources = append(s.Sources, query.SourceStatus{Name: src.Name(), Type: src.Type(), Accepted: x.Accepted, Duplicates: x.Duplicates, Refused: x.Refused,
			Backlog: x.Backlog, BacklogUnit: x.BacklogUnit, LastProgress: x.LastProgress, Stalled: d.mon.isStalled("source", src.Name())})
	}
	return s
}
