// Package sinks delivers the ledger to the places that keep a copy of it.
// A sink reads the ledger through its own persisted cursor (the ledger is
// the buffer), so a slow or dead sink never holds back the sources or the
// other sinks, and delivers every entry plus the signed checkpoints that
// cover them, at least once.
//
// Every sink is an Engine (engine.go) driving a Transport: the Engine reads
// the ledger, cuts batches, retries, parks refused records in the sink's
// dead-letter file and moves the cursor; a Transport only delivers one
// batch and says, with the error classes of sink.go, what became of it. One
// subpackage per transport: sinks/file, sinks/splunkhec,
// sinks/elasticsearch. A sink type is registered as a Plugin (plugin.go);
// sinks/sinktest is the conformance suite every transport runs.
//
// This file is the contract between the three parties: the agent, which
// drives a Sink; the Engine; and a Transport.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keeptrusts/kt/queue"
)

// Sink is a running sink as the agent drives it: an *Engine, which every
// sink type runs on. The agent holds the *Engine (NewEngine) and calls:
//
//   - Run, in a goroutine of its own, after the ledger is open. It
//     delivers from the cursor on until ctx is done, then lets the batches
//     in flight finish (bounded by the sink's timeout, at most 10 s) and
//     returns nil; or it returns an error it cannot go on from (the
//     dead-letter file or the cursor cannot be written, the ledger cannot
//     be read), and the agent calls Run again after a backoff. Nothing is
//     lost either way: the cursor says where delivery resumes.
//   - Engine.Drain(ctx), at shutdown, after Run returned and the ledger's
//     final checkpoint was committed (the ledger may be closed). It
//     delivers everything committed, then returns nil; ctx bounds it
//     (Delivery.DrainTimeout says how long the sink needs: 5 s for a remote
//     sink, 30 s for the file sink), and what is left when ctx is done goes
//     at the next start. Run and Drain are never called at the same time.
//   - Engine.Stats, at any time from any goroutine: the figures of
//     /metrics and `kt status`.
//   - Close, once Run and Drain returned: it releases the transport and the
//     dead-letter file. It may be called twice; the second call does
//     nothing and returns nil.
type Sink interface {
	Name() string // the block's second label
	Type() string // the block's first label
	Run(ctx context.Context) error
	Drain(ctx context.Context) error
	DrainTimeout() time.Duration
	Next() uint64 // the cursor: entries below it are delivered or parked
	Stats() Stats
	Close() error
}

var _ Sink = (*Engine)(nil)

// Kind says what a Record carries.
type Kind uint8

const (
	// KindEntry is a ledger entry with its ledger fields.
	KindEntry Kind = iota
	// KindCheckpoint is a signed checkpoint record covering the entries
	// before it (see CheckpointRecord).
	KindCheckpoint
	// KindHeartbeat is the record an idle sink sends every
	// heartbeat_interval (see HeartbeatRecord).
	KindHeartbeat
)

