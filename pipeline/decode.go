package pipeline

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/gowebpki/jcs"
)

// kind is the type of a decoded JSON value.
type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNumber // s holds the canonical ES6 text
	kString
	kArray  // kids hold the elements (key unused)
	kObject // kids hold the members in input order, duplicates flagged
)

// flagBigNumber marks a string that was a JSON number which does not
// round-trip through float64.
const flagBigNumber = 1

// value is one node of the ordered tree the decoder builds.
type value struct {
	kind kind
	flag uint8
	s    string
	kids []member
}

// member is an object member or an array element.
type member struct {
	key string
	dup bool // a later occurrence of a key already in the object
	v   value
}

// get returns the first (non-duplicate) member named key.
func (v *value) get(key string) *value {
	for i := range v.kids {
		if !v.kids[i].dup && v.kids[i].key == key {
			return &v.kids[i].v
		}
	}
	return nil
}

func str(s string) value { return value{kind: kString, s: s} }

// seg is one step of a path: an object key, or an array index when idx >= 0.
type seg struct {
	key string
	idx int
}

func renderPath(p []seg) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		if s.idx >= 0 {
			b.WriteString(strconv.Itoa(s.idx))
		} else {
			b.WriteString(s.key)
		}
		if b.Len() > 512 {
			return b.String()[:512] + "..."
		}
	}
	return b.String()
}

// decoder is a strict RFC 8259 parser into an ordered tree that keeps
// duplicate keys, turns numbers that float64 cannot hold into strings,
// bounds depth and string sizes, and checks UTF-8.
//
// Strings without escapes alias the input buffer (zero copy): the tree must
// not outlive the call to Normalize, and anything that leaves the package is
// copied.
type decoder struct {
	data     []byte
	pos      int
	maxDepth int
	maxField int
	escape   bool
	path     []seg
	stack    []member // members being parsed, copied out exact-size
	nBig     int
	nDup     int
	scratch  []byte
}

func (d *decoder) fail(reason string) *FieldError {
	return &FieldError{Field: renderPath(d.path), Reason: reason}
}

func (d *decoder) syntax(what string) *FieldError {
	return d.fail("malformed JSON at byte offset " + strconv.Itoa(d.pos) + ": " + what)
}

func (d *decoder) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// parseDocument parses one complete JSON text; base is the depth of the
// position the document is placed at (0 for a record).
func (d *decoder) parseDocument(base int) (value, *FieldError) {
	d.skipWS()
	if d.pos >= len(d.data) {
		return value{}, d.syntax("empty input")
	}
	v, err := d.parseValue(base)
	if err != nil {
		return value{}, err
	}
	d.skipWS()
	if d.pos < len(d.data) {
		return value{}, d.syntax("unexpected data after the JSON value")
	}
	return v, nil
}

func (d *decoder) parseValue(depth int) (value, *FieldError) {
	if d.pos >= len(d.data) {
		return value{}, d.syntax("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.parseObject(depth + 1)
	case c == '[':
		return d.parseArray(depth + 1)
	case c == '"':
		s, big, err := d.parseString()
		return value{kind: kString, s: s, flag: big}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return d.parseNumber()
	case c == 't':
		return d.literal("true", value{kind: kTrue})
	case c == 'f':
		return d.literal("false", value{kind: kFalse})
	case c == 'n':
		return d.literal("null", value{kind: kNull})
	default:
		return value{}, d.syntax("invalid character")
	}
}

func (d *decoder) literal(lit string, v value) (value, *FieldError) {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return v, nil
	}
	return value{}, d.syntax("invalid literal")
}

func (d *decoder) tooDeep(depth int) *FieldError {
	if depth > d.maxDepth {
		return d.fail("nested deeper than " + strconv.Itoa(d.maxDepth) + " levels")
	}
	return nil
}

