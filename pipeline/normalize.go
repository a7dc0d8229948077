package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// TimeLayout is the fixed-precision RFC 3339 UTC layout of "time" and
// "received_at".
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Categories lists the known values of "category", besides CategoryOther
// (inferred for actions whose prefix maps to none of them). Another value
// is kept as given, or mapped by the category map.
var Categories = []string{
	"authentication", "user_management", "team_management", "configuration",
	"gateway", "policy", "secret", "export_job", "escalation",
}

// CategoryOther is the category of an event that has none and whose action
// prefix does not map to one.
const CategoryOther = "other"

// Attribute names kt itself writes into "attributes". An input attribute
// of the same name is moved aside (renamed with a suffix _2, _3, ...).
const (
	AttrDuplicateKeys   = "kt_duplicate_keys"
	AttrNumbersAsString = "kt_numbers_as_strings"
	AttrTimeInput       = "kt_time_input"
	// AttrCategoryInput, AttrActorTypeInput and AttrOutcomeInput keep a
	// category, actor type or outcome as the input gave it, when a mapping
	// replaced it with a known value.
	AttrCategoryInput  = "kt_category_input"
	AttrActorTypeInput = "kt_actor_type_input"
	AttrOutcomeInput   = "kt_outcome_input"
	// AttrUnparsedDocuments lists the change documents (changes.before,
	// changes.after) that looked like documents, did not parse, and were
	// therefore redacted whole.
	AttrUnparsedDocuments = "kt_unparsed_documents"
)

// SourceKindLedger is the source kind of the entries the ledger writes
// itself; no record given to Normalize may claim it.
const SourceKindLedger = "ledger"

// ErrReservedSource is returned by Normalize for a Source whose Kind is
// SourceKindLedger (in any case): a programming error of the caller, not
// a fault of the record, so it is not a *FieldError.
var ErrReservedSource = errors.New(`pipeline: source kind "ledger" is reserved for the ledger's own entries`)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Source says where a record came from; it becomes the event's "source"
// object. File and Offset are for file sources only (offset is written
// whenever File is set).
type Source struct {
	Kind   string // "webhook" or "file"; never SourceKindLedger
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
	opts      Options
	paths     [][]patSeg
	names     map[string]struct{} // Options.RedactNames, folded
	patterns  []*regexp.Regexp
	category  vocabMap
	actorType vocabMap
	unmapped  [3]unmappedField // category, actor.type, outcome
	work      sync.Pool        // of *work
}

// New returns a Normalizer for o (zero fields take their defaults).
func New(o Options) (*Normalizer, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	n := &Normalizer{
		opts:      o,
		paths:     compilePaths(o.RedactPaths),
		category:  newVocabMap(slices.Concat(Categories, []string{CategoryOther}), defaultCategoryMap, o.CategoryMap),
		actorType: newVocabMap(ActorTypes, defaultActorTypeMap, o.ActorTypeMap),
	}
	if len(o.RedactNames) > 0 {
		n.names = make(map[string]struct{}, len(o.RedactNames))
		for _, name := range o.RedactNames {
			n.names[string(foldName(nil, strings.TrimSpace(name)))] = struct{}{}
		}
	}
	for _, p := range o.RedactPatterns {
		re, err := compilePattern(p)
		if err != nil {
			return nil, err
		}
		n.patterns = append(n.patterns, re)
	}
	return n, nil
}

// isExtraName reports whether name is one of Options.RedactNames.
func (n *Normalizer) isExtraName(name string) bool {
	if len(n.names) == 0 {
		return false
	}
	var buf [128]byte
	_, ok := n.names[string(foldName(buf[:0], name))]
	return ok
}

