// Package diff compares the two sides of an event's changes member
// ({"before": <value>, "after": <value>}) and reports which fields
// differ: a list of field-level changes for a person to read, and an
// RFC 6902 JSON Patch that turns the before document into the after
// document for a program to apply.
//
// # Worked example
//
// A policy given as YAML text on both sides:
//
//	before: "routes:\n  - name: default\n    rpm: 600\n  - name: admin\n    rpm: 60\n"
//	after:  "routes:\n  - name: admin\n    rpm: 60\n  - name: default\n    rpm: 1200\n  - name: batch\n    rpm: 10\n"
//
// Both strings are YAML mappings, so they are parsed and compared as
// documents (Format "yaml"). The routes list holds objects that all have a
// unique name, so its elements are matched by name, not by position: the
// swap of default and admin is no change, and the result is
//
//	modified  routes[name=default].rpm  /routes/1/rpm  600 -> 1200
//	added     routes[name=batch]        /routes/2      {"name":"batch","rpm":10}
//
// with the patch
//
//	[{"op":"move","path":"/routes/0","from":"/routes/1"},
//	 {"op":"replace","path":"/routes/1/rpm","value":1200},
//	 {"op":"add","path":"/routes/2","value":{"name":"batch","rpm":10}}]
//
// # Rules
//
// Values. Before and after are each the raw JSON of a value. Nil, empty
// (or all white space) and the JSON literal null mean "absent" at the top
// level; a null nested inside a document is an ordinary value (a member
// going from null to 1 is Modified). Invalid JSON is an error. Of
// duplicate object members the last value counts, as in encoding/json.
//
// Documents in strings. When both sides are strings (or one is a string
// and the other absent) and each string is a document — a JSON object or
// array (tried first), or else a YAML mapping or sequence (a single YAML
// document; a stream of several is text) — the strings are parsed and the
// parsed documents are compared: Format is "json-string" when every
// string was JSON and "yaml" otherwise. Paths and the patch then refer to
// the parsed documents. If a string is not a document (plain text, a bare
// scalar, YAML that the YAML parser refuses, such as YAML nested beyond
// the parser's own limit of 10000 levels), Format is "text" and a
// difference is one Modified change at path "" holding both strings.
// Strings nested inside a document are never parsed: a nested string that
// differs is a Modified leaf. Any other input has Format "json".
//
// YAML to JSON. YAML is converted to JSON-compatible values. Mapping keys
// that are strings stay as they are; null, bool, int and float keys become
// their fmt.Sprint text (null becomes "null", 0x1F becomes "31"); other
// scalar keys keep their source text; a mapping or sequence used as a key
// makes the string text, not a document, and so do duplicate keys (also
// after conversion: 1 and "1"). Scalars: !!null, !!bool, !!str as such;
// !!int as a decimal number; !!float as a number, keeping its text when
// that is a JSON number (1.50 stays 1.50); .inf, -.inf and .nan, and
// every other tag (!!timestamp, !!binary, custom tags such as !Ref) become
// the scalar's source text as a string. Aliases are expanded (each
// expansion counts towards the node limit) and merge keys (<<) are
// applied: explicitly written keys win, then earlier merged mappings.
//
// Objects are compared member by member. Changes come in document order:
// the members of the after object in its order, with each member that was
// removed placed after the member that preceded it in the before object.
// Nested objects recurse, so only the leaves that differ are reported; a
// member present on one side only is one Added or Removed change holding
// the whole subtree. A member's order within its object is not a change.
//
// Lists are matched by identity when every element on both sides is an
// object with an identity member: the first of "name", "id", "key" that
// every element has, as a string or a number, with values unique within
// each side (the next candidate is tried if one is missing somewhere or
// repeated). Matched elements are compared as objects under a path
// segment such as routes[name=default]; an element present on one side
// only is Added or Removed as a whole; a reordering is not a change
// (though the patch moves elements). Changes follow the after list's
// order, removed elements placed after their preceding element in the
// before list. Any other list is compared by position (items[2]), the
// extra elements of the longer side being Added or Removed at the end.
//
// Scalars and kinds. Two values of different kinds (an object and a
// string, a list and a number) or two different scalars are one Modified
// change holding both values. JSON numbers are equal when their exact
// decimal values are equal, so 1, 1.0, 1e0 and 10e-1 are equal and -0
// equals 0; unlike a float64 comparison this also tells apart integers
// beyond 2^53 (9007199254740993 is not 9007199254740992). A number is
// kept and shown as its original text.
//
// Top level. If before is absent and after is an object or a non-empty
// list, each top-level member (or element) is one Added change; an empty
// object or list, or a scalar, is one Added change at path "". Removal is
// the mirror image. The patch for an absent before is one "add" at ""
// holding the whole after value; for an absent after it is one "replace"
// at "" with null (the absent document). Both absent: no changes.
//
// # Paths and pointers
//
// Path is written for people: object keys joined by dots
// (rate_limit.rpm), list positions in brackets (items[2]), identity
// matches in brackets (routes[name=default], routes[id=7]). A key that is
// not a simple identifier ([A-Za-z_][A-Za-z0-9_-]*) is written in
// brackets as a JSON string without the dot: a["key with.dots"].b,
// ["a b"] at the top. An identity value that is a simple identifier is
// written bare, a number as its text, any other string quoted:
// [name="a b"], [id="7"]. The top level is "".
//
// Pointer is the RFC 6901 JSON Pointer ("~" as "~0", "/" as "~1") of the
// same place in the after document, or in the before document for a
// Removed change. Patch paths may differ from both: they are valid at the
// moment each operation is applied.
//
// # Patch
//
// The patch uses add, remove, replace and move. Applied in order to the
// parsed before document it yields the parsed after document (equal by the
// rules above). Removals from a list go from the highest index down; for
// identity-matched lists the removed elements go first, then the after
// list is built front to back with move and add operations, then each
// matched element is patched in place. Moves are correct but not always
// the fewest possible.
//
// # Limits
//
// A document (each side, and each parsed string) nested deeper than
// [MaxDepth] levels of objects and lists fails with [ErrTooDeep]; one with
// more than [MaxNodes] values fails with [ErrTooLarge], and a result with
// more than [MaxChanges] changes or patch operations fails with
// [ErrTooManyChanges]. Compare does not panic on any input.
package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind tells what happened at a path.
type Kind string

