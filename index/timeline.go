package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Why an event is related to another in a timeline.
const (
	ByCorrelation = "correlation_id" // the same correlation_id
	ByRequest     = "request_id"     // the same request_id
	ByTarget      = "target"         // the same target (type and id), within the window
	ByActor       = "actor"          // the same actor (id), within the window
)

// DefaultWindow is how far before and after an event a timeline looks for
// the same target and the same actor.
const DefaultWindow = 24 * time.Hour

// MaxTimeline is the most related events a timeline holds.
const MaxTimeline = 1000

// Related is an event of a timeline with why it is related (one or more
// of ByCorrelation, ByRequest, ByTarget, ByActor, in that order).
type Related struct {
	Row
	Why []string
}

// Timeline is the events related to one event, in order of time (then
// seq), the event itself among them (Why empty).
type Timeline struct {
	Event Row
	// Events are the event and its related events, oldest first.
	Events []Related
	// Truncated is set when more than MaxTimeline events were related:
	// the ones nearest in time to the event are kept.
	Truncated bool
}

// ErrNotFound is returned for an event id the index does not hold.
var ErrNotFound = errors.New("index: no such event")

// Timeline returns the events related to the event id: the same
// correlation_id or request_id at any time; the same target, and the same
// actor, within window before and after it (DefaultWindow when 0).
func (x *Index) Timeline(ctx context.Context, id string, window time.Duration) (Timeline, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	var (
		seq, t                         int64
		line                           []byte
		actor, ttype, tid, corr, reqID sql.NullString
	)
	err := x.db.QueryRowContext(ctx, `SELECT seq, time, line, actor_id, target_type, target_id, correlation_id, request_id
		FROM events WHERE id = ? ORDER BY seq LIMIT 1`, id).Scan(&seq, &t, &line, &actor, &ttype, &tid, &corr, &reqID)
	if errors.Is(err, sql.ErrNoRows) {
		return Timeline{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Timeline{}, fmt.Errorf("index: %w", err)
	}
	tl := Timeline{Event: Row{Seq: uint64(seq), Line: line}}
	type hit struct {
		row Related
		t   int64
	}
	hits := map[int64]*hit{seq: {row: Related{Row: tl.Event}, t: t}}
	from, to := t-window.Microseconds(), t+window.Microseconds()
	add := func(why, q string, args ...any) error {
		rows, err := x.db.QueryContext(ctx, q+` LIMIT `+fmt.Sprint(MaxTimeline+1), args...)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s, ht int64
			var l []byte
			if err := rows.Scan(&s, &ht, &l); err != nil {
				return fmt.Errorf("index: %w", err)
			}
			if s == seq {
				continue
			}
			h := hits[s]
			if h == nil {
				h = &hit{row: Related{Row: Row{Seq: uint64(s), Line: l}}, t: ht}
				hits[s] = h
			}
			h.row.Why = append(h.row.Why, why)
		}
		return rows.Err()
	}
	const cols = `SELECT seq, time, line FROM events WHERE `
	if corr.Valid {
		if err := add(ByCorrelation, cols+`correlation_id = ? ORDER BY abs(time - ?)`, corr.String, t); err != nil {
			return Timeline{}, err
		}
	}
	if reqID.Valid {
		if err := add(ByRequest, cols+`request_id = ? ORDER BY abs(time - ?)`, reqID.String, t); err != nil {
			return Timeline{}, err
		}
	}
	if tid.Valid {
		if err := add(ByTarget, cols+`target_id = ? AND target_type IS ? AND time >= ? AND time <= ? ORDER BY abs(time - ?)`,
			tid.String, ttype, from, to, t); err != nil {
			return Timeline{}, err
		}
	}
	if actor.Valid {
		if err := add(ByActor, cols+`actor_id = ? AND time >= ? AND time <= ? ORDER BY abs(time - ?)`, actor.String, from, to, t); err != nil {
			return Timeline{}, err
		}
	}
	all := make([]*hit, 0, len(hits))
	for _, h := range hits {
		all = append(all, h)
	}
	if len(all) > MaxTimeline+1 {
		// Keep the nearest in time (then in seq) to the event.
		slices.SortFunc(all, func(a, b *hit) int {
			da, db := abs(a.t-t), abs(b.t-t)
			if da != db {
				return cmpInt(da, db)
			}
			return cmpInt(abs(int64(a.row.Seq)-seq), abs(int64(b.row.Seq)-seq))
		})
		all, tl.Truncated = all[:MaxTimeline+1], true
	}
	slices.SortFunc(all, func(a, b *hit) int {
		if a.t != b.t {
			return cmpInt(a.t, b.t)
		}
		return cmpInt(int64(a.row.Seq), int64(b.row.Seq))
	})
	for _, h := range all {
		tl.Events = append(tl.Events, h.row)
	}
	if keep := keepNearest(tl.Events, tl.Event.Seq, MaxPageBytes); len(keep) < len(tl.Events) {
		tl.Events, tl.Truncated = keep, true
	}
	return tl, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// keepNearest returns the events (in order) nearest in the list to the
// event seq whose lines fit in maxBytes together; the event itself is
// always kept.
func keepNearest(evs []Related, seq uint64, maxBytes int) []Related {
	total := 0
	for _, e := range evs {
		total += len(e.Line)
	}
	if total <= maxBytes {
		return evs
	}
	at := 0
	for i, e := range evs {
		if e.Seq == seq {
			at = i
		}
	}
	lo, hi := at, at+1
	used := len(evs[at].Line)
	for {
		grew := false
		if lo > 0 && used+len(evs[lo-1].Line) <= maxBytes {
			lo--
			used += len(evs[lo].Line)
			grew = true
		}
		if hi < len(evs) && used+len(evs[hi].Line) <= maxBytes {
			used += len(evs[hi].Line)
			hi++
			grew = true
		}
		if !grew {
			return evs[lo:hi]
		}
	}
}
