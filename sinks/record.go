package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

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

// Record is one record a sink delivers. Records come in ledger order.
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
	// Time is when the record was made: for an entry, its "time" field
	// (when the action happened); else when the checkpoint or heartbeat
	// was made. Zero if it cannot be read.
	Time time.Time
	// Line is the NDJSON line (no newline): the entry with its ledger
	// fields (seq, prev_hash, hash, sig, key_id) as `kt verify` reads it, or
	// the checkpoint or heartbeat record. It is always exactly one JSON
	// object with no surrounding space (kt wrote it: the ledger's canonical
	// line, or a record marshalled by this package), so a Transport may
	// embed it verbatim without checking it again. A Transport must not
	// modify it.
	Line []byte
}

// Transport is what a sink plugin implements: it delivers one batch in one
// request (or one request plus what it needs to confirm it, such as
// Splunk's indexer acknowledgement). The Engine does the batching,
// retries, backoff, parking and cursor.
type Transport interface {
	// Send delivers recs, in order. It returns nil when every record was
	// accepted; ItemErrors when the receiver accepted all records but the
	// ones listed; any other error when none can be taken as accepted:
	// retryable unless Permanent. A Send may be retried with the same
	// records: receivers dedupe on Record.ID. Several Sends may run at once
	// (in_flight).
	Send(ctx context.Context, recs []Record) error
	// Close releases the transport's resources.
	Close() error
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