// The kinds of change.
const (
	// Added: the path exists only in the after document.
	Added Kind = "added"
	// Removed: the path exists only in the before document.
	Removed Kind = "removed"
	// Modified: the path exists on both sides with different values.
	Modified Kind = "modified"
)

// Change is one path whose value differs.
type Change struct {
	// Path is the human-readable place, such as
	// routes[name=default].rate_limit.rpm or items[2].x; "" is the whole
	// value. See the package documentation for its escaping.
	Path string `json:"path"`
	// Pointer is the RFC 6901 JSON Pointer of the same place in the after
	// document (in the before document for a Removed change), such as
	// /routes/0/rate_limit/rpm.
	Pointer string `json:"pointer"`
	// Kind tells whether the path was added, removed or modified.
	Kind Kind `json:"kind"`
	// Before is the compact JSON of the old value; absent for Added.
	Before json.RawMessage `json:"before,omitempty"`
	// After is the compact JSON of the new value; absent for Removed.
	After json.RawMessage `json:"after,omitempty"`
}

// Result is the outcome of a comparison.
type Result struct {
	// Changes lists the differences in document order; the order is
	// deterministic. It is empty, not nil, when nothing differs.
	Changes []Change `json:"changes"`
	// Format is "json" for JSON values, "yaml" when before and after
	// were YAML documents in strings, "json-string" when they were JSON
	// documents in strings, and "text" when they were strings that are
	// not documents.
	Format string `json:"format"`
	// Patch is an RFC 6902 JSON Patch that turns the (parsed) before
	// document into the (parsed) after document. It is empty, not nil,
	// when nothing differs.
	Patch []PatchOp `json:"patch"`
}

