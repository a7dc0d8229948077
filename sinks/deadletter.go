package sinks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keeptrusts/kt/internal/deadletter"
)

// deadLetters is a sink's dead-letter file: one JSON object per line for
// each record the receiver refused for good, written and fsync'd before
// the cursor passes the record:
//
//	{"time":"2026-03-01T10:00:00.000Z","sink":"splunk_hec.soc","seq":42,"id":"evt_…","kind":"entry","reason":"…","record":{…}}
//
// "record" is the record as it was sent: a ledger entry with its ledger
// fields (already redacted by the pipeline), or a checkpoint or heartbeat
// record. `kt verify` can check the entries in it; an operator can send
// them again once the cause is fixed. The file is appended by the shared
// writer (internal/deadletter): the folder (0700) and the file (0600) are
// created durably at the first record, and a line a crash cut short is
// kept, the next record starting on a line of its own.
type deadLetters struct{ w *deadletter.Writer }

func openDeadLetters(path string) *deadLetters {
	return &deadLetters{w: deadletter.New(path)}
}

type deadLetter struct {
	Time   string          `json:"time"`
	Sink   string          `json:"sink"`
	Seq    uint64          `json:"seq"`
	ID     string          `json:"id"`
	Kind   string          `json:"kind"`
	Reason string          `json:"reason"`
	Record json.RawMessage `json:"record"`
}

// write appends one parked record and fsyncs.
func (d *deadLetters) write(now time.Time, sink string, r Record, reason string) error {
	line, err := json.Marshal(deadLetter{
		Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Sink: sink, Seq: r.Seq, ID: r.ID,
		Kind: r.Kind.String(), Reason: reason, Record: json.RawMessage(r.Line),
	})
	if err != nil {
		// The record is not valid JSON (it always is): keep it as a string.
		line, err = json.Marshal(map[string]any{"time": now.UTC(), "sink": sink, "seq": r.Seq, "id": r.ID, "kind": r.Kind.String(), "reason": reason, "record_text": string(r.Line)})
		if err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
	}
	return d.w.Append(append(line, '\n'))
}

func (d *deadLetters) close() error { return d.w.Close() }
