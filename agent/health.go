package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/sources"
)

// DefaultStallAfter is how long a source, a sink or the ledger may have work
// waiting without making progress before it is reported as stalled.
const DefaultStallAfter = 2 * time.Minute

// progress is what a component reports to the stall monitor: a counter that
// moves whenever it makes progress (entries delivered, records taken in or
// refused, commits), and how much work is waiting (0 when idle).
type progress struct {
	count   uint64
	waiting uint64
	unit    string // what waiting counts: "entries", "bytes", "requests", "events"
}

// watched is one component the monitor follows.
type watched struct {
	kind, name string
	read       func() progress

	last      progress
	changedAt time.Time // when count last moved, or when waiting began
	stalled   bool
}

// monitor samples every component's progress once a second and reports
// those that have had work waiting for longer than stallAfter without their
// progress counter moving. It needs nothing from the components but a
// counter and a backlog, so every source and sink is watched the same way.
type monitor struct {
	stallAfter time.Duration
	now        func() time.Time

	mu    sync.Mutex
	comps []*watched
}

func newMonitor(stallAfter time.Duration) *monitor {
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	return &monitor{stallAfter: stallAfter, now: time.Now}
}

// watch adds a component; call before run.
func (m *monitor) watch(kind, name string, read func() progress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.comps = append(m.comps, &watched{kind: kind, name: name, read: read, last: read(), changedAt: m.now()})
}

// sample reads every component once.
func (m *monitor) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, c := range m.comps {
		p := c.read()
		if p.count != c.last.count || (p.waiting > 0 && c.last.waiting == 0) {
			// Progress, or work that has just begun to wait: the clock
			// starts now.
			c.changedAt = now
		}
		c.last = p
		c.stalled = p.waiting > 0 && now.Sub(c.changedAt) >= m.stallAfter
	}
}

// run samples until ctx is done.
func (m *monitor) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sample()
		}
	}
}

// stalled returns a Problem for each stalled component, sorted.
func (m *monitor) stalled() []query.Problem {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []query.Problem
	for _, c := range m.comps {
		if !c.stalled {
			continue
		}
		out = append(out, query.Problem{Kind: c.kind, Name: c.name, Since: c.changedAt.UTC(),
			Reason: fmt.Sprintf("stalled: no progress for %s with %d %s waiting", m.now().Sub(c.changedAt).Round(time.Second), c.last.waiting, c.last.unit)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// isStalled reports whether the component kind/name is stalled now.
func (m *monitor) isStalled(kind, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.comps {
		if c.kind == kind && c.name == name {
			return c.stalled
		}
	}
	return false
}

// watchLedger watches the ledger: events handed to it and not committed.
func (d *daemon) watchLedger() {
	led := d.led
	d.mon.watch("ledger", "", func() progress {
		st := led.Stats()
		return progress{count: st.Commits, waiting: uint64(max(st.PendingEvents, 0)), unit: "events"}
	})
}

// watchEngine watches a sink (or the index, kind "index") through its cursor: it progresses when the
// cursor moves, and has work while the ledger holds entries past it.
func (d *daemon) watchEngine(kind, name string, next func() uint64) {
	led := d.led
	d.mon.watch(kind, name, func() progress {
		n, size := next(), led.Size()
		return progress{count: n, waiting: size - min(size, n), unit: "entries"}
	})
}

// watchSource watches a source through its counts: it progresses when a
// record is taken in or refused, and has work while its backlog is not 0.
func (d *daemon) watchSource(src sources.Source) {
	d.mon.watch("source", src.Name(), func() progress {
		s := src.Stats()
		return progress{count: s.Accepted + s.Duplicates + s.Refused, waiting: uint64(max(s.Backlog, 0)), unit: s.BacklogUnit}
	})
}

// problems lists what an operator must look at now: stalled components,
// then damage nobody acknowledged.
func (d *daemon) problems() []query.Problem {
	out := d.mon.stalled()
	for _, dm := range d.led.Damage() {
		if dm.Acknowledged() {
			continue
		}
		out = append(out, query.Problem{Kind: "ledger", Reason: dm.String() + "; see `kt damage list`, then `kt damage ack " + dm.ID + "`",
			Since: dm.FoundAt.UTC()})
	}
	if out == nil {
		out = []query.Problem{}
	}
	return out
}

// readiness is /readyz: "" when the agent takes input and nothing is
// stalled or damaged, else every reason.
func (d *daemon) readiness() string {
	if !d.ready.Load() {
		return "starting or stopping"
	}
	ps := d.problems()
	if len(ps) == 0 {
		return ""
	}
	why := make([]string, len(ps))
	for i, p := range ps {
		why[i] = p.String()
	}
	return strings.Join(why, "; ")
}

// logProblems logs, at start, what an operator must look at: so that
// damage found earlier and not acknowledged is in the log of every start.
func (d *daemon) logProblems() {
	for _, p := range d.problems() {
		d.log.Error("problem: "+p.String(), "kind", p.Kind, "name", p.Name)
	}
}
