// Package ingest is the path from a source's raw records to durable ledger
// entries: it normalizes and redacts each record (package pipeline), hands
// the batch to the ledger (package queue) and answers once the entries are
// durable and covered by a signed checkpoint, mapping the ledger's refusals
// to the errors every source understands (sources.Emitter). The agent gives
// one to each source; anything else in kt that records an audit event of
// its own (the query API's export jobs) goes through it too.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sources"
)

// Emitter normalizes, redacts and appends batches of raw records to a
// ledger. It implements sources.Emitter, sources.Submitter and
// sources.Redactor, and is safe for concurrent use.
type Emitter struct {
	norm *pipeline.Normalizer
	led  *queue.Ledger
}

// New returns an Emitter that normalizes with norm and appends to led.
func New(norm *pipeline.Normalizer, led *queue.Ledger) *Emitter {
	return &Emitter{norm: norm, led: led}
}

var (
	_ sources.Emitter   = (*Emitter)(nil)
	_ sources.Submitter = (*Emitter)(nil)
	_ sources.Redactor  = (*Emitter)(nil)
)

// RedactRaw redacts a refused record with the pipeline's rules, for the
// text a source keeps of it in its dead letters.
func (e *Emitter) RedactRaw(data []byte) []byte { return e.norm.RedactRaw(data) }

// parallelMin is the batch size from which normalization is spread over
// all cores.
const parallelMin = 64

// Emit normalizes batch and appends it, returning once the entries are
// durable (see sources.Emitter for the errors).
func (e *Emitter) Emit(ctx context.Context, batch []sources.Raw) (sources.Result, error) {
	wait, err := e.Submit(batch)
	if err != nil {
		return sources.Result{}, err
	}
	return wait(ctx)
}

// Submit normalizes batch and hands it to the ledger without waiting for
// it to be durable; wait does, and maps the ledger's errors.
func (e *Emitter) Submit(batch []sources.Raw) (wait func(context.Context) (sources.Result, error), err error) {
	now := time.Now()
	recs := make([]queue.Pending, len(batch))
	errs := make([]error, len(batch))
	norm := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := batch[i]
			ev, err := e.norm.Normalize(r.Data, r.Source, now, r.FallbackID)
			if err != nil {
				errs[i] = err
				continue
			}
			recs[i] = queue.Pending{ID: ev.ID, Digest: ev.Digest, Body: ev.Body}
		}
	}
	if n := runtime.GOMAXPROCS(0); len(batch) >= parallelMin && n > 1 {
		var wg sync.WaitGroup
		step := (len(batch) + n - 1) / n
		for lo := 0; lo < len(batch); lo += step {
			wg.Add(1)
			go func(lo int) {
				defer wg.Done()
				norm(lo, min(lo+step, len(batch)))
			}(lo)
		}
		wg.Wait()
	} else {
		norm(0, len(batch))
	}
	var recErrs sources.RecordErrors
	for i, err := range errs {
		if err == nil {
			continue
		}
		re := sources.RecordError{Index: i, Line: batch[i].Line, Err: err}
		var fe *pipeline.FieldError
		if errors.As(err, &fe) {
			re.Field = fe.Field
		}
		recErrs = append(recErrs, re)
	}
	if len(recErrs) > 0 {
		return nil, recErrs
	}
	mapErr := func(err error) error {
		var conflict *queue.ConflictError
		var invalid *queue.RecordError
		switch {
		case errors.Is(err, queue.ErrFull):
			return fmt.Errorf("%w: %v", sources.ErrBusy, err)
		case errors.Is(err, queue.ErrClosed), errors.Is(err, queue.ErrBroken):
			return fmt.Errorf("%w: %v", sources.ErrUnavailable, err)
		case errors.As(err, &invalid) && invalid.Index >= 0 && invalid.Index < len(batch):
			// The pipeline refuses what the ledger cannot store; this is
			// the ledger's own check, should a record get past it: refused
			// for good, never retried.
			return sources.RecordErrors{{Index: invalid.Index, Line: batch[invalid.Index].Line, Err: invalid}}
		case errors.As(err, &conflict):
			ce := &sources.ConflictError{Line: batch[conflict.Index].Line, ID: conflict.ID, Seq: conflict.Seq, Lost: conflict.Lost}
			if conflict.Earlier >= 0 && conflict.Earlier < len(batch) {
				ce.EarlierLine = batch[conflict.Earlier].Line
			}
			return ce
		}
		return err
	}
	t, err := e.led.Submit(recs)
	if err != nil {
		return nil, mapErr(err)
	}
	return func(ctx context.Context) (sources.Result, error) {
		res, err := t.Wait(ctx)
		if err != nil {
			return sources.Result{}, mapErr(err)
		}
		return sources.Result{Accepted: res.New, Duplicates: res.Duplicates, FirstSeq: res.FirstSeq, LastSeq: res.LastSeq}, nil
	}, nil
}
