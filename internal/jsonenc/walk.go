package jsonenc

import "fmt"

// SyntaxError is a framing error found by the walker: what was expected,
// and the byte offset where it was not found.
type SyntaxError struct {
	Offset int    // byte offset in the text given to the walker
	Msg    string // what is wrong there
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonenc: %s at byte offset %d", e.Msg, e.Offset)
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// StringEnd returns the index of the quote that closes the string whose
// opening quote is b[i], or -1 if it is not closed.
func StringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// ValueEnd returns the index just after the JSON value that starts at
// b[i] (no whitespace before it), or -1 if its framing is broken: a string
// not closed, an object or array whose brackets do not balance, or no
// value at all. Strings inside are skipped whole, so brackets in them do
// not count; nothing else inside the value is checked.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		e := StringEnd(b, i)
		if e < 0 {
			return -1
		}
		return e + 1
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := StringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z':
		// A number or a literal: up to the next delimiter.
		j := i + 1
		for j < len(b) && isScalar(b[j]) {
			j++
		}
		return j
	default:
		return -1
	}
}

// isScalar reports whether c can stand inside a number or a literal.
func isScalar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '+' || c == '-'
}

// EachMember calls fn with the key (the raw text between its quotes,
// escapes as they stand) and the raw value of each member of the JSON
// object obj, in order, until fn returns false. Values are skipped by
// [ValueEnd], not decoded. obj may have whitespace around it and between
// its tokens, and nothing else after it. It returns a *SyntaxError for
// broken framing; the members before it have been passed to fn.
func EachMember(obj []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return &SyntaxError{i, "not a JSON object"}
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return trailing(obj, i+1)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return &SyntaxError{i, "want a member name"}
		}
		kEnd := StringEnd(obj, i)
		if kEnd < 0 {
			return &SyntaxError{i, "member name not closed"}
		}
		key := obj[i+1 : kEnd]
		i = skipSpace(obj, kEnd+1)
		if i >= len(obj) || obj[i] != ':' {
			return &SyntaxError{i, "want ':' after a member name"}
		}
		i = skipSpace(obj, i+1)
		vEnd := ValueEnd(obj, i)
		if vEnd < 0 {
			return &SyntaxError{i, "broken value"}
		}
		if !fn(key, obj[i:vEnd]) {
			return nil
		}
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
			continue
		}
		if i < len(obj) && obj[i] == '}' {
			return trailing(obj, i+1)
		}
		return &SyntaxError{i, "want ',' or '}' after a member"}
	}
}

// trailing checks that only whitespace follows the object that ends at i.
func trailing(b []byte, i int) error {
	if j := skipSpace(b, i); j < len(b) {
		return &SyntaxError{j, "text after the object"}
	}
	return nil
}

// OneObject reports whether line is framed as exactly one JSON object: it
// opens with '{' and the brace that closes it (outside strings) is its
// last byte. It is a cheap guard for code that embeds lines verbatim; it
// does not validate the JSON inside.
func OneObject(line []byte) bool {
	return len(line) >= 2 && line[0] == '{' && ValueEnd(line, 0) == len(line)
}

// TopLevelString returns the raw text (escapes as they stand) of the
// string member key of the JSON object line, looking at top-level members
// only; nil if there is none, or its value is not a string.
func TopLevelString(line []byte, key string) []byte {
	var out []byte
	_ = EachMember(line, func(k, v []byte) bool {
		if string(k) != key {
			return true
		}
		if v[0] == '"' {
			out = v[1 : len(v)-1]
		}
		return false
	})
	return out
}
