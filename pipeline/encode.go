package pipeline

import (
	"slices"
	"unicode/utf8"

	"github.com/keeptrusts/kt/internal/jsonenc"
)

// appendString appends s as an RFC 8785 JSON string; s must be valid
// UTF-8.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }

// appendPlain appends s, which needs no escaping, as a JSON string.
func appendPlain(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// SWAR constants: the byte b in every lane of a word (the decoder's
// string scan uses them).
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// plainPrefix returns the length of the longest prefix of s that needs no
// escaping in a JSON string.
func plainPrefix(s string) int { return jsonenc.PlainPrefix(s) }

// utf16Key returns the first UTF-16 code unit of r, and the second (or 0).
func utf16Units(r rune) (uint16, uint16) {
	if r < 0x10000 {
		return uint16(r), 0
	}
	r -= 0x10000
	return uint16(0xD800 + r>>10), uint16(0xDC00 + r&0x3FF)
}

// compareKeys orders member names by their UTF-16 code units (RFC 8785
// §3.2.3). UTF-8 byte order equals code point order, which differs from
// UTF-16 order only between supplementary characters and U+E000..U+FFFF,
// so only the first differing character needs decoding.
func compareKeys(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	if a[i] < 0x80 && b[i] < 0x80 {
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	a1, a2 := utf16Units(ra)
	b1, b2 := utf16Units(rb)
	if a1 != b1 {
		return int(a1) - int(b1)
	}
	return int(a2) - int(b2)
}

func cmpMember(x, y member) int { return compareKeys(x.key, y.key) }

// sortMembers sorts an object's members canonically (stable, so duplicate
// keys keep their input order). Objects are mostly small and sorted or
// nearly so: an insertion sort moves each member that is out of place
// once; a large unsorted object takes the library sort.
func sortMembers(kids []member) {
	for i := 1; i < len(kids); i++ {
		if compareKeys(kids[i-1].key, kids[i].key) <= 0 {
			continue
		}
		if len(kids) > 32 {
			slices.SortStableFunc(kids, cmpMember)
			return
		}
		m := kids[i]
		j := i - 1
		for j > 0 && compareKeys(kids[j-1].key, m.key) > 0 {
			j--
		}
		copy(kids[j+1:i+1], kids[j:i])
		kids[j] = m
	}
}

// appendValue appends the canonical JSON of v, sorting objects in place.
func appendValue(b []byte, v *value) []byte {
	switch v.kind {
	case kNull:
		return append(b, "null"...)
	case kFalse:
		return append(b, "false"...)
	case kTrue:
		return append(b, "true"...)
	case kNumber:
		return append(b, v.s...)
	case kString:
		if v.flag&flagPlain != 0 {
			return appendPlain(b, v.s)
		}
		return appendString(b, v.s)
	case kArray:
		b = append(b, '[')
		for i := range v.kids {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, &v.kids[i].v)
		}
		return append(b, ']')
	default:
		sortMembers(v.kids)
		b = append(b, '{')
		for i := range v.kids {
			if i > 0 {
				b = append(b, ',')
			}
			if v.kids[i].plain {
				b = appendPlain(b, v.kids[i].key)
			} else {
				b = appendString(b, v.kids[i].key)
			}
			b = append(b, ':')
			b = appendValue(b, &v.kids[i].v)
		}
		return append(b, '}')
	}
}
