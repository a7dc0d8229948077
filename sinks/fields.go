package sinks

import (
	"time"

	"github.com/keeptrusts/kt/event"
)

// receivedAt returns the "received_at" of a ledger entry line (when kt took
// the event), or zero.
func receivedAt(line []byte) time.Time { return event.ReceivedAtOf(line) }
