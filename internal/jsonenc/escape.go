// Package jsonenc works on JSON text at the byte level, for the two things
// kt does to JSON on its hot paths without a decoder: writing a string in
// its RFC 8785 form ([AppendString]) and walking the members of an object
// line without decoding the values it skips ([EachMember], [ValueEnd]).
//
// # Strings
//
// RFC 8785 (JCS) §3.2.2.2 writes a string with only '"', '\\' and the
// control characters U+0000..U+001F escaped: \" \\ and the short forms \b
// \t \n \f \r, any other control character as \u00xx with lower-case hex
// digits. Every other character, '/', '<', '>', '&', DEL, U+2028 and
// U+2029 included, is written as its UTF-8 bytes. encoding/json writes the
// same text for valid UTF-8 except that it escapes U+2028 and U+2029 (and,
// unless told otherwise, '<', '>' and '&'); FuzzAppendString checks both
// against this package.
//
// # Walking
//
// The walker reads the framing of JSON text: where a string, an object or
// an array ends, and which members an object has. It does not validate the
// values it skips (the spelling of a number or a literal, the structure
// inside a nested value): it is for lines kt wrote, which are canonical
// JSON already, where picking a few members of a 1 KB line by a walk costs
// a fraction of a decode. Whitespace between tokens is allowed, so a line
// that a SIEM re-serialized reads too.
package jsonenc

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as an RFC 8785 JSON string: only '"',
// '\\' and control characters are escaped, with the short form where JSON
// has one (\b \t \n \f \r), else \u00xx in lower case. s must be valid
// UTF-8: a byte that is not is copied as it is (see [AppendAnyString]).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for {
		n := PlainPrefix(s)
		dst = append(dst, s[:n]...)
		if n == len(s) {
			return append(dst, '"')
		}
		dst = appendEscape(dst, s[n])
		s = s[n+1:]
	}
}

// AppendBytes appends b to dst as [AppendString] does; b must be valid
// UTF-8. It neither keeps nor changes b.
func AppendBytes(dst, b []byte) []byte {
	return AppendString(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}

// appendEscape appends the escape of c, which is '"', '\\' or a control
// character.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
	}
}

// AppendAnyString appends s to dst as [AppendString] does, whatever bytes
// s holds: each byte that is not part of valid UTF-8 is written as
// \ufffd (U+FFFD, as encoding/json does), so the output is always JSON in
// valid UTF-8. It is for strings kt did not check, such as configuration
// values and record ids put into a request.
func AppendAnyString(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return AppendString(dst, s)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// SWAR constants: the byte b in every lane of a word.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// PlainPrefix returns the length of the longest prefix of s that needs no
// escaping in a JSON string (no '"', '\\' or control character), looking
// at eight bytes at a time. PlainPrefix(s) == len(s) means s is written
// as it is between quotes.
func PlainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		// A lane is flagged iff it is < 0x20, '"' or '\\' (exact for
		// "any lane", which is all that is used).
		q := x ^ ('"' * lanes01)
		bs := x ^ ('\\' * lanes01)
		if ((x-0x20*lanes01)|(q-lanes01)|(bs-lanes01))&^x&lanes80 != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return i
		}
	}
	return i
}