func (d *decoder) parseObject(depth int) (value, *FieldError) {
	if err := d.tooDeep(depth); err != nil {
		return value{}, err
	}
	d.pos++ // '{'
	v := value{kind: kObject}
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return v, nil
	}
	var seen map[string]struct{}
	base := len(d.stack)
	for {
		d.skipWS()
		if d.pos >= len(d.data) {
			return value{}, d.syntax("unexpected end of input")
		}
		if d.data[d.pos] != '"' {
			return value{}, d.syntax("expected a member name")
		}
		key, _, err := d.parseString()
		if err != nil {
			return value{}, err
		}
		d.skipWS()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			if d.pos >= len(d.data) {
				return value{}, d.syntax("unexpected end of input")
			}
			return value{}, d.syntax("expected ':'")
		}
		d.pos++
		d.skipWS()
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			open := d.stack[base:]
			for i := range open {
				if open[i].key == key {
					dup = true
					break
				}
			}
			if len(open) >= 16 {
				seen = make(map[string]struct{}, 32)
				for i := range open {
					seen[open[i].key] = struct{}{}
				}
				seen[key] = struct{}{}
			}
		}
		if dup {
			d.nDup++
		}
		d.path = append(d.path, seg{key: key, idx: -1})
		el, err := d.parseValue(depth)
		if err != nil {
			return value{}, err
		}
		d.path = d.path[:len(d.path)-1]
		d.stack = append(d.stack, member{key: key, dup: dup, v: el})
		d.skipWS()
		if d.pos >= len(d.data) {
			return value{}, d.syntax("unexpected end of input")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			v.kids = d.take(base)
			return v, nil
		default:
			return value{}, d.syntax("expected ',' or '}'")
		}
	}
}

func (d *decoder) parseArray(depth int) (value, *FieldError) {
	if err := d.tooDeep(depth); err != nil {
		return value{}, err
	}
	d.pos++ // '['
	v := value{kind: kArray}
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return v, nil
	}
	base := len(d.stack)
	for i := 0; ; i++ {
		d.skipWS()
		d.path = append(d.path, seg{idx: i})
		el, err := d.parseValue(depth)
		if err != nil {
			return value{}, err
		}
		d.path = d.path[:len(d.path)-1]
		d.stack = append(d.stack, member{v: el})
		d.skipWS()
		if d.pos >= len(d.data) {
			return value{}, d.syntax("unexpected end of input")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			v.kids = d.take(base)
			return v, nil
		default:
			return value{}, d.syntax("expected ',' or ']'")
		}
	}
}

