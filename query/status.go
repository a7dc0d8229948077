package query

import (
	"time"

	"github.com/keeptrusts/kt/queue"
)

// The JSON documents of GET /v1/status. `kt status` decodes them; the agent
// fills them in.

// Status is the document GET /v1/status serves and `kt status` prints.
type Status struct {
	Version string    `json:"version"`
	Time    time.Time `json:"time"`
	// Problems are what an operator must look at now: stalled sources,
	// sinks or ledger, and damage nobody acknowledged. `kt status` exits 1
	// while there is one; /readyz answers 503 naming them.
	Problems []Problem      `json:"problems"`
	Ledger   LedgerStatus   `json:"ledger"`
	Sinks    []SinkStatus   `json:"sinks"`
	Sources  []SourceStatus `json:"sources"`
	// Index is the query index, which follows the ledger like a sink (its
	// Name "query", Type "index"); nil without a query API.
	Index *SinkStatus `json:"index,omitempty"`
}

// LedgerStatus is the ledger part of Status.
type LedgerStatus struct {
	ID             string    `json:"id"`
	Entries        uint64    `json:"entries"`
	CheckpointSize int64     `json:"checkpoint_size"`
	LastCommit     time.Time `json:"last_commit,omitzero"`
	Commits        uint64    `json:"commits"`
	Duplicates     uint64    `json:"duplicates"`
	Pending        int       `json:"pending"` // events accepted by Submit, not yet durable
	// Damage is every damage found in the segments, acknowledged or not
	// (see docs/RELIABILITY.md, "Damage").
	Damage []queue.DamageRecord `json:"damage,omitempty"`
}

// SinkStatus is one sink's delivery state.
type SinkStatus struct {
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Next          uint64    `json:"next"`        // cursor: entries below it are delivered or parked
	LagEntries    uint64    `json:"lag_entries"` // entries not delivered yet
	LagSeconds    float64   `json:"lag_seconds"` // age of the oldest undelivered entry read so far
	Sent          uint64    `json:"sent"`
	Retried       uint64    `json:"retried"`
	Failed        uint64    `json:"failed"`
	DeadLettered  uint64    `json:"dead_lettered"`
	InFlight      int       `json:"in_flight"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	Stalled       bool      `json:"stalled"` // entries waiting and none delivered for health.stall_after
}

// SourceStatus is one source's intake, counted in events for every type.
type SourceStatus struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Accepted     uint64    `json:"accepted"`   // events that became new ledger entries
	Duplicates   uint64    `json:"duplicates"` // events already in the ledger (retries, re-reads)
	Refused      uint64    `json:"refused"`    // events refused: 400/409 (webhook), dead-lettered (file)
	Backlog      int64     `json:"backlog"`    // input waiting, in BacklogUnit
	BacklogUnit  string    `json:"backlog_unit"`
	LastProgress time.Time `json:"last_progress,omitzero"`
	Stalled      bool      `json:"stalled"` // input waiting and none taken in for health.stall_after
}

// Problem is one thing an operator must look at: a component that is
// stalled, or damage that nobody acknowledged. `kt status` exits 1 while
// there is one, /readyz answers 503 naming each, and the metric
// kt_problems says how many there are of each kind.
type Problem struct {
	Kind   string    `json:"kind"`   // "source", "sink", "ledger"
	Name   string    `json:"name"`   // the component's name ("" for the ledger)
	Reason string    `json:"reason"` // what is wrong, for a person
	Since  time.Time `json:"since,omitzero"`
}

// String renders "sink es: no progress for 3m0s with 1200 entries waiting".
func (p Problem) String() string {
	if p.Name == "" {
		return p.Kind + ": " + p.Reason
	}
	return p.Kind + " " + p.Name + ": " + p.Reason
}
