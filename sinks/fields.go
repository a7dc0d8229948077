package sinks

import (
	"bytes"
	"time"

	"github.com/keeptrusts/kt/ledger"
)

// topLevelString returns the raw (unescaped-as-is) text of the string
// member key of the JSON object line, looking at top-level members only;
// nil if there is none. Ledger lines are canonical JSON (no whitespace), so
// this is a walk over the members that skips nested values, far cheaper
// than decoding the line.
func topLevelString(line []byte, key string) []byte {
	if len(line) < 2 || line[0] != '{' {
		return nil
	}
	i := 1
	for i < len(line) {
		for i < len(line) && (line[i] == ',' || line[i] == ' ') {
			i++
		}
		if i >= len(line) || line[i] != '"' {
			return nil
		}
		kEnd := stringEnd(line, i)
		if kEnd < 0 || kEnd+1 >= len(line) || line[kEnd+1] != ':' {
			return nil
		}
		k := line[i+1 : kEnd]
		i = kEnd + 2
		vEnd := valueEnd(line, i)
		if vEnd < 0 {
			return nil
		}
		if string(k) == key {
			if line[i] == '"' {
				return line[i+1 : vEnd-1]
			}
			return nil
		}
		i = vEnd
	}
	return nil
}

// stringEnd returns the index of the quote that closes the string opening
// at b[i], or -1.
func stringEnd(b []byte, i int) int {
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

// valueEnd returns the index just after the JSON value starting at b[i],
// or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		e := stringEnd(b, i)
		if e < 0 {
			return -1
		}
		return e + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := stringEnd(b, j)
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
	default:
		j := bytes.IndexAny(b[i:], ",}")
		if j < 0 {
			return -1
		}
		return i + j
	}
}

func parseTime(b []byte) time.Time {
	if b == nil {
		return time.Time{}
	}
	t, err := time.Parse(ledger.TimeFormat, string(b))
	if err != nil {
		t, _ = time.Parse(time.RFC3339Nano, string(b))
	}
	return t
}

// eventTime returns the "time" of a ledger entry line (when the action
// happened), or zero.
func eventTime(line []byte) time.Time { return parseTime(topLevelString(line, "time")) }

// receivedAt returns the "received_at" of a ledger entry line (when kt took
// the event), or zero.
func receivedAt(line []byte) time.Time {
	return parseTime(topLevelString(line, "received_at"))
}

// OneObject reports whether line is framed as exactly one JSON object: it
// opens with '{' and the brace that closes it (outside strings) is its
// last byte. It is a cheap guard for Transports that embed lines verbatim
// (Record.Line always passes); it does not validate the JSON inside.
func OneObject(line []byte) bool {
	return len(line) >= 2 && line[0] == '{' && valueEnd(line, 0) == len(line)
}

// EachMember calls fn with the raw key (without quotes, escapes as in the
// line) and raw value of each top-level member of the JSON object line, in
// order, until fn returns false. It skips nested values without decoding
// them, so picking a few members of a large record is cheap. It stops at
// the first framing error.
func EachMember(line []byte, fn func(key, value []byte) bool) {
	if len(line) < 2 || line[0] != '{' {
		return
	}
	for i := 1; i < len(line); {
		for i < len(line) && (line[i] == ',' || line[i] == ' ') {
			i++
		}
		if i >= len(line) || line[i] != '"' {
			return
		}
		kEnd := stringEnd(line, i)
		if kEnd < 0 || kEnd+1 >= len(line) || line[kEnd+1] != ':' {
			return
		}
		vStart := kEnd + 2
		vEnd := valueEnd(line, vStart)
		if vEnd < 0 {
			return
		}
		if !fn(line[i+1:kEnd], line[vStart:vEnd]) {
			return
		}
		i = vEnd
	}
}
