// Package sources defines how outside input enters kt: a Source turns bytes
// from somewhere (HTTP requests, files) into raw records and hands them to an
// Emitter, which normalizes them and makes them durable ledger entries.
// Plugins live in subpackages (sources/webhook, sources/file).
package sources

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
// Errors: *RecordErrors when some records are not audit events (nothing of
// the batch was written); ErrBusy when the ledger cannot take more now (retry
// later; nothing was written); *ConflictError when an event id is already in
// the ledger with other content; anything else is an internal failure.
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
// content: a producer reused an id for a different event.
type ConflictError struct {
	Line int
	ID   string
	Seq  uint64 // the entry that holds the id
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("line %d: event id %q is already in the ledger at seq %d with other content", e.Line, e.ID, e.Seq)
}
