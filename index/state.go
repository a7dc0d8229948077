package index

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/keeptrusts/kt/event"
)

// State is a target's configuration as of a moment, rebuilt from the
// recorded changes.
//
// The rule: each event's changes.after is taken as the target's whole
// configuration after that event (what the control plane records for a
// configuration or policy change). The state at At is the after of the
// last event of the target at or before At that has one; an event with a
// before and no after, or whose action ends in .delete, .deleted, .remove
// or .removed, leaves the target deleted. Events without changes leave the
// state as it is. When no event up to At has an after (or a deletion), the
// record cannot support a state: Known is false and Why says so.
type State struct {
	TargetType, TargetID string
	At                   time.Time
	// Known is set when the record supports a state at At.
	Known bool
	// Deleted is set when the target was deleted at At (Document is nil).
	Deleted bool
	// Document is the configuration (JSON) at At.
	Document []byte
	// From is the event the state comes from (its after, or its deletion).
	From *Row
	// Events are the events the state was built from, oldest first: From
	// and every later event of the target up to At.
	Events []Row
	// More is how many later events without changes are left out of
	// Events (at most MaxStateEvents are listed).
	More int
	// Total is how many events of the target there are up to At.
	Total int
	// Why says why the record cannot support a state when Known is false.
	Why string
}

// State rebuilds the configuration of the target (targetType may be ""
// when the id is of one type only) as of at.
func (x *Index) State(ctx context.Context, targetType, targetID string, at time.Time) (State, error) {
	st := State{TargetType: targetType, TargetID: targetID, At: at}
	if targetType == "" {
		rows, err := x.db.QueryContext(ctx, `SELECT DISTINCT target_type FROM events WHERE target_id = ? ORDER BY target_type LIMIT 3`, targetID)
		if err != nil {
			return st, fmt.Errorf("index: %w", err)
		}
		var types []string
		for rows.Next() {
			var t sql.NullString
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return st, fmt.Errorf("index: %w", err)
			}
			types = append(types, t.String)
		}
		rows.Close()
		switch len(types) {
		case 0:
			return st, fmt.Errorf("%w: no event has the target id %q", ErrNotFound, targetID)
		case 1:
			st.TargetType = types[0]
		default:
			return st, fmt.Errorf("%w: the target id %q has several types (%s): give TYPE/ID", ErrAmbiguous, targetID, strings.Join(types, ", "))
		}
	}
	rows, err := x.db.QueryContext(ctx, `SELECT seq, line FROM events WHERE target_id = ? AND target_type IS ? AND time <= ?
		ORDER BY time, seq`, targetID, null(st.TargetType), at.UnixMicro())
	if err != nil {
		return st, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var line []byte
		if err := rows.Scan(&seq, &line); err != nil {
			return st, fmt.Errorf("index: %w", err)
		}
		st.Total++
		r := Row{Seq: uint64(seq), Line: line}
		ev, err := event.Parse(line)
		if err != nil {
			return st, fmt.Errorf("index: seq %d: %w", seq, err)
		}
		after, before := present(ev.Changes.After), present(ev.Changes.Before)
		switch {
		case after:
			st.Known, st.Deleted, st.Document = true, false, []byte(ev.Changes.After)
		case before || deletion(ev.Action):
			st.Known, st.Deleted, st.Document = true, true, nil
		default:
			if st.Known {
				if len(st.Events) < MaxStateEvents {
					st.Events = append(st.Events, r)
				} else {
					st.More++
				}
			}
			continue
		}
		st.From = &r
		st.Events, st.More = []Row{r}, 0
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("index: %w", err)
	}
	if st.Total == 0 {
		return st, fmt.Errorf("%w: no event of %s/%s at or before %s", ErrNotFound, st.TargetType, targetID, at.UTC().Format(time.RFC3339Nano))
	}
	if !st.Known {
		st.Why = fmt.Sprintf("none of the %d events of %s/%s at or before %s records a whole configuration (changes.after) or a deletion",
			st.Total, st.TargetType, targetID, at.UTC().Format(time.RFC3339Nano))
	}
	return st, nil
}

// MaxStateEvents is the most events a State lists.
const MaxStateEvents = 1000

// ErrAmbiguous is returned for a target id of several types given
// without its type.
var ErrAmbiguous = fmt.Errorf("index: ambiguous target")

// present says whether a member value is there and not null.
func present(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

// deletion says whether an action names a deletion.
func deletion(action string) bool {
	for _, s := range []string{".delete", ".deleted", ".remove", ".removed"} {
		if strings.HasSuffix(action, s) {
			return true
		}
	}
	return false
}
