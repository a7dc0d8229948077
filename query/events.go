package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // tz= names work on a host without zoneinfo

	"github.com/keeptrusts/kt/diff"
	"github.com/keeptrusts/kt/event"
	"github.com/keeptrusts/kt/index"
)

// The events API: listing and lookup, answered from the query index.
//
//	GET /v1/events?actor=&actor_type=&action=&category=&target_type=&target_id=&outcome=&org=
//	              &from=&to=&tz=&search=&limit=&cursor=&order=
//	GET /v1/events/{id}
//
// A listing answers
//
//	{"events":[<entry>,...],"next_cursor":"<opaque>"}
//
// where each <entry> is the ledger's line of the event, byte for byte: the
// event with its ledger fields (seq, prev_hash, hash, sig, key_id), which
// a client can check with the public key. next_cursor is absent on the
// last page; give it back as cursor= for the next one.

// eventsHandler serves GET /v1/events.
func eventsHandler(x *index.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, p, err := listingParams(r.URL.Query())
		if err != nil {
			badRequest(w, err)
			return
		}
		res, err := x.Query(r.Context(), f, p)
		if errors.Is(err, index.ErrBadCursor) {
			badRequest(w, &paramError{"cursor", "not a cursor this API gave"})
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		var b bytes.Buffer
		b.WriteString(`{"events":[`)
		for i, row := range res.Rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(row.Line)
		}
		b.WriteByte(']')
		if res.Next != "" {
			b.WriteString(`,"next_cursor":`)
			b.WriteString(strconv.Quote(res.Next))
		}
		b.WriteString("}\n")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	})
}

// eventHandler serves GET /v1/events/{id}: the entry's line.
func eventHandler(x *index.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		row, ok, err := x.Get(r.Context(), id)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no event with id %q in the index", id))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(row.Line, '\n'))
	})
}

// paramError names the query parameter that is wrong.
type paramError struct {
	param, why string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %q: %s", e.param, e.why) }

func badRequest(w http.ResponseWriter, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		writeError(w, http.StatusBadRequest, pe.param, err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, "", err.Error())
}

// writeError answers {"error": msg, "parameter": param}.
func writeError(w http.ResponseWriter, code int, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b := []byte(`{"error":` + strconv.Quote(msg))
	if param != "" {
		b = append(b, `,"parameter":`+strconv.Quote(param)...)
	}
	w.Write(append(b, "}\n"...))
}

// listingParams reads the parameters of a listing. Every parameter may be
// given once; an unknown one is refused (a typo must not widen a search).
func listingParams(q url.Values) (index.Filter, index.Page, error) {
	var f index.Filter
	var p index.Page
	known := map[string]*string{
		"actor": &f.Actor, "actor_type": &f.ActorType, "action": &f.Action, "category": &f.Category,
		"target_type": &f.TargetType, "target_id": &f.TargetID, "outcome": &f.Outcome, "org": &f.Org,
	}
	if err := onlyParams(q, "actor", "actor_type", "action", "category", "target_type", "target_id", "outcome", "org",
		"from", "to", "tz", "q", "search", "limit", "cursor", "order"); err != nil {
		return f, p, err
	}
	loc, err := location(q)
	if err != nil {
		return f, p, err
	}
	if s := q.Get("search"); s != "" {
		sf, err := index.ParseSearch(s, loc)
		if err != nil {
			return f, p, &paramError{"search", err.Error()}
		}
		f = sf
	}
	for k, dst := range known {
		v := q.Get(k)
		if v == "" {
			continue
		}
		if *dst != "" {
			return f, p, &paramError{k, "also given in search="}
		}
		*dst = v
	}
	if f.ActorType != "" && f.ActorType != "user" && f.ActorType != "api_token" && f.ActorType != "system" {
		return f, p, &paramError{"actor_type", fmt.Sprintf("%q is not user, api_token or system", f.ActorType)}
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		if !b.dst.IsZero() {
			return f, p, &paramError{b.name, "the time range is also given in search="}
		}
		t, err := parseTime(v, loc)
		if err != nil {
			return f, p, &paramError{b.name, err.Error()}
		}
		*b.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, p, &paramError{"to", fmt.Sprintf("%s is not after from (%s): the range is empty", f.To.Format(time.RFC3339Nano), f.From.Format(time.RFC3339Nano))}
	}
	if v := q.Get("q"); v != "" {
		if f.Text != "" {
			f.Text += " "
		}
		f.Text += v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > index.MaxLimit {
			return f, p, &paramError{"limit", fmt.Sprintf("%q is not a number from 1 to %d", v, index.MaxLimit)}
		}
		p.Limit = n
	}
	p.Cursor = q.Get("cursor")
	switch o := q.Get("order"); o {
	case "", "newest":
	case "oldest":
		p.Oldest = true
	default:
		return f, p, &paramError{"order", fmt.Sprintf("%q is not newest or oldest", o)}
	}
	return f, p, nil
}

// onlyParams refuses a parameter that is not one of known, and one given
// more than once: a typo must not widen a search.
func onlyParams(q url.Values, known ...string) error {
	for k, vs := range q {
		if !slices.Contains(known, k) {
			return &paramError{k, "unknown parameter (known: " + strings.Join(known, ", ") + ")"}
		}
		if len(vs) > 1 {
			return &paramError{k, "given more than once"}
		}
	}
	return nil
}

// location reads tz=, an IANA time zone name; UTC when absent.
func location(q url.Values) (*time.Location, error) {
	tz := q.Get("tz")
	if tz == "" {
		return time.UTC, nil
	}
	l, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return nil, &paramError{"tz", fmt.Sprintf("%q is not an IANA time zone name (such as Europe/Berlin)", tz)}
	}
	return l, nil
}

