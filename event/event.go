package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keeptrusts/kt/internal/jsonenc"
)

// Event is the read model of one ledger entry: the fields of the event
// schema, and the ledger fields when it was read from an entry line.
// Strings hold the decoded JSON string (or the text of a JSON number);
// a member that is absent, null, or of another kind reads as the zero
// value.
type Event struct {
	// The ledger fields, as the line has them: zero when reading a body.
	// They are read, not checked: ledger.ParseLine and a
	// ledger.Check verify them.
	Seq      uint64
	PrevHash string // 64 lowercase hex digits
	Hash     string // 64 lowercase hex digits
	Sig      string // standard base64
	KeyID    string // "name+hex8"

	ID            string
	Time          time.Time // zero when absent or not an RFC 3339 time
	ReceivedAt    time.Time // zero when absent or not an RFC 3339 time
	Category      string
	Action        string
	Outcome       string
	Reason        string
	Actor         Actor
	Target        Target
	OrgID         string
	RequestID     string
	CorrelationID string
	Changes       Changes
	Attributes    json.RawMessage // the JSON text of the member; nil when absent
	Source        Source
}

// Actor is who acted: Type is "user", "api_token", "system", or a
// producer's own word, kept as given.
type Actor struct {
	Type, ID, Name, IP, UserAgent string
}

// Target is the resource acted on.
type Target struct {
	Type, ID, Name string
}

// Changes holds the documents of a change, as JSON text; nil when absent.
type Changes struct {
	Before, After json.RawMessage
}

// Source is where kt got the event. Kind is "file", "webhook", or
// "ledger" for the ledger's own entries; File and Offset are a file
// source's.
type Source struct {
	Name, Kind, File string
	Offset           int64
}

// ErrMalformed is returned (wrapped) when a line cannot be read: it is
// not one JSON object, or a member Parse decodes is broken.
var ErrMalformed = errors.New("event: malformed line")

