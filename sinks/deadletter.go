package sinks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keeptrusts/kt/internal/atomicfile"
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
// them again once the cause is fixed. The folder and the file are created
// durably (each new name fsync'd in its parent) before a line is written.
type deadLetters struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openDeadLetters(path string) (*deadLetters, error) {
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return &deadLetters{path: path}, nil
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

// write appends one parked record and fsyncs; the file is created (0600) on
// first use.
func (d *deadLetters) write(now time.Time, sink string, r Record, reason string) error {
	line, err := json.Marshal(deadLetter{
		Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Sink: sink, Seq: r.Seq, ID: r.ID,
		Kind: r.Kind.String(), Reason: reason, Record: json.RawMessage(r.Line),
	})
	if err != nil {
		// The record is not valid JSON (it always is): keep it as a string.
		line, err = json.Marshal(map[string]any{"time": now.UTC(), "sink": sink, "seq": r.Seq, "id": r.ID, "kind": r.Kind.String(), "reason": reason, "record_text": string(r.Line)})
		if err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		f, err := atomicfile.CreateDurable(d.path, os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		d.f = f
	}
	if _, err := d.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return d.f.Sync()
}

func (d *deadLetters) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
