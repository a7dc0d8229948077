package pipeline

import (
	"encoding/base64"
	"encoding/binary"
	"math/bits"
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

// Flags of a value.
const (
	// flagBigNumber marks a string that was a JSON number which does not
	// round-trip through float64.
	flagBigNumber = 1 << iota
	// flagPlain marks a string that needs no escaping in JSON (it holds no
	// '"', '\\' or control character), so the encoder copies it as it is.
	flagPlain
)

// value is one node of the ordered tree the decoder builds.
type value struct {
	kind kind
	flag uint8
	s    string
	kids []member
}

// member is an object member or an array element.
type member struct {
	key   string
	dup   bool // a later occurrence of a key already in the object
	plain bool // key needs no escaping (see flagPlain)
	v     value
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

// plainStr is str for a string known to need no escaping.
func plainStr(s string) value { return value{kind: kString, s: s, flag: flagPlain} }

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
//
// The members of all the objects and arrays at one depth are appended to
// that depth's level, in input order; only one container per depth is open
// at a time, so a container's kids are one contiguous run of its level and
// are never copied, and a value is parsed straight into its member. The
// path of an error is read off the open levels.
type decoder struct {
	data     []byte
	pos      int
	maxDepth int
	maxField int
	escape   bool
	base     int     // depth the document is placed at
	depth    int     // depth of the innermost open container
	levels   []level // by depth
	nBig     int
	nDup     int
	scratch  []byte
}

// level is the members of the containers at one depth, and the state of
// the open one.
type level struct {
	m       []member
	start   int  // the open container's first member
	array   bool // the open container is an array
	inValue bool // the open container's last member's value is being parsed
}

// path returns the path of the value being parsed.
func (d *decoder) path() []seg {
	var p []seg
	for k := d.base + 1; k <= d.depth && k < len(d.levels); k++ {
		lv := &d.levels[k]
		if !lv.inValue {
			break
		}
		i := len(lv.m) - 1
		if lv.array {
			p = append(p, seg{idx: i - lv.start})
		} else {
			p = append(p, seg{key: lv.m[i].key, idx: -1})
		}
	}
	return p
}

func (d *decoder) fail(reason string) *FieldError {
	return &FieldError{Field: renderPath(d.path()), Reason: reason}
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
	d.base, d.depth = base, base
	d.skipWS()
	if d.pos >= len(d.data) {
		return value{}, d.syntax("empty input")
	}
	var v value
	if err := d.parseValue(base, &v); err != nil {
		return value{}, err
	}
	d.skipWS()
	if d.pos < len(d.data) {
		return value{}, d.syntax("unexpected data after the JSON value")
	}
	return v, nil
}

// parseValue parses the value at d.pos into *out, which is zero; depth is
// the depth of the container holding it.
func (d *decoder) parseValue(depth int, out *value) *FieldError {
	if d.pos >= len(d.data) {
		return d.syntax("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.parseObject(depth+1, out)
	case c == '[':
		return d.parseArray(depth+1, out)
	case c == '"':
		s, flag, err := d.parseString()
		out.kind, out.s, out.flag = kString, s, flag
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return d.parseNumber(out)
	case c == 't':
		return d.literal("true", kTrue, out)
	case c == 'f':
		return d.literal("false", kFalse, out)
	case c == 'n':
		return d.literal("null", kNull, out)
	default:
		return d.syntax("invalid character")
	}
}

func (d *decoder) literal(lit string, k kind, out *value) *FieldError {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		out.kind = k
		return nil
	}
	return d.syntax("invalid literal")
}

func (d *decoder) tooDeep(depth int) *FieldError {
	if depth > d.maxDepth {
		return d.fail("nested deeper than " + strconv.Itoa(d.maxDepth) + " levels")
	}
	return nil
}

// open starts a container at depth and returns where its members begin.
func (d *decoder) open(depth int, array bool) int {
	for len(d.levels) <= depth {
		d.levels = append(d.levels, level{})
	}
	lv := &d.levels[depth]
	lv.start, lv.array, lv.inValue = len(lv.m), array, false
	d.depth = depth
	return lv.start
}

// close ends the container at depth and returns its kids, capacity equal
// to length so that an append to them never writes into a neighbour.
func (d *decoder) close(depth int) []member {
	lv := &d.levels[depth]
	d.depth = depth - 1
	return lv.m[lv.start:len(lv.m):len(lv.m)]
}

func (d *decoder) parseObject(depth int, out *value) *FieldError {
	if err := d.tooDeep(depth); err != nil {
		return err
	}
	d.pos++ // '{'
	out.kind = kObject
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return nil
	}
	var seen map[string]struct{}
	// While the names come in strictly increasing byte order (as from
	// most encoders), none can repeat an earlier one: no search.
	ordered := true
	base := d.open(depth, false)
	for {
		d.skipWS()
		if d.pos >= len(d.data) {
			return d.syntax("unexpected end of input")
		}
		if d.data[d.pos] != '"' {
			return d.syntax("expected a member name")
		}
		key, kflag, err := d.parseString()
		if err != nil {
			return err
		}
		d.skipWS()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			if d.pos >= len(d.data) {
				return d.syntax("unexpected end of input")
			}
			return d.syntax("expected ':'")
		}
		d.pos++
		d.skipWS()
		lv := &d.levels[depth]
		if ordered && len(lv.m) > base && lv.m[len(lv.m)-1].key >= key {
			ordered = false
		}
		dup := false
		if ordered {
			// a new name
		} else if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			open := lv.m[base:]
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
		lv.m = append(lv.m, member{key: key, dup: dup, plain: kflag == flagPlain})
		lv.inValue = true
		// Deeper containers use deeper levels only: this member stays put.
		if err := d.parseValue(depth, &lv.m[len(lv.m)-1].v); err != nil {
			return err
		}
		d.levels[depth].inValue = false
		d.skipWS()
		if d.pos >= len(d.data) {
			return d.syntax("unexpected end of input")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			out.kids = d.close(depth)
			return nil
		default:
			return d.syntax("expected ',' or '}'")
		}
	}
}

