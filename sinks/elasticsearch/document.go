package elasticsearch

// The bulk body: the action and document lines of each record (the
// package doc's wire format).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keeptrusts/kt/event"
	"github.com/keeptrusts/kt/internal/jsonenc"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/sinks"
)

// docID returns the _id of a record: its ID, or a digest of it when it is
// above Elasticsearch's limit.
func docID(id string) string {
	if len(id) <= maxID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "kt-sha256-" + hex.EncodeToString(sum[:])
}

// appendAction appends the bulk action line of r.
func appendAction(dst []byte, r sinks.Record) ([]byte, error) {
	if !utf8.ValidString(r.ID) {
		return dst, errors.New("the id is not valid UTF-8")
	}
	dst = append(dst, `{"create":{`...)
	if r.ID != "" {
		dst = append(dst, `"_id":`...)
		dst = jsonenc.AppendAnyString(dst, docID(r.ID))
	}
	return append(dst, "}}\n"...), nil
}

// anchor holds the members of a checkpoint or heartbeat record that its
// document maps.
type anchor struct {
	Size       json.Number `json:"size"`
	Checkpoint string      `json:"checkpoint"`
}

// ecsCategory maps kt's categories to ECS event.category values; the
// others have none.
var ecsCategory = map[string]string{
	"authentication":  "authentication",
	"user_management": "iam",
	"team_management": "iam",
	"configuration":   "configuration",
	"gateway":         "configuration",
	"policy":          "configuration",
	"secret":          "configuration",
}

// checkLine reports why line cannot be sent as kt.record: it must be one
// JSON object in valid UTF-8.
func checkLine(line []byte) error {
	// sinks.Record.Line is one JSON object by contract; this cheap framing
	// check guards the bulk body against a broken contract.
	if !jsonenc.OneObject(line) {
		return errors.New("the line is not one JSON object")
	}
	if !utf8.Valid(line) {
		return errors.New("the line is not valid UTF-8, so it cannot be held byte for byte")
	}
	return nil
}

// appendDoc appends the document of r and a newline.
func appendDoc(dst []byte, r sinks.Record, now time.Time) ([]byte, error) {
	if err := checkLine(r.Line); err != nil {
		return dst, err
	}
	if r.Kind != sinks.KindEntry {
		return appendAnchorDoc(dst, r, now)
	}
	ev, err := event.Parse(r.Line)
	if err != nil {
		return dst, fmt.Errorf("the line cannot be read: %w", err)
	}
	ts := r.Time
	if ts.IsZero() {
		ts = ev.Time
	}
	if ts.IsZero() {
		ts = ev.ReceivedAt
	}
	if ts.IsZero() {
		ts = now
	}
	o := openDoc(dst, ts, "event", r.ID)
	o.str("action", ev.Action)
	if c := ecsCategory[ev.Category]; c != "" {
		o.raw("category", `["`+c+`"]`)
	}
	switch ev.Outcome {
	case "success", "failure":
		o.str("outcome", ev.Outcome)
	default:
		o.str("outcome", "unknown")
	}
	o.str("reason", ev.Reason)
	if !ev.ReceivedAt.IsZero() {
		o.time("created", ev.ReceivedAt)
	}
	o.end()

	if ev.Actor.ID != "" || ev.Actor.Name != "" || ev.Target.Type == "user" && (ev.Target.ID != "" || ev.Target.Name != "") {
		o.begin("user")
		o.str("id", ev.Actor.ID)
		o.str("name", ev.Actor.Name)
		if ev.Target.Type == "user" && (ev.Target.ID != "" || ev.Target.Name != "") {
			o.begin("target")
			o.str("id", ev.Target.ID)
			o.str("name", ev.Target.Name)
			o.end()
		}
		o.end()
	}
	if ip, err := netip.ParseAddr(ev.Actor.IP); err == nil && ip.Zone() == "" {
		o.begin("source")
		o.str("ip", ip.String())
		o.end()
	}
	if ev.Actor.UserAgent != "" {
		o.begin("user_agent")
		o.str("original", ev.Actor.UserAgent)
		o.end()
	}
	if ev.OrgID != "" {
		o.begin("organization")
		o.str("id", ev.OrgID)
		o.end()
	}
	if ev.RequestID != "" {
		o.begin("http")
		o.begin("request")
		o.str("id", ev.RequestID)
		o.end()
		o.end()
	}

	o.begin("kt")
	o.str("kind", "entry")
	o.uint("seq", r.Seq)
	o.str("hash", ev.Hash)
	o.str("prev_hash", ev.PrevHash)
	o.str("sig", ev.Sig)
	o.str("key_id", ev.KeyID)
	o.str("category", ev.Category)
	o.str("actor_type", ev.Actor.Type)
	if ev.Target.Type != "" || ev.Target.ID != "" || ev.Target.Name != "" {
		o.begin("target")
		o.str("type", ev.Target.Type)
		o.str("id", ev.Target.ID)
		o.str("name", ev.Target.Name)
		o.end()
	}
	o.str("correlation_id", ev.CorrelationID)
	o.record(r.Line)
	o.end()
	o.end()
	return append(o.b, '\n'), nil
}

// appendAnchorDoc appends the document of a checkpoint or heartbeat
// record and a newline.
func appendAnchorDoc(dst []byte, r sinks.Record, now time.Time) ([]byte, error) {
	var a anchor
	if err := json.Unmarshal(r.Line, &a); err != nil {
		return dst, fmt.Errorf("the line cannot be read: %w", err)
	}
	ts := r.Time
	if ts.IsZero() {
		ts = now
	}
	kind := r.Kind.String()
	o := openDoc(dst, ts, "state", r.ID)
	o.str("action", "kt."+kind)
	o.end()
	o.begin("kt")
	o.str("kind", kind)
	if n, err := strconv.ParseUint(a.Size.String(), 10, 64); err == nil {
		o.uint("size", n)
	}
	origin, _, _ := strings.Cut(a.Checkpoint, "\n")
	o.str("origin", origin)
	o.record(r.Line)
	o.end()
	o.end()
	return append(o.b, '\n'), nil
}

// openDoc starts a document: @timestamp, ecs, and the event object, left
// open after its kind and id.
func openDoc(dst []byte, ts time.Time, kind, id string) objWriter {
	o := objWriter{b: dst}
	o.open()
	o.time("@timestamp", ts)
	o.raw("ecs", `{"version":"`+ECSVersion+`"}`)
	o.begin("event")
	o.str("kind", kind)
	o.str("id", id)
	return o
}

// objWriter appends a JSON object member by member; empty strings are
// left out.
type objWriter struct {
	b     []byte
	first bool // the next member is the first of its object
}

func (o *objWriter) open() { o.b = append(o.b, '{'); o.first = true }

func (o *objWriter) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *objWriter) begin(k string) { o.key(k); o.open() }

func (o *objWriter) end() { o.b = append(o.b, '}'); o.first = false }

func (o *objWriter) str(k, v string) {
	if v == "" {
		return
	}
	o.key(k)
	o.b = jsonenc.AppendAnyString(o.b, v)
}

func (o *objWriter) raw(k, v string) { o.key(k); o.b = append(o.b, v...) }

func (o *objWriter) uint(k string, v uint64) { o.key(k); o.b = strconv.AppendUint(o.b, v, 10) }

func (o *objWriter) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.UTC().AppendFormat(o.b, ledger.TimeFormat)
	o.b = append(o.b, '"')
}

// record appends kt.record: line (checked to be valid UTF-8) as a JSON
// string.
func (o *objWriter) record(line []byte) {
	o.key("record")
	o.b = jsonenc.AppendBytes(o.b, line)
}