// take moves the members above base off the stack into an exact-size slice.
func (d *decoder) take(base int) []member {
	kids := make([]member, len(d.stack)-base)
	copy(kids, d.stack[base:])
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	return kids
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

func (d *decoder) hex4(at int) rune {
	if at+4 > len(d.data) {
		return -1
	}
	var r rune
	for i := 0; i < 4; i++ {
		h := hexVal(d.data[at+i])
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// parseString parses the string at d.pos (a '"'). The second result is
// always 0; it keeps the call sites symmetrical with numbers.
func (d *decoder) parseString() (string, uint8, *FieldError) {
	start := d.pos + 1
	i := start
	data := d.data
	// Fast path: plain ASCII.
	for i < len(data) {
		c := data[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		i++
	}
	escaped, nonASCII := false, false
	for ; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			escaped = true
			i++
			continue
		}
		if c < 0x20 {
			d.pos = i
			return "", 0, d.syntax("control character in string")
		}
		if c >= 0x80 {
			nonASCII = true
		}
	}
	if i >= len(data) {
		d.pos = len(data)
		return "", 0, d.syntax("unexpected end of input in string")
	}
	end := i
	if !escaped {
		if end-start > d.maxField {
			return "", 0, d.fail("string longer than " + strconv.Itoa(d.maxField) + " bytes")
		}
		raw := data[start:end]
		d.pos = end + 1
		if nonASCII && !utf8.Valid(raw) {
			s, err := d.invalidUTF8(raw)
			return s, 0, err
		}
		return unsafe.String(unsafe.SliceData(raw), len(raw)), 0, nil
	}
	buf := d.scratch[:0]
	surrogate := false
	for j := start; j < end; {
		c := data[j]
		if c != '\\' {
			buf = append(buf, c)
			j++
			continue
		}
		if j+1 >= end {
			d.pos = j
			return "", 0, d.syntax("invalid escape")
		}
		switch data[j+1] {
		case '"', '\\', '/':
			buf = append(buf, data[j+1])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := d.hex4(j + 2)
			if r < 0 || j+6 > end {
				d.pos = j
				return "", 0, d.syntax("invalid \\u escape")
			}
			j += 6
			if r >= 0xD800 && r < 0xDC00 && j+6 <= end && data[j] == '\\' && data[j+1] == 'u' {
				if r2 := d.hex4(j + 2); r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					j += 6
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				// Lone surrogate: keep it as WTF-8 bytes, which are
				// invalid UTF-8 and so take the invalid-UTF-8 path.
				surrogate = true
				buf = append(buf, byte(0xE0|r>>12), byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
			} else {
				buf = utf8.AppendRune(buf, r)
			}
			if len(buf) > d.maxField {
				return "", 0, d.fail("string longer than " + strconv.Itoa(d.maxField) + " bytes")
			}
			continue
		default:
			d.pos = j
			return "", 0, d.syntax("invalid escape")
		}
		j += 2
		if len(buf) > d.maxField {
			return "", 0, d.fail("string longer than " + strconv.Itoa(d.maxField) + " bytes")
		}
	}
	d.scratch = buf[:0]
	d.pos = end + 1
	if len(buf) > d.maxField {
		return "", 0, d.fail("string longer than " + strconv.Itoa(d.maxField) + " bytes")
	}
	if (nonASCII || surrogate) && !utf8.Valid(buf) {
		s, err := d.invalidUTF8(buf)
		return s, 0, err
	}
	return string(buf), 0, nil
}

func (d *decoder) invalidUTF8(raw []byte) (string, *FieldError) {
	if !d.escape {
		return "", d.fail("invalid UTF-8")
	}
	b := make([]byte, len(InvalidUTF8Prefix)+base64.StdEncoding.EncodedLen(len(raw)))
	copy(b, InvalidUTF8Prefix)
	base64.StdEncoding.Encode(b[len(InvalidUTF8Prefix):], raw)
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

func (d *decoder) parseNumber() (value, *FieldError) {
	data := d.data
	start := d.pos
	i := start
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		d.pos = i
		return value{}, d.syntax("invalid number")
	}
	simple := true
	if data[i] == '0' {
		i++
	} else if data[i] >= '1' && data[i] <= '9' {
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	} else {
		d.pos = i
		return value{}, d.syntax("invalid number")
	}
	if i < len(data) && data[i] == '.' {
		simple = false
		i++
		j := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return value{}, d.syntax("invalid number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		simple = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return value{}, d.syntax("invalid number")
		}
	}
	d.pos = i
	tok := unsafe.String(&data[start], i-start)
	if i-start > d.maxField {
		return value{}, d.fail("number longer than " + strconv.Itoa(d.maxField) + " bytes")
	}
	v, big := numberValue(tok, simple)
	if big {
		d.nBig++
	}
	return v, nil
}

// numberValue converts a JSON number token. A number that float64 holds
// exactly (as a decimal value) becomes a kNumber with its ES6 text; any
// other becomes a string of the token, flagged, and big is true.
func numberValue(tok string, simple bool) (value, bool) {
	digits := len(tok)
	if tok[0] == '-' {
		digits--
	}
	if simple && digits <= 15 {
		if tok == "-0" {
			tok = "0"
		}
		return value{kind: kNumber, s: tok}, false
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err == nil {
		if canon, err := jcs.NumberToJSON(f); err == nil && sameDecimal(tok, canon) {
			return value{kind: kNumber, s: canon}, false
		}
	}
	return value{kind: kString, s: tok, flag: flagBigNumber}, true
}

// decimal is a number's value as sign, significant digits and exponent:
// value = 0.digits × 10^exp.
type decimal struct {
	neg    bool
	digits [40]byte
	n      int
	exp    int
	over   bool // more than 40 significant digits
}

func parseDecimal(s string, out *decimal) {
	i := 0
	if i < len(s) && s[i] == '-' {
		out.neg = true
		i++
	}
	intDigits, leadingZeros := 0, 0
	seenPoint, leading := false, true
	zeros := 0 // zeros after the last non-zero digit, not yet written
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			seenPoint = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if !seenPoint {
			intDigits++
		}
		if c == '0' {
			if leading {
				leadingZeros++
			} else {
				zeros++
			}
			continue
		}
		leading = false
		for ; zeros > 0; zeros-- {
			out.push('0')
		}
		out.push(c)
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			if exp < 1e8 {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	out.exp = intDigits - leadingZeros + exp
}

func (d *decimal) push(c byte) {
	if d.n < len(d.digits) {
		d.digits[d.n] = c
		d.n++
	} else {
		d.over = true
	}
}

// sameDecimal reports whether two JSON number texts denote the same value.
func sameDecimal(a, b string) bool {
	var x, y decimal
	parseDecimal(a, &x)
	parseDecimal(b, &y)
	if x.over || y.over {
		return false
	}
	if x.n == 0 || y.n == 0 {
		return x.n == y.n
	}
	return x.neg == y.neg && x.exp == y.exp && x.digits == y.digits && x.n == y.n
}