// PatchOp is one RFC 6902 operation.
type PatchOp struct {
	// Op is "add", "remove", "replace" or "move".
	Op string `json:"op"`
	// Path is the RFC 6901 JSON Pointer the operation acts on.
	Path string `json:"path"`
	// Value is the value of an add or replace operation.
	Value json.RawMessage `json:"value,omitempty"`
	// From is the source pointer of a move operation.
	From string `json:"from,omitempty"`
}

// Formats reported in [Result.Format].
const (
	// FormatJSON: the values were compared as given.
	FormatJSON = "json"
	// FormatYAML: the values were strings holding YAML documents.
	FormatYAML = "yaml"
	// FormatJSONString: the values were strings holding JSON documents.
	FormatJSONString = "json-string"
	// FormatText: the values were strings that are not documents.
	FormatText = "text"
)

// Limits on the input and the result.
const (
	// MaxDepth is the deepest nesting of objects and lists accepted.
	MaxDepth = 100
	// MaxNodes is the largest number of values (objects, lists and
	// scalars, counted one each) accepted in one document.
	MaxNodes = 100000
	// MaxChanges is the largest number of changes, and of patch
	// operations, a result may hold.
	MaxChanges = 100000
)

// Errors returned by [Compare]; test them with errors.Is.
var (
	// ErrInvalidJSON: before or after is not one valid JSON value.
	ErrInvalidJSON = errors.New("diff: invalid JSON")
	// ErrTooDeep: a document is nested deeper than MaxDepth.
	ErrTooDeep = fmt.Errorf("diff: document nested deeper than %d levels", MaxDepth)
	// ErrTooLarge: a document holds more than MaxNodes values.
	ErrTooLarge = fmt.Errorf("diff: document has more than %d values", MaxNodes)
	// ErrTooManyChanges: the result would hold more than MaxChanges
	// changes or patch operations.
	ErrTooManyChanges = fmt.Errorf("diff: more than %d changes", MaxChanges)
)

// Compare diffs before and after, each the raw JSON of a value; nil,
// empty or null means absent. See the package documentation for the
// rules.
func Compare(before, after json.RawMessage) (Result, error) {
	b, err := parseSide(before)
	if err != nil {
		return Result{}, fmt.Errorf("before: %w", err)
	}
	a, err := parseSide(after)
	if err != nil {
		return Result{}, fmt.Errorf("after: %w", err)
	}
	format, b, a, err := documents(b, a)
	if err != nil {
		return Result{}, err
	}
	d := &differ{changes: []Change{}, ops: []PatchOp{}}
	if err := d.top(b, a); err != nil {
		return Result{}, err
	}
	return Result{Changes: d.changes, Format: format, Patch: d.ops}, nil
}

// absent stands for a missing or null top-level value.
type absentValue struct{}

var absent any = absentValue{}

func parseSide(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return absent, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return absent, nil
	}
	return v, nil
}

// documents decides the format and, for documents in strings, replaces
// the strings with the parsed documents.
func documents(b, a any) (string, any, any, error) {
	sb, bStr := b.(string)
	sa, aStr := a.(string)
	if !(bStr || aStr) || (bStr && !aStr && a != absent) || (aStr && !bStr && b != absent) {
		return FormatJSON, b, a, nil
	}
	allJSON := true
	parse := func(s string) (any, bool, error) {
		v, isJSON, ok, err := parseDocument(s)
		if ok && !isJSON {
			allJSON = false
		}
		return v, ok, err
	}
	db, da := b, a
	if bStr {
		v, ok, err := parse(sb)
		if err != nil {
			return "", nil, nil, fmt.Errorf("before: %w", err)
		}
		if !ok {
			return FormatText, b, a, nil
		}
		db = v
	}
	if aStr {
		v, ok, err := parse(sa)
		if err != nil {
			return "", nil, nil, fmt.Errorf("after: %w", err)
		}
		if !ok {
			return FormatText, b, a, nil
		}
		da = v
	}
	if allJSON {
		return FormatJSONString, db, da, nil
	}
	return FormatYAML, db, da, nil
}

