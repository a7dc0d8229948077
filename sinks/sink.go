// Package sinks holds what every sink shares. A sink reads the ledger
// through its own persisted cursor (the ledger is the buffer), so a slow or
// dead sink never holds back the sources or the other sinks, and delivers
// every entry plus the signed checkpoints that cover them, at least once.
// One subpackage per sink: sinks/file, ...
package sinks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/keeptrusts/kt/ledger"
)

// Sink is a running sink.
//
// Run is called once by the agent, in its own goroutine, after the ledger is
// open. It delivers ledger entries from its cursor on, and returns nil when
// ctx is done and it has stopped cleanly, or an error it cannot go on from.
// Close releases resources; it may be called twice.
type Sink interface {
	Name() string
	Run(ctx context.Context) error
	Close() error
}

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