// NewID returns a new UUIDv7 in its canonical text form.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// state is what one normalization gathers on the way for "attributes".
type state struct {
	nBig, nDup int
	// the input values that a mapping replaced
	categoryInput, actorTypeInput, outcomeInput *value
	unparsed                                    []value // paths of unparsed documents
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

// isText reports a string that was a string in the input (not a number
// too big for float64, which the decoder keeps as a string).
func isText(v *value) bool { return v.kind == kString && v.flag&flagBigNumber == 0 }

// input holds the recognized top-level members of a record.
type input struct {
	id, time, action, category, outcome, reason *value
	actor, target, orgID, requestID, corrID     *value
	changes, attributes, request                *value
	ip, sourceIP, userAgent                     *value
	timeKey                                     string
}

// Normalize validates, normalizes and redacts one raw record (the bytes of
// one JSON value, a UTF-8 byte order mark before it allowed) and returns
// its canonical form. src becomes "source", receivedAt "received_at" (zero
// means now). fallbackID is the id of a record without one ("" means a new
// UUIDv7); it is held to the same limits as an id in the record. Every
// refusal of the record is a *FieldError; a src of kind SourceKindLedger
// is refused with ErrReservedSource.
func (n *Normalizer) Normalize(raw []byte, src Source, receivedAt time.Time, fallbackID string) (*Event, error) {
	if strings.EqualFold(src.Kind, SourceKindLedger) {
		return nil, ErrReservedSource
	}
	w := n.getWork()
	ev, err := n.normalize(w, bytes.TrimPrefix(raw, utf8BOM), src, receivedAt, fallbackID)
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
	if !isText(in.action) {
		return nil, mustBe("action", "a string")
	}
	if len(in.action.s) > MaxNameBytes {
		return nil, &FieldError{Field: "action", Reason: fmt.Sprintf("longer than %d bytes", MaxNameBytes)}
	}
	if !validAction(in.action.s) {
		return nil, mustBe("action", "a dotted name without spaces or control characters")
	}
	if reservedAction(in.action.s) {
		return nil, &FieldError{Field: "action", Reason: "reserved for kt's own ledger records"}
	}
	out = append(out, member{key: "action", v: *in.action})

	// actor (with ip and user agent gathered from request and top level)
	actor, err := n.actor(w, &in, &extras, &st)
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
	catV, err := n.categoryOf(&in, ev, &st)
	if err != nil {
		return nil, err
	}
	out = append(out, member{key: "category", v: catV})

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
				switch doc, k := n.parseDoc(w, m.v.s, 2, &st); k {
				case docTree:
					m.v = doc
				case docUnparsed:
					// Possibly secret, never stored as it is.
					w.mbuf = redactInto(w.mac, w.mbuf, &m.v)
					st.unparsed = append(st.unparsed, plainStr("changes."+m.key))
				}
			}
		}
		out = append(out, member{key: "changes", v: ch})
	}

	if err := optID(&out, "correlation_id", in.corrID, &st); err != nil {
		return nil, err
	}

	// id; the strings that leave the package are copied, ID and Action in
	// one allocation.
	var idFlag uint8
	switch {
	case in.id == nil || in.id.kind == kNull || (in.id.kind == kString && in.id.s == ""):
		if err := n.checkFallbackID(fallbackID); err != nil {
			return nil, err
		}
		ev.ID = fallbackID
		if ev.ID == "" {
			ev.ID = NewID()
		}
		ev.Action = strings.Clone(in.action.s)
	case in.id.kind == kString || in.id.kind == kNumber:
		if len(in.id.s) > n.opts.MaxIDBytes {
			return nil, &FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d bytes", n.opts.MaxIDBytes)}
		}
		both := in.id.s + in.action.s
		ev.ID, ev.Action = both[:len(in.id.s)], both[len(in.id.s):]
		idFlag = in.id.flag & flagPlain
	default:
		return nil, mustBe("id", "a string")
	}
	out = append(out, member{key: "id", v: value{kind: kString, s: ev.ID, flag: idFlag}})

	if err := optID(&out, "org_id", in.orgID, &st); err != nil {
		return nil, err
	}

	// outcome
	outV, err := n.outcomeOf(in.outcome, &st)
	if err != nil {
		return nil, err
	}
	out = append(out, member{key: "outcome", v: outV})
	if in.reason != nil && in.reason.kind != kNull {
		if in.reason.kind == kString {
			out = append(out, member{key: "reason", v: *in.reason})
		} else {
			// A structured reason means something: keep it, as an attribute.
			extras = append(extras, member{key: "reason", v: *in.reason})
		}
	}

	// received_at
	if receivedAt.IsZero() {
		receivedAt = time.Now()
	}
	out = append(out, member{key: "received_at", v: plainStr(formatTime(w.recv[:0], receivedAt))})

	if err := optID(&out, "request_id", in.requestID, &st); err != nil {
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
	if err := target(&out, in.target, &st); err != nil {
		return nil, err
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
		spans:     w.spans[:0],
	}
	defer func() { w.mbuf, w.path, w.dups, w.spans = wk.buf, wk.path[:0], wk.dups, wk.spans[:0] }()
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
	if st.categoryInput != nil {
		attrs.addOwn(AttrCategoryInput, *st.categoryInput)
	}
	if st.actorTypeInput != nil {
		attrs.addOwn(AttrActorTypeInput, *st.actorTypeInput)
	}
	if st.outcomeInput != nil {
		attrs.addOwn(AttrOutcomeInput, *st.outcomeInput)
	}
	if len(st.unparsed) > 0 {
		attrs.addOwn(AttrUnparsedDocuments, value{kind: kArray, kids: wrap(st.unparsed)})
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
	if len(b) > n.opts.MaxEventBytes {
		return nil, &FieldError{Reason: fmt.Sprintf("event of %d bytes (normalized) is larger than the limit of %d bytes", len(b), n.opts.MaxEventBytes)}
	}
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

// checkFallbackID holds the id a source gave for a record without one (a
// webhook-id or Idempotency-Key header, say) to the limits of an id.
func (n *Normalizer) checkFallbackID(id string) error {
	const whose = " (the id the source gave for a record without one)"
	if len(id) > n.opts.MaxIDBytes {
		return &FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d bytes", n.opts.MaxIDBytes) + whose}
	}
	if !utf8.ValidString(id) {
		return &FieldError{Field: "id", Reason: "not valid UTF-8" + whose}
	}
	return nil
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
		if r <= ' ' || isControl(r) {
			return false
		}
	}
	return true
}
