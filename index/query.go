package index

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Page says which page of a listing to return.
type Page struct {
	// Limit is the most rows to return: 1 to MaxLimit; 0 means
	// DefaultLimit.
	Limit int
	// Cursor continues a listing after the last row of a page (Result.Next);
	// "" starts at the newest (or, with Oldest, the oldest) event.
	Cursor string
	// Oldest lists oldest first; the default is newest first.
	Oldest bool
}

// The page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	// MaxPageBytes bounds the lines of one page: a page ends early (with
	// a Next cursor) once they pass it, so a page of large events (up to
	// 4 MiB each) cannot make an answer of gigabytes.
	MaxPageBytes = 16 << 20
)

// Row is one event of a listing: its ledger seq and its line as the ledger
// wrote it (the event with its ledger fields seq, prev_hash, hash, sig and
// key_id), which a client can check against the public key.
type Row struct {
	Seq  uint64
	Line []byte
}

// Result is one page of a listing.
type Result struct {
	Rows []Row
	// Next is the cursor of the page after this one; "" when this page is
	// the last.
	Next string
}

// ErrBadCursor is returned for a cursor that no listing gave.
var ErrBadCursor = errors.New("index: bad cursor")

// Query lists the events that match f, ordered by the event's time (then
// by seq, for events of the same time). The cursor is a position in that
// order, so paging stays stable while new events arrive: an event indexed
// after a page was read shows on a later page only if its place in the
// order is after that page's last row.
func (x *Index) Query(ctx context.Context, f Filter, p Page) (Result, error) {
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return Result{}, fmt.Errorf("index: limit %d is not 1..%d", limit, MaxLimit)
	}
	where, args := f.where()
	desc := !p.Oldest
	if p.Cursor != "" {
		t, seq, err := decodeCursor(p.Cursor)
		if err != nil {
			return Result{}, err
		}
		op := "<"
		if !desc {
			op = ">"
		}
		where = append(where, "(time, seq) "+op+" (?, ?)")
		args = append(args, t, seq)
	}
	q := "SELECT seq, time, line FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if desc {
		q += " ORDER BY time DESC, seq DESC"
	} else {
		q += " ORDER BY time, seq"
	}
	q += " LIMIT " + strconv.Itoa(limit+1)
	rows, err := x.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Result{}, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var res Result
	var times []int64
	bytes := 0
	for rows.Next() {
		var r Row
		var seq, t int64
		if err := rows.Scan(&seq, &t, &r.Line); err != nil {
			return Result{}, fmt.Errorf("index: %w", err)
		}
		if n := len(res.Rows); n == limit || (n > 0 && bytes >= MaxPageBytes) {
			// There is more: the next page starts after this page's last row.
			res.Next = encodeCursor(times[n-1], res.Rows[n-1].Seq)
			break
		}
		r.Seq = uint64(seq)
		res.Rows = append(res.Rows, r)
		times = append(times, t)
		bytes += len(r.Line)
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("index: %w", err)
	}
	return res, nil
}

// Get returns the row of the event id; ok is false when the index has
// none.
func (x *Index) Get(ctx context.Context, id string) (Row, bool, error) {
	var r Row
	var seq int64
	err := x.db.QueryRowContext(ctx, `SELECT seq, line FROM events WHERE id = ?`, id).Scan(&seq, &r.Line)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Row{}, false, nil
		}
		return Row{}, false, fmt.Errorf("index: %w", err)
	}
	r.Seq = uint64(seq)
	return r, true, nil
}

// where returns the SQL conditions of f and their arguments.
func (f Filter) where() ([]string, []any) {
	var w []string
	var a []any
	eq := func(col, v string) {
		if v != "" {
			w = append(w, col+" = ?")
			a = append(a, v)
		}
	}
	if f.Actor != "" {
		w = append(w, "(actor_id = ? OR actor_name = ?)")
		a = append(a, f.Actor, f.Actor)
	}
	eq("actor_type", f.ActorType)
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		// "config.*": every action that starts with "config.".
		w = append(w, "action >= ? AND action < ?")
		a = append(a, prefix, prefixEnd(prefix))
	} else {
		eq("action", f.Action)
	}
	eq("category", f.Category)
	eq("target_type", f.TargetType)
	eq("target_id", f.TargetID)
	eq("outcome", f.Outcome)
	eq("org_id", f.Org)
	if m := matchExpr(f.Text); m != "" {
		w = append(w, "seq IN (SELECT rowid FROM events_text WHERE events_text MATCH ?)")
		a = append(a, m)
	}
	if !f.From.IsZero() {
		w = append(w, "time >= ?")
		a = append(a, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		w = append(w, "time < ?")
		a = append(a, f.To.UnixMicro())
	}
	return w, a
}

// prefixEnd returns the least string after every string with prefix p
// (p with its last byte incremented; "" when there is none, which
// matches nothing, for a prefix of 0xff bytes).
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\xff\xff\xff\xff"
}

// A cursor is "t<time>.s<seq>" in base64url: opaque to clients, checked
// when given back.
func encodeCursor(t int64, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t" + strconv.FormatInt(t, 10) + ".s" + strconv.FormatUint(seq, 10)))
}

func decodeCursor(c string) (int64, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(c) > 64 {
		return 0, 0, ErrBadCursor
	}
	ts, ss, ok := strings.Cut(string(b), ".s")
	if !ok || !strings.HasPrefix(ts, "t") {
		return 0, 0, ErrBadCursor
	}
	t, err1 := strconv.ParseInt(ts[1:], 10, 64)
	seq, err2 := strconv.ParseInt(ss, 10, 64)
	if err1 != nil || err2 != nil || seq < 0 {
		return 0, 0, ErrBadCursor
	}
	return t, seq, nil
}