func (d *decoder) parseArray(depth int, out *value) *FieldError {
	if err := d.tooDeep(depth); err != nil {
		return err
	}
	d.pos++ // '['
	out.kind = kArray
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return nil
	}
	d.open(depth, true)
	for {
		d.skipWS()
		lv := &d.levels[depth]
		lv.m = append(lv.m, member{})
		lv.inValue = true
		if err := d.parseValue(depth, &lv.m[len(lv.m)-1].v); err != nil {
			return err
		}
		d.levels[depth].inValue = false
		d.skipWS()
		if d.pos >= len(d.data) {
			return d.syntax("unexpected end of input")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			out.kids = d.close(depth)
			return nil
		default:
			return d.syntax("expected ',' or ']'")
		}
	}
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
// flagPlain for a string without escapes, which therefore holds no '"',
// '\\' or control character, else 0.
func (d *decoder) parseString() (string, uint8, *FieldError) {
	start := d.pos + 1
	i := start
	data := d.data
	// Fast path: eight bytes at a time up to the first '"', '\\' or
	// control character, noting any non-ASCII byte.
	var high uint64
	for i+8 <= len(data) {
		x := binary.LittleEndian.Uint64(data[i:])
		q := x ^ ('"' * lanes01)
		bs := x ^ ('\\' * lanes01)
		if hit := ((x - 0x20*lanes01) | (q - lanes01) | (bs - lanes01)) &^ x & lanes80; hit != 0 {
			// The lowest flagged lane is a real match (a borrow only
			// flags lanes above one): skip the lanes before it.
			n := bits.TrailingZeros64(hit) / 8
			high |= x & (1<<(8*n) - 1)
			i += n
			break
		}
		high |= x
		i += 8
	}
	escaped, nonASCII := false, high&lanes80 != 0
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
		return unsafe.String(unsafe.SliceData(raw), len(raw)), flagPlain, nil
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
	var s string
	var err *FieldError
	if (nonASCII || surrogate) && !utf8.Valid(buf) {
		s, err = d.invalidUTF8(buf)
	} else {
		s = string(buf)
	}
	clear(buf) // scratch is pooled: keep no record data in it
	return s, 0, err
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

func (d *decoder) parseNumber(out *value) *FieldError {
	data := d.data
	start := d.pos
	i := start
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		d.pos = i
		return d.syntax("invalid number")
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
		return d.syntax("invalid number")
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
			return d.syntax("invalid number")
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
			return d.syntax("invalid number")
		}
	}
	d.pos = i
	tok := unsafe.String(&data[start], i-start)
	if i-start > d.maxField {
		return d.fail("number longer than " + strconv.Itoa(d.maxField) + " bytes")
	}
	v, big := numberValue(tok, simple)
	if big {
		d.nBig++
	}
	*out = v
	return nil
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