// parseDocument parses s as a JSON object or array, or else as a YAML
// mapping or sequence. ok is false when s is neither; err is set only
// when s is a document beyond the limits.
func parseDocument(s string) (v any, isJSON, ok bool, err error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		v, err := parseJSON([]byte(t))
		switch {
		case err == nil:
			return v, true, true, nil
		case (errors.Is(err, ErrTooDeep) || errors.Is(err, ErrTooLarge)) && json.Valid([]byte(t)):
			return nil, false, false, err
		}
	}
	v, ok, err = parseYAML(s)
	return v, false, ok, err
}

// ---- value model ----

// Parsed values are nil, bool, json.Number, string, []any and *object.

// object is a JSON object that keeps its members' order.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

// set adds or replaces a member; a replaced member keeps its place.
func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) has(k string) bool { _, ok := o.vals[k]; return ok }

// parseJSON parses one JSON value within the limits.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	v, err := p.value(tok, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the value", ErrInvalidJSON)
	}
	return v, nil
}

type jsonParser struct {
	dec   *json.Decoder
	nodes int
}

// value builds the value starting with tok; depth is the number of
// containers enclosing it.
func (p *jsonParser) value(tok json.Token, depth int) (any, error) {
	p.nodes++
	if p.nodes > MaxNodes {
		return nil, ErrTooLarge
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > MaxDepth {
			return nil, ErrTooDeep
		}
		switch t {
		case '{':
			o := newObject()
			for {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
				}
				if kt == json.Delim('}') {
					return o, nil
				}
				k, ok := kt.(string)
				if !ok {
					return nil, ErrInvalidJSON
				}
				vt, err := p.dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
				}
				v, err := p.value(vt, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
		case '[':
			l := []any{}
			for {
				et, err := p.dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
				}
				if et == json.Delim(']') {
					return l, nil
				}
				v, err := p.value(et, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
		}
		return nil, ErrInvalidJSON
	case nil, bool, string, json.Number:
		return t, nil
	}
	return nil, ErrInvalidJSON
}

// appendJSON writes v as compact JSON.
func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, t)
	case json.Number:
		return append(b, t...)
	case string:
		return appendString(b, t)
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case *object:
		b = append(b, '{')
		for i, k := range t.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, t.vals[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func raw(v any) json.RawMessage { return appendJSON(nil, v) }

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string (no HTML escaping; invalid UTF-8
// becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// equal reports whether two parsed values are equal: objects regardless
// of member order, numbers by exact decimal value.
func equal(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case bool:
		b, ok := y.(bool)
		return ok && a == b
	case string:
		b, ok := y.(string)
		return ok && a == b
	case json.Number:
		b, ok := y.(json.Number)
		return ok && numEqual(a, b)
	case []any:
		b, ok := y.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case *object:
		b, ok := y.(*object)
		if !ok || len(a.keys) != len(b.keys) {
			return false
		}
		for _, k := range a.keys {
			bv, ok := b.vals[k]
			if !ok || !equal(a.vals[k], bv) {
				return false
			}
		}
		return true
	}
	return false
}

// numEqual compares two JSON numbers by exact decimal value.
func numEqual(x, y json.Number) bool {
	if x == y {
		return true
	}
	cx, okx := canonNumber(string(x))
	cy, oky := canonNumber(string(y))
	return okx && oky && cx == cy
}

// canonNumber returns a canonical form of a JSON number's decimal value
// (sign, significant digits, exponent), or false when the exponent is out
// of range.
func canonNumber(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 32)
		if err != nil {
			return "", false
		}
		mant, exp = s[:i], e
	}
	digits := mant
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		digits = mant[:i] + mant[i+1:]
		exp -= int64(len(mant) - i - 1)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0", true
	}
	n := len(digits)
	digits = strings.TrimRight(digits, "0")
	exp += int64(n - len(digits))
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + digits + "e" + strconv.FormatInt(exp, 10), true
}

