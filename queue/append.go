package queue

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Pending is an event to append.
type Pending struct {
	ID     string   // event id, the dedupe key
	Digest [16]byte // content digest: same id + same digest = retry, other digest = conflict
	Body   []byte   // RFC 8785 canonical JSON body without ledger fields; not modified by Append, must not be modified by the caller
}

// AppendResult tells what Append did with each record.
type AppendResult struct {
	Seqs              []uint64 // for each input record, its seq (new, or of the earlier entry it duplicates)
	New               int      // entries written by this call
	Duplicates        int
	FirstSeq, LastSeq uint64 // range of the new entries (valid when New > 0)
}

var (
	// ErrFull is returned by Append when MaxPending would be exceeded or
	// the disk refused the write; nothing of that call is acknowledged and
	// the caller may retry later (the webhook answers 503).
	ErrFull = errors.New("queue: ledger full or unwritable, retry later")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrBroken is returned (wrapped, with the cause) by Append once an
	// fdatasync of a segment failed. The data of the written commits may
	// be lost from the page cache and the sync cannot be retried
	// reliably, so the ledger acknowledges nothing more: the process must
	// exit, and Open recovers from what is on disk. See Ledger.Failed.
	ErrBroken = errors.New("queue: fsync failed; restart kt to recover")
)

// ConflictError refuses an Append whose record Index has an id that is
// already in the ledger (at Seq), or was lost in damage at Seq (Lost; the
// id stays reserved, see the package doc), or is earlier in the same call
// (at record Earlier, Seq 0) with another digest. Nothing of that call is
// written.
type ConflictError struct {
	Index   int
	ID      string
	Seq     uint64
	Earlier int  // index of the earlier record of the same call, or -1
	Lost    bool // the entry at Seq was lost in damaged frames; its id is reserved
}

func (e *ConflictError) Error() string {
	switch {
	case e.Earlier >= 0:
		return fmt.Sprintf("queue: record %d: id %q conflicts with record %d of the same call", e.Index, e.ID, e.Earlier)
	case e.Lost:
		return fmt.Sprintf("queue: record %d: id %q belongs to the entry at seq %d, lost in damaged storage, which had other content; the id stays reserved", e.Index, e.ID, e.Seq)
	}
	return fmt.Sprintf("queue: record %d: id %q is already in the ledger at seq %d with other content", e.Index, e.ID, e.Seq)
}

// ErrInvalidRecord is matched (errors.Is) by every *RecordError.
var ErrInvalidRecord = errors.New("queue: invalid record")

// RecordError refuses a Submit or Append whose record Index can never be
// written: an id that is empty or longer than 65535 bytes, a body that is
// not a JSON object, or an entry larger than 16 MiB. Nothing of that call
// is written, and retrying it fails the same way: the caller refuses the
// record (HTTP 400, a dead letter) rather than retrying it.
type RecordError struct {
	Index  int
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("queue: record %d: %s", e.Index, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidRecord) true.
func (e *RecordError) Is(target error) bool { return target == ErrInvalidRecord }

// idKey is the key of the id index: the first 16 bytes of SHA-256 of the
// event id. A fixed-size key keeps the index free of pointers, so the
// garbage collector never scans it — with a million entries, scanning a map
// of string keys costs a quarter of the agent's CPU — and halves its
// memory. Two different ids collide with probability about n²/2¹²⁹: for a
// billion entries, 10⁻²¹.
type idKey [16]byte

func keyOf(id []byte) idKey {
	h := sha256.Sum256(id)
	return idKey(h[:16])
}

func keyOfString(id string) idKey {
	h := sha256.Sum256([]byte(id))
	return idKey(h[:16])
}

type idRec struct {
	seq    uint64
	digest [16]byte
}

type request struct {
	recs []Pending
	res  AppendResult
	err  error
	done chan struct{}
}

// Append writes recs to the ledger and returns when they are durable and
// covered by a signed checkpoint. It returns ErrFull (wrapped) when too
// many events are pending or the disk refused the write, a *ConflictError
// when an id is already used with other content, ErrClosed after Close,
// ErrBroken (wrapped) once an fdatasync failed (then for good). On
// any error nothing of the call is acknowledged. If ctx ends first, Append
// returns ctx.Err() but the records may still be written (a retry is then
// a duplicate). Bodies must not be modified after the call.
func (l *Ledger) Append(ctx context.Context, recs []Pending) (AppendResult, error) {
	t, err := l.Submit(recs)
	if err != nil {
		return AppendResult{}, err
	}
	return t.Wait(ctx)
}

// Ticket is a batch of records handed to the ledger by Submit.
type Ticket struct {
	req *request
}

// Submit hands recs to the ledger and returns without waiting for them to
// be durable: Wait on the ticket does. Batches submitted by one goroutine
// get their seqs in submission order, so a source can read and normalize
// its next batch while the ledger commits the one before. Submit returns
// the errors Append returns before writing (ErrFull, ErrClosed, ErrBroken,
// and a *RecordError for a record that can never be written); the rest
// come from Wait.
func (l *Ledger) Submit(recs []Pending) (*Ticket, error) {
	if len(recs) == 0 {
		r := &request{done: make(chan struct{})}
		close(r.done)
		return &Ticket{req: r}, nil
	}
	for i := range recs {
		r := &recs[i]
		if r.ID == "" || len(r.ID) > maxIDLen {
			return nil, &RecordError{Index: i, Reason: fmt.Sprintf("id of %d bytes: want 1 to %d", len(r.ID), maxIDLen)}
		}
		if len(r.Body) < 2 || r.Body[0] != '{' || r.Body[len(r.Body)-1] != '}' {
			return nil, &RecordError{Index: i, Reason: "body is not a JSON object"}
		}
		if entryFixedSize+len(r.ID)+len(l.keyID)+len(r.Body) > maxPayload {
			return nil, &RecordError{Index: i, Reason: fmt.Sprintf("entry of %d bytes is larger than the %d bytes a frame holds", entryFixedSize+len(r.ID)+len(l.keyID)+len(r.Body), maxPayload)}
		}
	}
	req := &request{recs: recs, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if l.broken != nil {
		err := l.broken
		l.mu.Unlock()
		return nil, err
	}
	if l.pending+len(recs) > l.opts.MaxPending {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %d events pending", ErrFull, l.pending)
	}
	l.pending += len(recs)
	l.queue = append(l.queue, req)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return &Ticket{req: req}, nil
}

// Wait returns when the ticket's records are durable and covered by a
// signed checkpoint, with Append's result and errors. If ctx ends first it
// returns ctx.Err(), but the records may still be written.
func (t *Ticket) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-t.req.done:
		return t.req.res, t.req.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}