// parseTime reads an RFC 3339 time, or a date (YYYY-MM-DD: its midnight
// in loc).
func parseTime(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	if len(v) > 10 && (v[10] == 'T' || v[10] == 't') {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-03-31T12:00:00Z, with its offset)", v)
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-03-31) or an RFC 3339 time", v)
}

// timelineHandler serves GET /v1/events/{id}/timeline?window=: the event
// and the events related to it, oldest first, each with why:
//
//	{"event":<entry>,"window":"24h0m0s","truncated":false,
//	 "events":[{"why":["correlation_id","target"],"event":<entry>},...]}
//
// The event itself is among "events", with an empty "why".
func timelineHandler(x *index.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := onlyParams(q, "window"); err != nil {
			badRequest(w, err)
			return
		}
		window := index.DefaultWindow
		if v := q.Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 366*24*time.Hour {
				badRequest(w, &paramError{"window", fmt.Sprintf("%q is not a duration from 1s to 8784h (such as 30m or 24h)", v)})
				return
			}
			window = d
		}
		tl, err := x.Timeline(r.Context(), r.PathValue("id"), window)
		if errors.Is(err, index.ErrNotFound) {
			writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no event with id %q in the index", r.PathValue("id")))
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		var b bytes.Buffer
		b.WriteString(`{"event":`)
		b.Write(tl.Event.Line)
		b.WriteString(`,"window":` + strconv.Quote(window.String()))
		b.WriteString(`,"truncated":` + strconv.FormatBool(tl.Truncated))
		b.WriteString(`,"events":[`)
		for i, e := range tl.Events {
			if i > 0 {
				b.WriteByte(',')
			}
			why, _ := json.Marshal(append([]string{}, e.Why...))
			b.WriteString(`{"why":`)
			b.Write(why)
			b.WriteString(`,"event":`)
			b.Write(e.Line)
			b.WriteByte('}')
		}
		b.WriteString("]}\n")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	})
}

