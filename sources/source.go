// Package sources defines how outside input enters kt: a Source turns bytes
// from somewhere (HTTP requests, files) into raw records and hands them to an
// Emitter, which normalizes them and makes them durable ledger entries.
// Plugins live in subpackages: sources/webhook, and sources/tail (the "file" source).
package sources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keeptrusts/kt/pipeline"
)

// Raw is one record as a source read it: the bytes of one JSON value.
type Raw struct {
	Data       []byte
	Source     pipeline.Source
	FallbackID string // event id to use when the record has none ("" = generate)
	Line       int    // 1-based line (or array element) in the request or file, for errors
}

// Result tells what a successful Emit made durable.
type Result struct {
	Accepted   int    // new ledger entries
	Duplicates int    // records whose event id was already in the ledger
	FirstSeq   uint64 // seq range of the new entries; valid when Accepted > 0
	LastSeq    uint64
}

// Emitter normalizes, redacts and appends a batch of raw records to the
// ledger, all or nothing: it returns only once the entries are durable and
// covered by a signed checkpoint, so a source may acknowledge them then.
// Safe for concurrent use; ctx bounds the wait.
//
// Errors: *RecordErrors when some records can never be accepted (nothing of
// the batch was written; the records are refused for good, never retried);
// ErrBusy when the ledger cannot take more now (retry later; nothing was
// written); ErrUnavailable when the ledger is closed or broken (retry after
// kt restarts); *ConflictError when an event id is already in the ledger
// with other content; anything else is an internal failure.
type Emitter interface {
	Emit(ctx context.Context, batch []Raw) (Result, error)
}

// Submitter is an Emitter that can take a source's next batch before the
// one before it is durable. Submit normalizes batch and hands it to the
// ledger; batches submitted by one goroutine get their ledger order in
// submission order. It returns the errors Emit returns before anything is
// written (*RecordErrors, ErrBusy, internal failures); wait returns when
// the batch is durable, with Emit's result and its remaining errors
// (*ConflictError, internal failures). A source that pipelines this way
// moves its position only after wait returned nil.
type Submitter interface {
	Submit(batch []Raw) (wait func(context.Context) (Result, error), err error)
}

// ErrBusy means the ledger cannot take more records now; nothing was written.
var ErrBusy = errors.New("sources: ledger busy, retry later")

// ErrUnavailable means the ledger is closed (kt is stopping) or broken (kt
// exits so that a restart recovers it): nothing was acknowledged, and the
// same records succeed once kt is back.
var ErrUnavailable = errors.New("sources: ledger closed or broken, retry after kt restarts")

// RecordError is why one record of a batch was refused.
type RecordError struct {
	Index int    // 0-based position in the batch
	Line  int    // Raw.Line
	Field string // the offending field, "" when the record as a whole is bad
	Err   error
}

// Error implements error.
func (e RecordError) Error() string {
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// RecordErrors lists every refused record of a batch.
type RecordErrors []RecordError

// Error implements error.
func (e RecordErrors) Error() string {
	var b strings.Builder
	for i, r := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 5 {
			fmt.Fprintf(&b, "and %d more", len(e)-5)
			break
		}
		b.WriteString(r.Error())
	}
	return b.String()
}

// ConflictError reports an event id that the ledger already holds with other
// content (a producer reused an id for a different event), or that an
// earlier record of the same batch carries with other content.
type ConflictError struct {
	Line int
	ID   string
	Seq  uint64 // the entry that holds the id; valid when EarlierLine is 0
	// EarlierLine is the line of the earlier record of the same batch that
	// has this id with other content; 0 when the conflict is with the
	// ledger.
	EarlierLine int
	// Lost is set when the entry at Seq was lost in damaged storage: its
	// id stays reserved, so that no other event can take its place.
	Lost bool
}

// Error implements error.
func (e *ConflictError) Error() string {
	switch {
	case e.EarlierLine > 0:
		return fmt.Sprintf("line %d: event id %q is also on line %d of the same batch, with other content", e.Line, e.ID, e.EarlierLine)
	case e.Lost:
		return fmt.Sprintf("line %d: event id %q belongs to the entry at seq %d, lost in damaged storage, which had other content; the id stays reserved", e.Line, e.ID, e.Seq)
	}
	return fmt.Sprintf("line %d: event id %q is already in the ledger at seq %d with other content", e.Line, e.ID, e.Seq)
}

// Stats is what a source reports of its intake, in events (not requests
// or bytes), for `kt status`, /readyz and metrics. Every source counts the
// same way, so the figures of a webhook and of a file source compare.
type Stats struct {
	Accepted   uint64 // records that became new ledger entries
	Duplicates uint64 // records whose event id was already in the ledger (retries, re-reads)
	Refused    uint64 // records refused: answered 400/409 (webhook) or dead-lettered (file)
	// Backlog is the input that waits to be taken in: unread bytes of the
	// followed files (file source), or requests being handled (webhook).
	// Zero when the source is idle.
	Backlog int64
	// BacklogUnit says what Backlog counts: "bytes", "requests".
	BacklogUnit string
	// LastProgress is the last time a record became durable or was
	// refused; zero before the first. A source with a Backlog that has
	// made no progress for longer than the agent's stall timeout is
	// reported as stalled.
	LastProgress time.Time
}

// StatsReporter is implemented by every source.
type StatsReporter interface {
	Stats() Stats
}

// Redactor is implemented by an Emitter that can redact a refused record
// before a source keeps its text (in a dead-letter file, say) with the same
// rules as the pipeline, cheaply: RedactRaw never fails, whatever data is
// (JSON or not), and returns text that holds no secret the pipeline would
// have redacted.
type Redactor interface {
	RedactRaw(data []byte) []byte
}