// String names the kind as the "record" field of checkpoint and heartbeat
// lines does ("entry" for entries).
func (k Kind) String() string {
	switch k {
	case KindEntry:
		return "entry"
	case KindCheckpoint:
		return "checkpoint"
	case KindHeartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Record is one record a sink delivers. Records come in ledger order: the
// entries of a batch by seq, then the checkpoint record that covers them;
// a heartbeat alone.
type Record struct {
	Kind Kind
	// Seq is an entry's ledger seq; for a checkpoint or heartbeat, the
	// tree size it signs (the seq of the next entry).
	Seq uint64
	// ID is the idempotency key: an entry's event id; for a checkpoint
	// "kt-checkpoint-<ledger id>-<size>", for a heartbeat
	// "kt-heartbeat-<ledger id>-<unix nanoseconds>". A record sent again
	// carries the same ID.
	ID string
	// Time is when a checkpoint or heartbeat record was made. The Engine
	// leaves it zero for an entry: the time of the action is the entry's
	// "time" member, which EventTime reads for a transport that needs it
	// (a walk over the line that a transport which only copies lines
	// should not pay).
	Time time.Time
	// Line is the NDJSON line (no newline): the entry with its ledger
	// fields (seq, prev_hash, hash, sig, key_id) as `kt verify` reads it, or
	// the checkpoint or heartbeat record. It is always exactly one JSON
	// object with no surrounding space (kt wrote it: the ledger's canonical
	// line, or a record marshalled by this package), so a Transport may
	// embed it verbatim without checking it again. A Transport must not
	// modify it, nor keep it after Send returns.
	Line []byte
}

// Transport is what a sink type implements: it delivers one batch in one
// request (or one request plus what it needs to confirm it, such as
// Splunk's indexer acknowledgement). The Engine does the batching,
// retries, backoff, parking and cursor; a Transport never retries nor
// parks on its own.
//
// Send delivers recs, in order, and returns:
//
//   - nil when the receiver accepted every record;
//   - ItemErrors when it accepted every record but those listed (a bulk
//     answer with failed items): the Engine parks the Permanent ones and
//     sends the others again, alone;
//   - an error marked Permanent when the receiver refused the request for
//     good without saying which record is at fault (an HTTP 400 or 413):
//     the Engine splits the batch in halves until the refused records are
//     found, and parks each one;
//   - any other error when none can be taken as accepted (network, 5xx,
//     401/403, a timeout): the Engine sends the same records again after
//     its backoff, never sooner than a RetryAfter hint.
//
// A Send may be retried with the same records: receivers dedupe on
// Record.ID. Up to Delivery.InFlight Sends run at once, from different
// goroutines (one at a time for a CursorState transport). ctx bounds the
// request (Delivery.Timeout); when it is done, Send returns its error
// (wrapped) and nothing is taken as delivered.
//
// Close releases the transport's resources; the Engine calls it once no
// Send is running. It may be called twice; a Send after Close returns an
// error.
type Transport interface {
	Send(ctx context.Context, recs []Record) error
	Close() error
}

// CursorState is implemented by a Transport whose receiver is state the
// cursor must agree with, such as a local file: at a restart the receiver
// is brought back to what the stored cursor says was delivered, so that no
// record is skipped or written twice. The Engine then stores, with every
// cursor move, the transport's aux value (queue.Cursor.Aux), and sends one
// batch at a time to it (in_flight 1), so each stored value is the
// receiver's state right after the batch before the cursor.
//
// Resume is called once, by NewEngine, before any Send, with the stored
// cursor (ok false when none is stored). It brings the receiver back to
// cur (for a file: cuts what was written after cur.Aux) and returns the
// seq delivery resumes from, which is cur.Next unless the receiver shows
// better (a cursor of an older version that kept no aux). An error stops
// the sink from starting.
//
// CursorAux is called by the Engine right after each Send that returned
// nil, in the goroutine that called Send; its value is stored with the
// cursor that follows that batch (also after a heartbeat, which moves no
// cursor but changes the receiver).
type CursorState interface {
	Transport
	Resume(cur queue.Cursor, ok bool) (next uint64, err error)
	CursorAux() uint64
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a refusal that retrying the same records cannot
// fix, such as an HTTP 400 for a malformed record. A batch refused for good
// is split in halves until the refused records are found; each is parked in
// the sink's dead-letter file. Authentication and authorization failures
// are not permanent: an operator fixes the credentials and nothing is lost.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the receiver's hint for when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than after (an HTTP 429 or
// 503 with Retry-After). The Engine waits the longer of after (up to 10
// minutes) and its own backoff. It may wrap ItemErrors, for a bulk answer
// whose failed items all say "too many requests".
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err, after}
}

// RetryAfterHint returns the wait err asks for, or 0.
func RetryAfterHint(err error) time.Duration {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

// ItemError is the failure of one record of a batch.
type ItemError struct {
	Index int   // into the recs passed to Send
	Err   error // Permanent, or retryable
}

// ItemErrors is returned by Send when the receiver took every record of
// the batch except those listed (a bulk response with failed items). The
// Engine retries only the retryable ones and parks the permanent ones.
type ItemErrors []ItemError

func (e ItemErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records refused", len(e))
	for i, ie := range e {
		if i == 3 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; record %d: %v", ie.Index, ie.Err)
	}
	return b.String()
}