// stateHandler serves GET /v1/state?target_type=&target_id=&at=&tz=: the
// target's configuration as of at (index.State), or why the record cannot
// say:
//
//	{"target_type":"config","target_id":"cfg_gw","at":"...","known":true,"deleted":false,
//	 "state":<document>,"from":<entry>,"events":[<entry>,...],"more":0,"total":6}
//
// "more" counts the later events without changes left out of "events"
// (at most 1,000 are listed).
func stateHandler(x *index.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := onlyParams(q, "target_type", "target_id", "at", "tz"); err != nil {
			badRequest(w, err)
			return
		}
		id := q.Get("target_id")
		if id == "" {
			badRequest(w, &paramError{"target_id", "required"})
			return
		}
		loc, err := location(q)
		if err != nil {
			badRequest(w, err)
			return
		}
		at := time.Now()
		if v := q.Get("at"); v != "" {
			t, err := parseTime(v, loc)
			if err != nil {
				badRequest(w, &paramError{"at", err.Error()})
				return
			}
			at = t
		}
		st, err := x.State(r.Context(), q.Get("target_type"), id, at)
		switch {
		case errors.Is(err, index.ErrNotFound):
			writeError(w, http.StatusNotFound, "target_id", err.Error())
			return
		case errors.Is(err, index.ErrAmbiguous):
			badRequest(w, &paramError{"target_type", err.Error()})
			return
		case err != nil:
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		var b bytes.Buffer
		b.WriteString(`{"target_type":` + strconv.Quote(st.TargetType) + `,"target_id":`)
		tid, _ := json.Marshal(st.TargetID)
		b.Write(tid)
		b.WriteString(`,"at":` + strconv.Quote(st.At.UTC().Format(time.RFC3339Nano)))
		b.WriteString(`,"known":` + strconv.FormatBool(st.Known) + `,"deleted":` + strconv.FormatBool(st.Deleted))
		if st.Document != nil {
			b.WriteString(`,"state":`)
			b.Write(st.Document)
		} else {
			b.WriteString(`,"state":null`)
		}
		if st.From != nil {
			b.WriteString(`,"from":`)
			b.Write(st.From.Line)
		}
		b.WriteString(`,"events":[`)
		for i, e := range st.Events {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(e.Line)
		}
		b.WriteString(`],"more":` + strconv.Itoa(st.More) + `,"total":` + strconv.Itoa(st.Total))
		if st.Why != "" {
			why, _ := json.Marshal(st.Why)
			b.WriteString(`,"why":`)
			b.Write(why)
		}
		b.WriteString("}\n")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	})
}

// diffHandler serves GET /v1/events/{id}/diff: the field-level diff of
// the event's changes (package diff), and the same as a JSON Patch:
//
//	{"event":<entry>,"has_changes":true,"format":"yaml",
//	 "changes":[{"path":"routes[name=default].rpm","pointer":"/routes/0/rpm","kind":"modified","before":600,"after":900}],
//	 "patch":[{"op":"replace","path":"/routes/0/rpm","value":900}]}
//
// An event without changes answers "has_changes":false with no change.
func diffHandler(x *index.Index) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := onlyParams(r.URL.Query()); err != nil {
			badRequest(w, err)
			return
		}
		id := r.PathValue("id")
		row, ok, err := x.Get(r.Context(), id)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no event with id %q in the index", id))
			return
		}
		ev, err := event.Parse(row.Line)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		present := func(v []byte) bool {
			v = bytes.TrimSpace(v)
			return len(v) > 0 && string(v) != "null"
		}
		has := present(ev.Changes.Before) || present(ev.Changes.After)
		res, err := diff.Compare(ev.Changes.Before, ev.Changes.After)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "id", fmt.Sprintf("the changes of %q cannot be compared: %v", id, err))
			return
		}
		body, err := json.Marshal(struct {
			Event      json.RawMessage `json:"event"`
			HasChanges bool            `json:"has_changes"`
			diff.Result
		}{row.Line, has, res})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(body, '\n'))
	})
}
