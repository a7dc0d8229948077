package pipeline

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// TimeLayout is the fixed-precision RFC 3339 UTC layout of "time" and
// "received_at".
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Categories lists the valid values of "category", plus CategoryOther for
// actions whose prefix maps to none of them.
var Categories = []string{
	"authentication", "user_management", "team_management", "configuration",
	"gateway", "policy", "secret", "export_job", "escalation",
}

// CategoryOther is the category of an event that has none and whose action
// prefix does not map to one.
const CategoryOther = "other"

// Attribute names kt itself writes into "attributes".
const (
	AttrDuplicateKeys   = "kt_duplicate_keys"
	AttrNumbersAsString = "kt_numbers_as_strings"
	AttrTimeInput       = "kt_time_input"
)

// Source says where a record came from; it becomes the event's "source"
// object. File and Offset are for file sources only (offset is written
// whenever File is set).
type Source struct {
	Kind   string // "webhook" or "file"
	Name   string // the source's configured name
	File   string
	Offset int64
}

// Event is one normalized, redacted event.
type Event struct {
	// ID is the event id: the input's "id", else the fallback id, else a
	// new UUIDv7.
	ID string
	// Digest is the first 16 bytes of SHA-256 over Body with the
	// "received_at" and "source" members left out, so that a retried
	// delivery of the same event, or a line read again from a rotated file,
	// has the same digest.
	Digest [16]byte
	// Body is the event in RFC 8785 (JCS) canonical form.
	Body []byte
	// Action and Category are copies of the body's fields.
	Action, Category string
	// Time is the body's "time" (UTC, microsecond precision).
	Time time.Time
}

// Normalizer turns raw records into events. It is safe for concurrent use.
type Normalizer struct {
	opts  Options
	paths [][]patSeg
	work  sync.Pool // of *work
}

// New returns a Normalizer for o (zero fields take their defaults).
func New(o Options) (*Normalizer, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return &Normalizer{opts: o, paths: compilePaths(o.RedactPaths)}, nil
}

// NewID returns a new UUIDv7 in its canonical text form.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

type state struct {
	nBig, nDup int
}

func missing(field string) error { return &FieldError{Field: field, Reason: "missing"} }

func mustBe(field, what string) error { return &FieldError{Field: field, Reason: "must be " + what} }

func kindName(k kind) string {
	switch k {
	case kNull:
		return "null"
	case kTrue, kFalse:
		return "a boolean"
	case kNumber:
		return "a number"
	case kString:
		return "a string"
	case kArray:
		return "an array"
	}
	return "an object"
}

// input holds the recognized top-level members of a record.
type input struct {
	id, time, action, category, outcome, reason *value
	actor, target, orgID, requestID, corrID     *value
	changes, attributes, request                *value
	ip, sourceIP, userAgent                     *value
	timeKey                                     string
}

