package ledger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
)

// Actions of the entries that the ledger itself writes.
const (
	ActionGenesis     = "ledger.genesis"
	ActionCheckpoint  = "ledger.checkpoint"
	ActionDamage      = "ledger.damage"
	ActionDamageAcked = "ledger.damage_acknowledged"
)

// CategoryLedger is the category of entries the ledger writes itself.
const CategoryLedger = "ledger"

// SourceKindLedger is the source.kind of the entries the ledger writes
// itself. The pipeline sets an event's source from where kt got it, never
// from input, so no other entry has it: kt verify tells the ledger's own
// entries by it, never by their action alone.
const SourceKindLedger = "ledger"

// TimeFormat is the fixed-precision RFC 3339 UTC form of every time in a
// body: microseconds, "Z".
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Genesis describes the ledger in its entry 0.
type Genesis struct {
	LedgerID    string // random, fixed for the life of the ledger
	Origin      string // checkpoint origin line
	VerifierKey string // public key, signed-note verifier format
	KeyID       string
	Version     string // kt version that created the ledger
}

// GenesisBody returns the canonical body of the ledger.genesis entry.
func GenesisBody(id string, now time.Time, g Genesis) ([]byte, error) {
	return internalBody(id, now, ActionGenesis, map[string]any{
		"ledger_id":    g.LedgerID,
		"origin":       g.Origin,
		"public_key":   g.VerifierKey,
		"key_id":       g.KeyID,
		"kt_version":   g.Version,
		"hash_formula": `SHA-256("kt/entry/v1\n" || u64be(seq) || prev_hash || JCS(body))`,
	})
}

// CheckpointBody returns the canonical body of a ledger.checkpoint entry
// that carries the signed checkpoint c. Such an entry at seq n carries a
// checkpoint of size n: the tree of every entry before it.
func CheckpointBody(id string, now time.Time, c *Checkpoint) ([]byte, error) {
	return internalBody(id, now, ActionCheckpoint, map[string]any{
		"origin":     c.Origin,
		"tree_size":  c.Size,
		"checkpoint": string(c.Note),
	})
}

// DamageReport is what a ledger.damage entry says about damaged storage
// that the agent found in its own ledger (see package queue).
type DamageReport struct {
	DamageID   string // the damage's id in the agent's damage register
	Segment    string // segment file name
	Offset     int64  // byte offset of the damage in it
	Bytes      int64
	Kind       string // "corrupt frame", "bad header", "skipped frames", "missing tail"
	Lost       uint64 // entries lost in it: seqs LostFirst..LostLast
	LostFirst  uint64
	LostLast   uint64
	IDsKnown   uint64 // lost entries whose event id is known (and stays reserved)
	IDsUnknown uint64 // lost entries whose event id is not known
	Quarantine string // the copy of the segment, relative to the ledger directory
}

// DamageBody returns the canonical body of the ledger.damage entry that
// reports d, found at found.
func DamageBody(id string, found time.Time, d DamageReport) ([]byte, error) {
	attrs := map[string]any{
		"damage_id":    d.DamageID,
		"segment":      d.Segment,
		"offset":       d.Offset,
		"bytes":        d.Bytes,
		"kind":         d.Kind,
		"lost_entries": d.Lost,
		"ids_known":    d.IDsKnown,
		"ids_unknown":  d.IDsUnknown,
	}
	if d.Lost > 0 {
		attrs["lost_first_seq"] = d.LostFirst
		attrs["lost_last_seq"] = d.LostLast
	}
	if d.Quarantine != "" {
		attrs["quarantine"] = d.Quarantine
	}
	return internalBody(id, found, ActionDamage, attrs)
}

// DamageAckBody returns the canonical body of the
// ledger.damage_acknowledged entry that records that by acknowledged the
// damage damageID at at.
func DamageAckBody(id string, at time.Time, damageID, by string) ([]byte, error) {
	return internalBody(id, at, ActionDamageAcked, map[string]any{
		"damage_id":       damageID,
		"acknowledged_by": by,
	})
}

func internalBody(id string, now time.Time, action string, attrs map[string]any) ([]byte, error) {
	ts := now.UTC().Format(TimeFormat)
	body := map[string]any{
		"id":          id,
		"time":        ts,
		"received_at": ts,
		"category":    CategoryLedger,
		"action":      action,
		"outcome":     "success",
		"actor":       map[string]any{"type": "system", "id": "kt", "name": "kt agent"},
		"source":      map[string]any{"kind": SourceKindLedger, "name": "kt"},
		"attributes":  attrs,
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s body: %w", action, err)
	}
	return jcs.Transform(raw)
}