// Parse reads an entry line (the NDJSON wire form of a ledger entry, as
// ledger.Entry.AppendLine writes it) or an entry body into an Event.
// Members it does not know are skipped, values outside kt's vocabulary
// are kept as given, and a member of an unexpected kind reads as zero:
// only broken JSON framing, or a broken string among the members it
// decodes, is an error. It reads by a walk over the members rather than a
// decode, so the members it skips (and the insides of changes and
// attributes, which it returns as text) are not validated. The Event
// shares no memory with line.
func Parse(line []byte) (Event, error) {
	var e Event
	if err := walk(line, e.set); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

// walk calls set for each member of the object obj, until set fails.
func walk(obj []byte, set func(k, v []byte, unescaped bool) error) error {
	var err error
	walkErr := jsonenc.EachMember(obj, func(k, v []byte) bool {
		if err = set(k, v, false); err != nil {
			err = fmt.Errorf("%s: %w", k, err)
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	return walkErr
}

// unescape decodes a member name that has an escape (never in a line kt
// wrote; a re-serialized one may have them). ok is false for one that has
// none, or cannot be decoded.
func unescape(k []byte) (name []byte, ok bool) {
	if bytes.IndexByte(k, '\\') < 0 {
		return nil, false
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

func (e *Event) set(k, v []byte, unescaped bool) error {
	var err error
	switch string(k) {
	case "seq":
		e.Seq, _ = parseUint(v)
	case "prev_hash":
		e.PrevHash, err = text(v)
	case "hash":
		e.Hash, err = text(v)
	case "sig":
		e.Sig, err = text(v)
	case "key_id":
		e.KeyID, err = text(v)
	case "id":
		e.ID, err = text(v)
	case "time":
		e.Time, err = readTime(v)
	case "received_at":
		e.ReceivedAt, err = readTime(v)
	case "category":
		e.Category, err = text(v)
	case "action":
		e.Action, err = text(v)
	case "outcome":
		e.Outcome, err = text(v)
	case "reason":
		e.Reason, err = text(v)
	case "actor":
		e.Actor = Actor{}
		err = walkObject(v, e.Actor.set)
	case "target":
		e.Target = Target{}
		err = walkObject(v, e.Target.set)
	case "org_id":
		e.OrgID, err = text(v)
	case "request_id":
		e.RequestID, err = text(v)
	case "correlation_id":
		e.CorrelationID, err = text(v)
	case "changes":
		e.Changes = Changes{}
		err = walkObject(v, e.Changes.set)
	case "attributes":
		e.Attributes = raw(v)
	case "source":
		e.Source = Source{}
		err = walkObject(v, e.Source.set)
	default:
		if name, ok := unescape(k); ok && !unescaped {
			return e.set(name, v, true)
		}
	}
	return err
}

// walkObject walks v with set if it is an object; another value reads as
// an empty one.
func walkObject(v []byte, set func(k, v []byte, unescaped bool) error) error {
	if v[0] != '{' {
		return nil
	}
	return walk(v, set)
}

func (a *Actor) set(k, v []byte, unescaped bool) error {
	var err error
	switch string(k) {
	case "type":
		a.Type, err = text(v)
	case "id":
		a.ID, err = text(v)
	case "name":
		a.Name, err = text(v)
	case "ip":
		a.IP, err = text(v)
	case "user_agent":
		a.UserAgent, err = text(v)
	default:
		if name, ok := unescape(k); ok && !unescaped {
			return a.set(name, v, true)
		}
	}
	return err
}

func (t *Target) set(k, v []byte, unescaped bool) error {
	var err error
	switch string(k) {
	case "type":
		t.Type, err = text(v)
	case "id":
		t.ID, err = text(v)
	case "name":
		t.Name, err = text(v)
	default:
		if name, ok := unescape(k); ok && !unescaped {
			return t.set(name, v, true)
		}
	}
	return err
}

func (c *Changes) set(k, v []byte, unescaped bool) error {
	switch string(k) {
	case "before":
		c.Before = raw(v)
	case "after":
		c.After = raw(v)
	default:
		if name, ok := unescape(k); ok && !unescaped {
			return c.set(name, v, true)
		}
	}
	return nil
}

func (s *Source) set(k, v []byte, unescaped bool) error {
	var err error
	switch string(k) {
	case "name":
		s.Name, err = text(v)
	case "kind":
		s.Kind, err = text(v)
	case "file":
		s.File, err = text(v)
	case "offset":
		s.Offset = parseInt(v)
	default:
		if name, ok := unescape(k); ok && !unescaped {
			return s.set(name, v, true)
		}
	}
	return err
}

// TimeOf returns the time of an entry line or body (its "time" member)
// without reading the rest; zero when it is absent or not a time.
func TimeOf(line []byte) time.Time { return timeMember(line, "time") }

// ReceivedAtOf returns the received_at of an entry line or body (when kt
// took the event) without reading the rest; zero when it is absent or not
// a time.
func ReceivedAtOf(line []byte) time.Time { return timeMember(line, "received_at") }

func timeMember(line []byte, key string) time.Time {
	v := jsonenc.TopLevelString(line, key)
	if v == nil {
		return time.Time{}
	}
	return parseTimeText(v)
}

// text reads a member value as a string: a JSON string decoded, the text
// of a number, else "".
func text(v []byte) (string, error) {
	switch c := v[0]; {
	case c == '"':
		if bytes.IndexByte(v, '\\') < 0 {
			return string(v[1 : len(v)-1]), nil
		}
		var out string
		err := json.Unmarshal(v, &out)
		return out, err
	case c == '-' || '0' <= c && c <= '9':
		return string(v), nil
	}
	return "", nil
}

// raw returns a copy of a member's JSON text.
func raw(v []byte) json.RawMessage { return append(json.RawMessage(nil), v...) }

// parseUint reads a JSON number that is an unsigned integer.
func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt reads a JSON number that is an integer in int64 range; 0 if
// it is not one.
func parseInt(v []byte) int64 {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	n, ok := parseUint(v)
	switch {
	case !ok:
		return 0
	case neg && n <= 1<<63:
		return int64(-n)
	case !neg && n < 1<<63:
		return int64(n)
	}
	return 0
}
