package sources

import (
	"sync/atomic"
	"time"
)

// Counters keeps the figures of a source's Stats, so that every source
// counts alike. A source embeds it and calls Took and Refuse as records
// are settled. Safe for concurrent use; the zero value is ready.
type Counters struct {
	accepted, duplicates, refused atomic.Uint64
	backlog                       atomic.Int64
	lastProgress                  atomic.Int64 // Unix nanoseconds; 0 = never
}

// Took counts what an Emit made durable, at now.
func (c *Counters) Took(r Result, now time.Time) {
	c.accepted.Add(uint64(r.Accepted))
	c.duplicates.Add(uint64(r.Duplicates))
	c.lastProgress.Store(now.UnixNano())
}

// Refuse counts n records refused for good (answered 4xx, dead-lettered),
// at now.
func (c *Counters) Refuse(n int, now time.Time) {
	c.refused.Add(uint64(n))
	c.lastProgress.Store(now.UnixNano())
}

// Refused returns the count of records refused so far.
func (c *Counters) Refused() uint64 { return c.refused.Load() }

// SetBacklog sets Stats().Backlog to n.
func (c *Counters) SetBacklog(n int64) { c.backlog.Store(n) }

// AddBacklog adds d (which may be negative) to Stats().Backlog.
func (c *Counters) AddBacklog(d int64) { c.backlog.Add(d) }

// Stats returns the figures, with Backlog counted in unit.
func (c *Counters) Stats(unit string) Stats {
	st := Stats{
		Accepted:    c.accepted.Load(),
		Duplicates:  c.duplicates.Load(),
		Refused:     c.refused.Load(),
		Backlog:     c.backlog.Load(),
		BacklogUnit: unit,
	}
	if ns := c.lastProgress.Load(); ns != 0 {
		st.LastProgress = time.Unix(0, ns)
	}
	return st
}
