package ledger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
)

// Actions of the entries that the ledger itself writes.
const (
	ActionGenesis    = "ledger.genesis"
	ActionCheckpoint = "ledger.checkpoint"
)

// CategoryLedger is the category of entries the ledger writes itself.
const CategoryLedger = "ledger"

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
		"source":      map[string]any{"kind": "ledger", "name": "kt"},
		"attributes":  attrs,
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s body: %w", action, err)
	}
	return jcs.Transform(raw)
}
