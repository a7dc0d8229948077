package sinks

import (
	"time"

	"github.com/keeptrusts/kt/event"
	"github.com/keeptrusts/kt/internal/jsonenc"
)

// The line helpers of the sinks: thin names over package event and
// internal/jsonenc, which read ledger lines for every package.

// topLevelString returns the raw text of the string member key of the
// JSON object line, looking at top-level members only; nil if there is
// none (jsonenc.TopLevelString).
func topLevelString(line []byte, key string) []byte { return jsonenc.TopLevelString(line, key) }

// receivedAt returns the "received_at" of a ledger entry line (when kt took
// the event), or zero.
func receivedAt(line []byte) time.Time { return event.ReceivedAtOf(line) }

// OneObject reports whether line is framed as exactly one JSON object: it
// opens with '{' and the brace that closes it (outside strings) is its
// last byte. It is a cheap guard for Transports that embed lines verbatim
// (Record.Line always passes); it does not validate the JSON inside.
func OneObject(line []byte) bool { return jsonenc.OneObject(line) }

// EachMember calls fn with the raw key (without quotes, escapes as in the
// line) and raw value of each top-level member of the JSON object line, in
// order, until fn returns false. It skips nested values without decoding
// them, so picking a few members of a large record is cheap. It stops at
// the first framing error. To read an entry's fields, use event.Parse.
func EachMember(line []byte, fn func(key, value []byte) bool) {
	_ = jsonenc.EachMember(line, fn)
}
