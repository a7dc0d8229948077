package agent

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

// emitter normalizes and appends batches for the sources.
type emitter struct {
	norm *pipeline.Normalizer
	led  *queue.Ledger
}

var (
	_ sources.Emitter   = (*emitter)(nil)
	_ sources.Submitter = (*emitter)(nil)
	_ sources.Redactor  = (*emitter)(nil)
)

// RedactRaw redacts a refused record with the pipeline's rules, for the
// text a source keeps of it in its dead letters.
func (e *emitter) RedactRaw(data []byte) []byte { return e.norm.RedactRaw(data) }

// parallelMin is the batch size from which normalization is spread over
// all cores.
const parallelMin = 64

func (e *emitter) Emit(ctx context.Context, batch []sources.Raw) (sources.Result, error) {
	wait, err := e.Submit(batch)
	if err != nil {
		return sources.Result{}, err
	}
	return wait(ctx)
}

// Submit normalizes batch and hands it to the ledger without waiting for
// it to be durable; wait does, and maps the ledger's errors.
func (e *emitter) Submit(batch []sources.Raw) (wait func(context.Context) (sources.Result, error), err error) {
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