// Normalize validates, normalizes and redacts one raw record (the bytes of
// one JSON value) and returns its canonical form. src becomes "source",
// receivedAt "received_at" (zero means now). fallbackID is the id of a
// record without one ("" means a new UUIDv7). Every refusal is a
// *FieldError.
func (n *Normalizer) Normalize(raw []byte, src Source, receivedAt time.Time, fallbackID string) (*Event, error) {
	w := n.getWork()
	ev, err := n.normalize(w, raw, src, receivedAt, fallbackID)
	n.putWork(w)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// decoder returns a decoder of data using w's buffers; done gives them back.
func (n *Normalizer) decoder(w *work, data []byte, escape bool) decoder {
	return decoder{data: data, maxDepth: n.opts.MaxDepth, maxField: n.opts.MaxFieldBytes, escape: escape,
		levels: w.levels, scratch: w.scratch}
}

func (d *decoder) done(w *work, err *FieldError) {
	if err != nil {
		clear(d.scratch[:cap(d.scratch)]) // an unescaped string may be half written
	}
	w.levels, w.scratch = d.levels, d.scratch
}

func (n *Normalizer) normalize(w *work, raw []byte, src Source, receivedAt time.Time, fallbackID string) (*Event, error) {
	d := n.decoder(w, raw, n.opts.InvalidUTF8 == UTF8Escape)
	root, ferr := d.parseDocument(0)
	d.done(w, ferr)
	if ferr != nil {
		return nil, ferr
	}
	if root.kind != kObject {
		return nil, &FieldError{Reason: "not an object (got " + kindName(root.kind) + ")"}
	}
	st := state{nBig: d.nBig, nDup: d.nDup}

	var in input
	extras, topDups := w.extras[:0], w.topDups[:0]
	defer func() { w.extras, w.topDups = extras, topDups }()
	for i := range root.kids {
		m := &root.kids[i]
		if m.dup {
			topDups = append(topDups, *m)
			continue
		}
		var slot **value
		switch m.key {
		case "id":
			slot = &in.id
		case "time", "@timestamp", "timestamp":
			if in.time == nil && m.v.kind != kNull {
				in.timeKey = m.key
				slot = &in.time
			}
		case "action":
			slot = &in.action
		case "category":
			slot = &in.category
		case "outcome":
			slot = &in.outcome
		case "reason":
			slot = &in.reason
		case "actor":
			slot = &in.actor
		case "target":
			slot = &in.target
		case "org_id":
			slot = &in.orgID
		case "request_id":
			slot = &in.requestID
		case "correlation_id":
			slot = &in.corrID
		case "changes":
			slot = &in.changes
		case "attributes":
			if m.v.kind == kObject {
				slot = &in.attributes
			}
		case "request":
			if m.v.kind == kObject {
				slot = &in.request
			}
		case "ip":
			slot = &in.ip
		case "source_ip":
			slot = &in.sourceIP
		case "user_agent":
			slot = &in.userAgent
		}
		if slot == nil {
			extras = append(extras, *m)
			continue
		}
		*slot = &m.v
	}

	ev := &Event{}
	out := w.out[:0]
	defer func() { w.out = out }()

	// action
	if in.action == nil || in.action.kind == kNull || (in.action.kind == kString && in.action.s == "") {
		return nil, missing("action")
	}
	if in.action.kind != kString {
		return nil, mustBe("action", "a string")
	}
	if !validAction(in.action.s) {
		return nil, mustBe("action", "a dotted name without spaces or control characters")
	}
	out = append(out, member{key: "action", v: *in.action})

	// actor (with ip and user agent gathered from request and top level)
	actor, err := n.actor(w, &in, &extras)
	if err != nil {
		return nil, err
	}
	out = append(out, member{key: "actor", v: actor})

	// attributes are filled in at the end
	attrs := &attrSet{kids: w.attrs[:0]}
	defer func() { w.attrs = attrs.kids }()
	if in.attributes != nil {
		for _, m := range in.attributes.kids {
			attrs.addInput(m)
		}
	}

	// category
	switch {
	case in.category == nil || in.category.kind == kNull:
		ev.Category = inferCategory(in.action.s)
	case in.category.kind == kString && isCategory(in.category.s):
		ev.Category = canonicalCategory(in.category.s)
	default:
		return nil, mustBe("category", "one of "+strings.Join(Categories, ", ")+", "+CategoryOther)
	}
	out = append(out, member{key: "category", v: plainStr(ev.Category)})

	// changes
	if in.changes != nil && in.changes.kind != kNull {
		if in.changes.kind != kObject {
			return nil, mustBe("changes", "an object")
		}
		ch := value{kind: kObject, kids: append(w.changes[:0], in.changes.kids...)}
		w.changes = ch.kids
		for i := range ch.kids {
			m := &ch.kids[i]
			if !m.dup && (m.key == "before" || m.key == "after") && m.v.kind == kString {
				if doc, ok := n.parseDoc(w, m.v.s, 2, &st); ok {
					m.v = doc
				}
			}
		}
		out = append(out, member{key: "changes", v: ch})
	}

	if err := optString(&out, "correlation_id", in.corrID); err != nil {
		return nil, err
	}

	// id; the strings that leave the package are copied, ID and Action in
	// one allocation.
	var idFlag uint8
	switch {
	case in.id == nil || in.id.kind == kNull || (in.id.kind == kString && in.id.s == ""):
		ev.ID = fallbackID
		if ev.ID == "" {
			ev.ID = NewID()
		}
		ev.Action = strings.Clone(in.action.s)
	case in.id.kind == kString || in.id.kind == kNumber:
		both := in.id.s + in.action.s
		ev.ID, ev.Action = both[:len(in.id.s)], both[len(in.id.s):]
		idFlag = in.id.flag & flagPlain
	default:
		return nil, mustBe("id", "a string")
	}
	out = append(out, member{key: "id", v: value{kind: kString, s: ev.ID, flag: idFlag}})

	if err := optString(&out, "org_id", in.orgID); err != nil {
		return nil, err
	}

	// outcome
	outcome := "success"
	if in.outcome != nil && in.outcome.kind != kNull {
		o, ok := "", false
		if in.outcome.kind == kString {
			o, ok = canonicalOutcome(in.outcome.s)
		} else if in.outcome.kind == kTrue {
			o, ok = "success", true
		} else if in.outcome.kind == kFalse {
			o, ok = "failure", true
		}
		if !ok {
			return nil, mustBe("outcome", "success or failure")
		}
		outcome = o
	}
	out = append(out, member{key: "outcome", v: plainStr(outcome)})
	if err := optString(&out, "reason", in.reason); err != nil {
		return nil, err
	}

	// received_at
	if receivedAt.IsZero() {
		receivedAt = time.Now()
	}
	out = append(out, member{key: "received_at", v: plainStr(formatTime(w.recv[:0], receivedAt))})

	if err := optString(&out, "request_id", in.requestID); err != nil {
		return nil, err
	}

	// source
	if src != (Source{}) {
		s := value{kind: kObject, kids: w.src[:0]}
		if src.File != "" {
			s.kids = append(s.kids, member{key: "file", v: str(src.File)})
		}
		if src.Kind != "" {
			s.kids = append(s.kids, member{key: "kind", v: str(src.Kind)})
		}
		if src.Name != "" {
			s.kids = append(s.kids, member{key: "name", v: str(src.Name)})
		}
		if src.File != "" {
			s.kids = append(s.kids, member{key: "offset", v: value{kind: kNumber, s: strconv.FormatInt(src.Offset, 10)}})
		}
		out = append(out, member{key: "source", v: s})
	}

	// target
	if in.target != nil && in.target.kind != kNull {
		switch in.target.kind {
		case kObject:
			for _, k := range []string{"type", "id", "name"} {
				if v := in.target.get(k); v != nil && v.kind != kString && v.kind != kNull {
					return nil, mustBe("target."+k, "a string")
				}
			}
			out = append(out, member{key: "target", v: *in.target})
		case kString:
			out = append(out, member{key: "target", v: value{kind: kObject, kids: []member{{key: "id", v: *in.target}}}})
		default:
			return nil, mustBe("target", "an object")
		}
	}

	// time
	if in.time == nil {
		return nil, missing("time")
	}
	t, ok := parseTime(in.time)
	if !ok {
		return nil, &FieldError{Field: in.timeKey, Reason: "not an RFC 3339 time or epoch number"}
	}
	ev.Time = t.Truncate(time.Microsecond)
	if !ev.Time.Equal(t) {
		extras = append(extras, member{key: AttrTimeInput, v: *in.time})
	}
	out = append(out, member{key: "time", v: plainStr(formatTime(w.tm[:0], ev.Time))})

	for _, m := range extras {
		attrs.addInput(m)
	}

	// Redaction, then duplicates out of the tree.
	wk := walker{
		n:         n,
		secretCat: ev.Category == "secret" || strings.HasPrefix(ev.Action, "secret."),
		takeDups:  st.nDup > 0,
		noPath:    st.nDup == 0 && len(n.paths) == 0,
		mac:       w.mac,
		buf:       w.mbuf,
		path:      w.path[:0],
		dups:      w.dups[:0],
	}
	defer func() { w.mbuf, w.path, w.dups = wk.buf, wk.path[:0], wk.dups }()
	for i := range out {
		switch out[i].key {
		case "action", "category", "id", "time", "received_at", "source", "outcome":
			continue
		}
		wk.path = append(wk.path[:0], seg{key: out[i].key, idx: -1})
		wk.member(&out[i], false)
	}
	av := value{kind: kObject, kids: attrs.kids}
	wk.path = append(wk.path[:0], seg{key: "attributes", idx: -1})
	wk.walk(&av)
	attrs.kids = av.kids
	for i := range topDups {
		wk.path = append(wk.path[:0], seg{key: topDups[i].key, idx: -1})
		wk.member(&topDups[i], false)
		wk.addDup(topDups[i].key, &topDups[i].v)
	}
	if len(wk.dups) > 0 {
		attrs.addOwn(AttrDuplicateKeys, value{kind: kArray, kids: wrap(wk.dups)})
	}
	if st.nBig > 0 {
		// Paths are those of the final event, so collect with attributes
		// (and the duplicates moved there) in place.
		probe := value{kind: kObject, kids: append(out, member{key: "attributes", v: value{kind: kObject, kids: attrs.kids}})}
		if paths := collectBig(&probe, nil, nil); len(paths) > 0 {
			attrs.addOwn(AttrNumbersAsString, value{kind: kArray, kids: wrap(paths)})
		}
	}
	if len(attrs.kids) > 0 {
		out = append(out, member{key: "attributes", v: value{kind: kObject, kids: attrs.kids}})
	}
	sortMembers(out)

	// Encode into the pooled buffer and copy it out. The digest hashes it
	// without received_at and source (each with the comma before it: they
	// are never the first member, action is), which say when and where kt
	// got the event, not what the event is: a retried delivery, or a line
	// read again from a rotated file after a crash, has the same digest.
	b := append(w.body[:0], '{')
	var cuts [2][2]int
	nc := 0
	for i := range out {
		if i > 0 {
			b = append(b, ',')
		}
		skip := out[i].key == "received_at" || out[i].key == "source"
		if skip {
			cuts[nc][0] = len(b) - 1
		}
		b = appendPlain(b, out[i].key) // one of the names above
		b = append(b, ':')
		b = appendValue(b, &out[i].v)
		if skip {
			cuts[nc][1] = len(b)
			nc++
		}
	}
	b = append(b, '}')
	w.body = b
	ev.Body = append([]byte(nil), b...)
	from := 0
	for _, c := range cuts[:nc] {
		w.sum.Write(b[from:c[0]])
		from = c[1]
	}
	w.sum.Write(b[from:])
	copy(ev.Digest[:], w.sum.Sum(w.digest[:0]))
	return ev, nil
}

func wrap(vs []value) []member {
	ms := make([]member, len(vs))
	for i := range vs {
		ms[i].v = vs[i]
	}
	return ms
}

// validAction accepts dot-separated non-empty segments without white
// space or control characters.
func validAction(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

func optString(out *[]member, key string, v *value) error {
	if v == nil || v.kind == kNull {
		return nil
	}
	if v.kind != kString {
		return mustBe(key, "a string")
	}
	*out = append(*out, member{key: key, v: *v})
	return nil
}

// actor builds the actor object and takes ip/user_agent from request.* or
// the top level when the actor lacks them; what is not moved stays for
// attributes.
func (n *Normalizer) actor(w *work, in *input, extras *[]member) (value, error) {
	if in.actor == nil || in.actor.kind == kNull {
		return value{}, missing("actor")
	}
	a := value{kind: kObject, kids: w.actor[:0]}
	defer func() { w.actor = a.kids }()
	switch in.actor.kind {
	case kString:
		if in.actor.s == "" {
			return value{}, missing("actor")
		}
		a.kids = append(a.kids, member{key: "id", v: *in.actor}, member{key: "type", v: str("user")})
	case kObject:
		hasType, hasID := false, false
		for i := range in.actor.kids {
			m := &in.actor.kids[i]
			if !m.dup {
				switch m.key {
				case "type", "id", "name", "ip", "user_agent":
					if m.v.kind == kNull {
						continue
					}
					if m.v.kind != kString {
						return value{}, mustBe("actor."+m.key, "a string")
					}
					switch m.key {
					case "type":
						switch m.v.s {
						case "user", "api_token", "system":
						default:
							return value{}, mustBe("actor.type", "one of user, api_token, system")
						}
						hasType = true
					case "id":
						hasID = m.v.s != ""
					case "name":
						hasID = hasID || m.v.s != ""
					}
				}
			}
			a.kids = append(a.kids, *m)
		}
		if !hasID {
			return value{}, missing("actor.id")
		}
		if !hasType {
			a.kids = append(a.kids, member{key: "type", plain: true, v: plainStr("user")})
		}
	default:
		return value{}, mustBe("actor", "an object or a string")
	}
	// ip and user_agent
	take := func(key string, v *value) bool {
		if v == nil || v.kind != kString || v.s == "" || a.get(key) != nil {
			return false
		}
		a.kids = append(a.kids, member{key: key, v: *v})
		return true
	}
	if in.request != nil {
		kept := w.request[:0]
		for i := range in.request.kids {
			m := &in.request.kids[i]
			if !m.dup && (m.key == "ip" || m.key == "user_agent") && take(m.key, &m.v) {
				continue
			}
			kept = append(kept, *m)
		}
		w.request = kept
		if len(kept) > 0 {
			*extras = append(*extras, member{key: "request", v: value{kind: kObject, kids: kept}})
		}
	}
	for _, c := range []struct {
		key, into string
		v         *value
	}{{"ip", "ip", in.ip}, {"source_ip", "ip", in.sourceIP}, {"user_agent", "user_agent", in.userAgent}} {
		if c.v == nil {
			continue
		}
		if !take(c.into, c.v) {
			*extras = append(*extras, member{key: c.key, v: *c.v})
		}
	}
	return a, nil
}

var categoryPrefixes = []struct{ prefix, category string }{
	{"auth.", "authentication"},
	{"member.", "user_management"},
	{"user.", "user_management"},
	{"role.", "user_management"},
	{"team.", "team_management"},
	{"config.", "configuration"},
	{"gateway.", "gateway"},
	{"policy.", "policy"},
	{"secret.", "secret"},
	{"export.", "export_job"},
	{"export_job.", "export_job"},
	{"escalation.", "escalation"},
}

func inferCategory(action string) string {
	for _, p := range categoryPrefixes {
		if strings.HasPrefix(action, p.prefix) {
			return p.category
		}
	}
	return CategoryOther
}

func isCategory(s string) bool { return canonicalCategory(s) != "" }

func canonicalCategory(s string) string {
	if s == CategoryOther {
		return CategoryOther
	}
	for _, c := range Categories {
		if s == c {
			return c
		}
	}
	return ""
}

func canonicalOutcome(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "success", "ok", "succeeded":
		return "success", true
	case "failure", "failed", "fail", "error", "denied":
		return "failure", true
	}
	return "", false
}

// formatTime appends t in TimeLayout (UTC) to b, which the result aliases.
func formatTime(b []byte, t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = t.AppendFormat(b, TimeLayout)
	} else {
		hour, minute, sec := t.Clock()
		b = appendDigits(b, year, 4)
		b = append(b, '-')
		b = appendDigits(b, int(month), 2)
		b = append(b, '-')
		b = appendDigits(b, day, 2)
		b = append(b, 'T')
		b = appendDigits(b, hour, 2)
		b = append(b, ':')
		b = appendDigits(b, minute, 2)
		b = append(b, ':')
		b = appendDigits(b, sec, 2)
		b = append(b, '.')
		b = appendDigits(b, t.Nanosecond()/1000, 6)
		b = append(b, 'Z')
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendDigits appends the n low decimal digits of v >= 0.
func appendDigits(b []byte, v, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// parseTime accepts RFC 3339 with any precision and offset (also with a
// space or lower-case t/z), and epoch seconds or milliseconds as a number
// or a numeric string.
func parseTime(v *value) (time.Time, bool) {
	var t time.Time
	switch {
	case v.kind == kNumber:
		return epochText(v.s)
	case v.kind == kString && v.flag&flagBigNumber == 0:
		s := v.s
		if len(s) > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && !strings.ContainsAny(s, "T:t ") {
			if !isJSONNumber(s) {
				return t, false
			}
			return epochText(s)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil && len(s) > 10 && (s[10] == ' ' || s[10] == 't' || s[len(s)-1] == 'z') {
			b := []byte(s)
			b[10] = 'T'
			if b[len(b)-1] == 'z' {
				b[len(b)-1] = 'Z'
			}
			t, err = time.Parse(time.RFC3339Nano, string(b))
		}
		if err != nil {
			return t, false
		}
		t = t.UTC()
		if t.Year() < 1 || t.Year() > 9999 {
			return t, false
		}
		return t, true
	}
	return t, false
}

const (
	minEpoch = -62135596800 // 0001-01-01T00:00:00Z
	maxEpoch = 253402300799 // 9999-12-31T23:59:59Z
)

// epochText reads epoch seconds, or milliseconds when |n| >= 1e11, from a
// JSON number text, exactly for plain decimals.
func epochText(s string) (time.Time, bool) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, false
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if len(ip) > 16 {
		return time.Time{}, false
	}
	whole, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	unitDigits := 9 // fraction digits of a nanosecond count
	if whole >= 1e11 {
		unitDigits = 6
	}
	if len(fp) > unitDigits {
		fp = fp[:unitDigits]
	}
	fp += strings.Repeat("0", unitDigits-len(fp))
	frac, err := strconv.ParseInt(fp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var sec, ns int64
	if unitDigits == 6 {
		sec, ns = whole/1000, (whole%1000)*1e6+frac
	} else {
		sec, ns = whole, frac
	}
	if neg {
		sec, ns = -sec, -ns
	}
	if sec < minEpoch || sec > maxEpoch {
		return time.Time{}, false
	}
	return time.Unix(sec, ns).UTC(), true
}

// attrSet builds "attributes": input members keep their names; a clash
// gets a suffix (_2, _3, ...) so nothing is lost; kt's own markers take
// their reserved names and move an input member of that name aside.
type attrSet struct {
	kids []member
	idx  map[string]struct{}
}

func (a *attrSet) has(key string) bool {
	if a.idx != nil {
		_, ok := a.idx[key]
		return ok
	}
	for i := range a.kids {
		if !a.kids[i].dup && a.kids[i].key == key {
			return true
		}
	}
	return false
}

func (a *attrSet) put(m member) {
	a.kids = append(a.kids, m)
	if m.dup {
		return
	}
	if a.idx == nil && len(a.kids) > 32 {
		a.idx = make(map[string]struct{}, 64)
		for i := range a.kids {
			if !a.kids[i].dup {
				a.idx[a.kids[i].key] = struct{}{}
			}
		}
	}
	if a.idx != nil {
		a.idx[m.key] = struct{}{}
	}
}

func (a *attrSet) free(key string) string {
	if !a.has(key) {
		return key
	}
	for i := 2; ; i++ {
		k := key + "_" + strconv.Itoa(i)
		if !a.has(k) {
			return k
		}
	}
}

func (a *attrSet) addInput(m member) {
	if !m.dup {
		m.key = a.free(m.key)
	}
	a.put(m)
}

func (a *attrSet) addOwn(key string, v value) {
	if a.has(key) {
		nk := a.free(key)
		for i := range a.kids {
			if !a.kids[i].dup && a.kids[i].key == key {
				a.kids[i].key = nk
				if a.idx != nil {
					a.idx[nk] = struct{}{}
				}
				break
			}
		}
	}
	a.put(member{key: key, v: v})
}