// ---- paths ----

// isIdent reports whether s is a simple identifier:
// [A-Za-z_][A-Za-z0-9_-]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'):
		case i > 0 && (c == '-' || (c >= '0' && c <= '9')):
		default:
			return false
		}
	}
	return true
}

// keyPath appends an object key to a human path.
func keyPath(p, k string) string {
	if isIdent(k) {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	return p + "[" + string(appendString(nil, k)) + "]"
}

func indexPath(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

// identityPath appends an identity match such as [name=default].
func identityPath(p, member string, v any) string {
	var val string
	switch t := v.(type) {
	case json.Number:
		val = string(t)
	case string:
		if isIdent(t) {
			val = t
		} else {
			val = string(appendString(nil, t))
		}
	}
	return p + "[" + member + "=" + val + "]"
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// keyPointer appends an object key to a JSON Pointer.
func keyPointer(p, k string) string { return p + "/" + pointerEscaper.Replace(k) }

func indexPointer(p string, i int) string { return p + "/" + strconv.Itoa(i) }

// loc is one place: the human path and the pointers of the place in the
// before and after documents. The after pointer is also where the place
// is while the patch works on it.
type loc struct {
	path, before, after string
}

func (l loc) key(k string) loc {
	return loc{keyPath(l.path, k), keyPointer(l.before, k), keyPointer(l.after, k)}
}

// ---- comparison ----

type differ struct {
	changes []Change
	ops     []PatchOp
}

func (d *differ) change(c Change) error {
	if len(d.changes) >= MaxChanges {
		return ErrTooManyChanges
	}
	d.changes = append(d.changes, c)
	return nil
}

func (d *differ) op(o PatchOp) error {
	if len(d.ops) >= MaxChanges {
		return ErrTooManyChanges
	}
	d.ops = append(d.ops, o)
	return nil
}

func (d *differ) added(l loc, v any) error {
	return d.change(Change{Path: l.path, Pointer: l.after, Kind: Added, After: raw(v)})
}

func (d *differ) removed(l loc, v any) error {
	return d.change(Change{Path: l.path, Pointer: l.before, Kind: Removed, Before: raw(v)})
}

// top compares the top-level values, either of which may be absent.
func (d *differ) top(b, a any) error {
	switch {
	case b == absent && a == absent:
		return nil
	case b == absent:
		if err := d.fromEmpty(a, false); err != nil {
			return err
		}
		d.ops = []PatchOp{{Op: "add", Path: "", Value: raw(a)}}
		return nil
	case a == absent:
		if err := d.fromEmpty(b, true); err != nil {
			return err
		}
		d.ops = []PatchOp{{Op: "replace", Path: "", Value: raw(nil)}}
		return nil
	}
	return d.diff(b, a, loc{})
}

// fromEmpty reports v as added (or removed) against nothing: member by
// member for a non-empty object or list, else as a whole.
func (d *differ) fromEmpty(v any, removed bool) error {
	var empty any
	switch t := v.(type) {
	case *object:
		if len(t.keys) > 0 {
			empty = newObject()
		}
	case []any:
		if len(t) > 0 {
			empty = []any{}
		}
	}
	if empty == nil {
		if removed {
			return d.removed(loc{}, v)
		}
		return d.added(loc{}, v)
	}
	if removed {
		return d.diff(v, empty, loc{})
	}
	return d.diff(empty, v, loc{})
}

// diff compares two values present at l.
func (d *differ) diff(b, a any, l loc) error {
	switch bt := b.(type) {
	case *object:
		if at, ok := a.(*object); ok {
			return d.diffObject(bt, at, l)
		}
	case []any:
		if at, ok := a.([]any); ok {
			return d.diffList(bt, at, l)
		}
	}
	if equal(b, a) {
		return nil
	}
	av := raw(a)
	if err := d.change(Change{Path: l.path, Pointer: l.after, Kind: Modified, Before: raw(b), After: av}); err != nil {
		return err
	}
	return d.op(PatchOp{Op: "replace", Path: l.after, Value: av})
}

// mergeOrder returns the union of the members of b and a: a's members in
// a's order, each member only in b placed after the member that preceded
// it in b (or first when none did).
func mergeOrder(b, a *object) []string {
	var lead []string
	after := map[string][]string{}
	anchor := ""
	anchored := false
	for _, k := range b.keys {
		switch {
		case a.has(k):
			anchor, anchored = k, true
		case anchored:
			after[anchor] = append(after[anchor], k)
		default:
			lead = append(lead, k)
		}
	}
	out := make([]string, 0, len(lead)+len(a.keys))
	out = append(out, lead...)
	for _, k := range a.keys {
		out = append(out, k)
		out = append(out, after[k]...)
	}
	return out
}

func (d *differ) diffObject(b, a *object, l loc) error {
	for _, k := range mergeOrder(b, a) {
		bv, inB := b.vals[k]
		av, inA := a.vals[k]
		cl := l.key(k)
		var err error
		switch {
		case inB && inA:
			err = d.diff(bv, av, cl)
		case inB:
			if err = d.removed(cl, bv); err == nil {
				err = d.op(PatchOp{Op: "remove", Path: cl.after})
			}
		default:
			v := raw(av)
			if err = d.change(Change{Path: cl.path, Pointer: cl.after, Kind: Added, After: v}); err == nil {
				err = d.op(PatchOp{Op: "add", Path: cl.after, Value: v})
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) diffList(b, a []any, l loc) error {
	if member := identityMember(b, a); member != "" {
		return d.diffByIdentity(b, a, l, member)
	}
	n := min(len(b), len(a))
	for i := 0; i < n; i++ {
		cl := loc{indexPath(l.path, i), indexPointer(l.before, i), indexPointer(l.after, i)}
		if err := d.diff(b[i], a[i], cl); err != nil {
			return err
		}
	}
	for i := n; i < len(b); i++ {
		cl := loc{indexPath(l.path, i), indexPointer(l.before, i), ""}
		if err := d.removed(cl, b[i]); err != nil {
			return err
		}
	}
	for i := len(b) - 1; i >= n; i-- {
		if err := d.op(PatchOp{Op: "remove", Path: indexPointer(l.after, i)}); err != nil {
			return err
		}
	}
	for i := n; i < len(a); i++ {
		p := indexPointer(l.after, i)
		v := raw(a[i])
		if err := d.change(Change{Path: indexPath(l.path, i), Pointer: p, Kind: Added, After: v}); err != nil {
			return err
		}
		if err := d.op(PatchOp{Op: "add", Path: p, Value: v}); err != nil {
			return err
		}
	}
	return nil
}

// identityMembers are the candidate identity members, in order.
var identityMembers = []string{"name", "id", "key"}

// identityMember returns the member that identifies the elements of both
// lists, or "" when the lists are to be compared by position.
func identityMember(b, a []any) string {
	if len(b)+len(a) == 0 {
		return ""
	}
	for _, m := range identityMembers {
		if uniqueIdentity(b, m) && uniqueIdentity(a, m) {
			return m
		}
	}
	return ""
}

// identityKey returns the comparable identity of element e under member
// m, or false when e has none.
func identityKey(e any, m string) (string, bool) {
	o, ok := e.(*object)
	if !ok {
		return "", false
	}
	switch t := o.vals[m].(type) {
	case string:
		return "s" + t, true
	case json.Number:
		if c, ok := canonNumber(string(t)); ok {
			return "n" + c, true
		}
		return "n" + string(t), true
	}
	return "", false
}

func uniqueIdentity(l []any, m string) bool {
	seen := make(map[string]struct{}, len(l))
	for _, e := range l {
		k, ok := identityKey(e, m)
		if !ok {
			return false
		}
		if _, dup := seen[k]; dup {
			return false
		}
		seen[k] = struct{}{}
	}
	return true
}

// diffByIdentity compares two lists whose elements are matched by the
// identity member m. The patch first removes the elements only in b
// (highest index first), then builds a's order front to back: position
// j receives a new element (add) or its matched element, moved there from
// where it now is, and that element is then patched in place at j.
func (d *differ) diffByIdentity(b, a []any, l loc, m string) error {
	bIndex := make(map[string]int, len(b))
	for i, e := range b {
		k, _ := identityKey(e, m)
		bIndex[k] = i
	}
	aKeys := make([]string, len(a))
	inA := make(map[string]bool, len(a))
	for j, e := range a {
		k, _ := identityKey(e, m)
		aKeys[j] = k
		inA[k] = true
	}

	// Ranks of the kept elements of b, and the removed elements of b
	// grouped by the kept element before them (-1: none).
	rank := make([]int, len(b))
	removedAfter := map[int][]int{}
	kept, anchor := 0, -1
	for i, e := range b {
		k, _ := identityKey(e, m)
		if inA[k] {
			rank[i] = kept
			kept++
			anchor = i
		} else {
			rank[i] = -1
			removedAfter[anchor] = append(removedAfter[anchor], i)
		}
	}

	for i := len(b) - 1; i >= 0; i-- {
		if rank[i] < 0 {
			if err := d.op(PatchOp{Op: "remove", Path: indexPointer(l.after, i)}); err != nil {
				return err
			}
		}
	}

	reportRemoved := func(anchor int) error {
		for _, i := range removedAfter[anchor] {
			cl := loc{identityPath(l.path, m, b[i].(*object).vals[m]), indexPointer(l.before, i), ""}
			if err := d.removed(cl, b[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := reportRemoved(-1); err != nil {
		return err
	}

	// unplaced counts the kept elements of b not yet moved into place, by
	// rank; the current index of a kept element is j plus the number of
	// unplaced elements ranked before it.
	unplaced := newFenwick(kept)
	for j, e := range a {
		p := indexPointer(l.after, j)
		path := identityPath(l.path, m, e.(*object).vals[m])
		bi, ok := bIndex[aKeys[j]]
		if !ok {
			v := raw(e)
			if err := d.change(Change{Path: path, Pointer: p, Kind: Added, After: v}); err != nil {
				return err
			}
			if err := d.op(PatchOp{Op: "add", Path: p, Value: v}); err != nil {
				return err
			}
			continue
		}
		r := rank[bi]
		if cur := j + unplaced.prefix(r); cur != j {
			if err := d.op(PatchOp{Op: "move", From: indexPointer(l.after, cur), Path: p}); err != nil {
				return err
			}
		}
		unplaced.add(r, -1)
		if err := d.diff(b[bi], e, loc{path, indexPointer(l.before, bi), p}); err != nil {
			return err
		}
		if err := reportRemoved(bi); err != nil {
			return err
		}
	}
	return nil
}

// fenwick is a binary indexed tree of counts, all starting at 1.
type fenwick []int

func newFenwick(n int) fenwick {
	f := make(fenwick, n+1)
	for i := 1; i <= n; i++ {
		f[i]++
		if p := i + i&-i; p <= n {
			f[p] += f[i]
		}
	}
	return f
}

// add adds delta to the count at index i (0-based).
func (f fenwick) add(i, delta int) {
	for i++; i < len(f); i += i & -i {
		f[i] += delta
	}
}

// prefix returns the sum of the counts at indexes below i.
func (f fenwick) prefix(i int) int {
	s := 0
	for ; i > 0; i -= i & -i {
		s += f[i]
	}
	return s
}
