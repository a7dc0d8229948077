package sinks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keeptrusts/kt/event"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

// The records a sink adds to the ledger's entries. Both are NDJSON lines
// that `kt verify` reads next to the entries.

// CheckpointRecord is the NDJSON line that ships a signed checkpoint next to
// the entries it covers, so every copy of the ledger carries its anchors:
//
//	{"record":"checkpoint","size":N,"root":"<base64>","checkpoint":"<signed note>"}
func CheckpointRecord(c *ledger.Checkpoint) []byte {
	b, _ := json.Marshal(struct {
		Record     string `json:"record"`
		Size       int64  `json:"size"`
		Root       string `json:"root"`
		Checkpoint string `json:"checkpoint"`
	}{"checkpoint", c.Size, base64.StdEncoding.EncodeToString(c.Root[:]), string(c.Note)})
	return b
}

// HeartbeatRecord is the line an idle sink ships every heartbeat interval so
// that a SIEM can alert on a silent agent; it repeats the latest checkpoint:
//
//	{"record":"heartbeat","time":"...","size":N,"checkpoint":"<signed note>"}
func HeartbeatRecord(now time.Time, c *ledger.Checkpoint) []byte {
	b, _ := json.Marshal(struct {
		Record     string `json:"record"`
		Time       string `json:"time"`
		Size       int64  `json:"size"`
		Checkpoint string `json:"checkpoint"`
	}{"heartbeat", now.UTC().Format(ledger.TimeFormat), c.Size, string(c.Note)})
	return b
}

// entryRecord makes the Record of a ledger entry; Line is filled by seal.
func entryRecord(rec queue.Item) Record {
	return Record{Kind: KindEntry, Seq: rec.Seq, ID: string(rec.ID)}
}

// EventTime returns when r happened: Time when it is set (a checkpoint or
// heartbeat record), else for an entry the "time" member of its line (when
// the action happened; the top-level member, not one inside changes).
// Zero if there is none or it is not an RFC 3339 time.
func (r Record) EventTime() time.Time {
	if r.Time.IsZero() && r.Kind == KindEntry {
		return event.TimeOf(r.Line)
	}
	return r.Time
}

// checkpointRecord makes the Record of the checkpoint record of c.
func checkpointRecord(ledgerID string, c *ledger.Checkpoint, now time.Time) Record {
	return Record{Kind: KindCheckpoint, Seq: uint64(c.Size), ID: fmt.Sprintf("kt-checkpoint-%s-%d", ledgerID, c.Size), Time: now, Line: CheckpointRecord(c)}
}

// heartbeatRecord makes the Record of a heartbeat repeating c.
func heartbeatRecord(ledgerID string, c *ledger.Checkpoint, now time.Time) Record {
	return Record{Kind: KindHeartbeat, Seq: uint64(c.Size), ID: fmt.Sprintf("kt-heartbeat-%s-%d", ledgerID, now.UnixNano()), Time: now, Line: HeartbeatRecord(now, c)}
}
