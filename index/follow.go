package index

import (
	"context"
	"fmt"
	"time"

	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
)

// Delivery is how the sinks Engine feeds the index of the data dir: it
// follows the ledger like a sink, with its own cursor, so ingest never
// waits for the index and the index catches up after a restart. Batches
// of up to 1,000 entries, sent once they are full or 100 ms old, so that
// a listing shows an event about 0.1 s after it was acknowledged.
func Delivery(dataDir string) sinks.Delivery {
	d := sinks.NewDelivery("index", "query")
	d.MaxEvents, d.MaxWait = 1000, 100*time.Millisecond
	d.InFlight = 1
	d.HeartbeatInterval = 24 * time.Hour // the index keeps no heartbeat
	d.DrainTimeout = 5 * time.Second
	d.DeadLetterPath = layout.IndexDeadLetter(dataDir)
	return d
}

// Transport returns the Transport that indexes what the Engine reads. It
// is a sinks.CursorState: the index's own Next, stored in the same
// transaction as its rows, is where delivery resumes, whatever the
// cursor file says (a crash may lose the index's last transactions, never
// the cursor's). An entry line the index cannot read is a permanent item
// error: the Engine parks it in the index's dead-letter file. Close does
// not close the index.
//
// busy, when not nil, says whether ingest is taking events now. While it
// is, each batch is followed by a pause of twice the time the batch took,
// so that the index takes at most a third of a core from ingest (which
// signs on every core); it catches up at full speed once ingest is idle.
// Ingest goes first: during a burst the index lags, and kt status shows by
// how much.
func (x *Index) Transport(busy func() bool) sinks.CursorState { return &follower{x: x, busy: busy} }

type follower struct {
	x    *Index
	busy func() bool
}

func (f *follower) Send(ctx context.Context, recs []sinks.Record) error {
	start := time.Now()
	err := f.send(ctx, recs)
	if err == nil && f.busy != nil && f.busy() {
		t := time.NewTimer(2 * time.Since(start))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return err
}

func (f *follower) send(ctx context.Context, recs []sinks.Record) error {
	entries := make([]Entry, 0, len(recs))
	at := make([]int, 0, len(recs)) // entries[i] is recs[at[i]]
	for i, r := range recs {
		if r.Kind == sinks.KindEntry {
			entries = append(entries, Entry{Seq: r.Seq, Line: r.Line})
			at = append(at, i)
		}
	}
	bad, err := f.x.Add(ctx, entries)
	if err != nil {
		return err
	}
	if len(bad) == 0 {
		return nil
	}
	ie := make(sinks.ItemErrors, len(bad))
	for i, b := range bad {
		ie[i] = sinks.ItemError{Index: at[b.Index], Err: sinks.Permanent(b.Err)}
	}
	return ie
}

func (f *follower) Close() error { return nil }

func (f *follower) Resume(queue.Cursor, bool) (uint64, error) {
	next, err := f.x.Next(context.Background())
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return next, nil
}

func (f *follower) CursorAux() uint64 { return 0 }
