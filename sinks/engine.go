package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

// Engine delivers the ledger to one sink through its Transport: the one
// delivery loop every sink runs on (see Sink for how the agent drives it,
// Transport for what it expects of a transport).
//
//   - It reads the ledger through the sink's own cursor, so an outage only
//     grows the lag on disk, and a dead sink never holds back the sources
//     or the other sinks.
//   - It cuts batches by max_events, max_bytes and max_wait, and sends up to
//     in_flight of them at once. Each batch ends with the newest signed
//     checkpoint that covers its entries; an idle sink sends a heartbeat
//     record every heartbeat_interval.
//   - A failed attempt is retried after an exponential backoff with jitter
//     (retry.initial doubling to retry.max, or longer if the receiver asks
//     with Retry-After). Only the records that failed are sent again.
//   - A batch refused for good (Permanent) is split in halves until the
//     refused records are found; each is parked in the sink's dead-letter
//     file with the reason, counted and logged, and delivery goes on.
//     Nothing is dropped silently.
//   - The cursor moves only over batches whose every record was accepted or
//     parked, in ledger order, and is stored after every such move: a
//     restart sends again only records whose delivery was not confirmed,
//     with the same Record.ID.
//   - A transport that keeps state with the cursor (CursorState, the file
//     sink) is resumed from the stored cursor at start, gets one batch at a
//     time, and its aux value is stored with every cursor move.
type Engine struct {
	cfg      Delivery
	led      *queue.Ledger
	cursors  *queue.Cursors
	t        Transport
	cs       CursorState // t, when it keeps state with the cursor
	log      *slog.Logger
	dl       *deadLetters
	ledgerID string

	spare []*batch // batches done with, for their memory (run only)

	next   atomic.Uint64 // cursor: entries below it are delivered or parked
	mu     sync.Mutex    // guards st
	st     Stats
	now    func() time.Time
	closed atomic.Bool
}

// Stats are a sink's delivery figures since the agent started, plus its
// cursor; /metrics and `kt status` show them.
type Stats struct {
	Next          uint64    // the cursor: entries below it are delivered or parked
	Sent          uint64    // entries the receiver accepted
	Retried       uint64    // records sent again after a failed attempt
	Failed        uint64    // failed attempts (requests)
	DeadLettered  uint64    // records parked in the dead-letter file
	LastError     string    // the newest failure, "" if none
	LastErrorTime time.Time // when it happened
	// Oldest is when kt received the oldest entry read but not yet
	// delivered (its received_at); zero when every entry read is
	// delivered. With the ledger size it gives the lag.
	Oldest   time.Time
	InFlight int // batches being sent
}

// NewEngine loads the sink's cursor (and resumes a CursorState transport
// from it). It does no network I/O; the dead-letter file is created when a
// record is first parked. The Engine owns t from then on: Close closes
// it. On error t is not closed.
func NewEngine(cfg Delivery, led *queue.Ledger, cursors *queue.Cursors, t Transport, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DeadLetterPath == "" {
		return nil, fmt.Errorf("sink %s: no dead-letter path (SetDataDir)", cfg.Key())
	}
	cur, ok, err := cursors.Get(cfg.Key())
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", cfg.Key(), err)
	}
	next := cur.Next
	cs, stateful := t.(CursorState)
	if stateful {
		if next, err = cs.Resume(cur, ok); err != nil {
			return nil, fmt.Errorf("sink %s: %w", cfg.Key(), err)
		}
		cfg.InFlight = 1
	}
	e := &Engine{cfg: cfg, led: led, cursors: cursors, t: t, cs: cs, log: log.With("sink", cfg.Key()),
		dl: openDeadLetters(cfg.DeadLetterPath), ledgerID: led.LedgerID(), now: time.Now, spare: make([]*batch, 0, 2)}
	e.next.Store(next)
	e.st.Next = next
	return e, nil
}

// Name returns the sink's name (the block's second label).
func (e *Engine) Name() string { return e.cfg.Name }

// Type returns the sink's type, such as "splunk_hec".
func (e *Engine) Type() string { return e.cfg.Type }

// Next returns the cursor.
func (e *Engine) Next() uint64 { return e.next.Load() }

// Stats returns the current figures.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st
	s.Next = e.next.Load()
	return s
}

// Run delivers until ctx is done. Batches in flight then get up to the
// sink's timeout to finish, so a clean stop rarely sends anything twice.
// It returns nil after ctx is done, or an error it cannot go on from (the
// dead-letter file or the cursor cannot be written); the agent restarts
// the engine after a backoff.
func (e *Engine) Run(ctx context.Context) error { return e.run(ctx, false) }

// Drain delivers what is committed now, then returns nil: the agent calls
// it at shutdown, after the ledger's final checkpoint, with a deadline in
// ctx (Delivery.DrainTimeout). When ctx is done first it returns ctx's
// error; what is left goes at the next start.
func (e *Engine) Drain(ctx context.Context) error { return e.run(ctx, true) }

// DrainTimeout is how long the sink needs at shutdown (Delivery.DrainTimeout).
func (e *Engine) DrainTimeout() time.Duration { return e.cfg.DrainTimeout }

// Close closes the transport and the dead-letter file; it may be called
// twice.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	return errors.Join(e.t.Close(), e.dl.close())
}

// batch is a run of records sent together; its records stay in ledger
// order.
type batch struct {
	recs   []Record
	buf    []byte // the records' lines, back to back
	offs   []int  // line i is buf[offs[i]:offs[i+1]]
	start  time.Time
	first  time.Time // received_at of the first entry
	end    uint64    // the cursor after this batch
	aux    uint64    // a CursorState transport's aux value after it
	hasEn  bool      // holds an entry
	closed bool      // takes no more records
	err    error     // set when done: nil, or why it was not delivered
	done   bool
}

func (b *batch) full(cfg Delivery) bool {
	return b.closed || len(b.recs) >= cfg.MaxEvents || len(b.buf) >= cfg.MaxBytes
}

func (b *batch) addEntry(cfg Delivery, r Record, line []byte) {
	if !b.hasEn {
		b.first = receivedAt(line)
		b.hasEn = true
		if cap(b.buf) == 0 {
			// A new batch: room for max_events lines like this one (up to
			// max_bytes and 64 MiB) rather than growing it line by line.
			n := min(cfg.MaxEvents, 1<<16)
			b.buf = make([]byte, 0, min(cfg.MaxBytes, n*len(line)*9/8, 64<<20))
			b.recs = make([]Record, 0, n+1)
			b.offs = make([]int, 0, n+2)
		}
	}
	b.add(r, line)
	b.end = r.Seq + 1
}

func (b *batch) add(r Record, line []byte) {
	if len(b.offs) == 0 {
		b.offs = append(b.offs, 0)
	}
	b.buf = append(b.buf, line...)
	b.offs = append(b.offs, len(b.buf))
	r.Line = nil
	b.recs = append(b.recs, r)
}

// reset empties b for a new batch, keeping the memory of its slices: a
// batch of the file sink's 4096 records is megabytes, which growing anew
// for each batch would copy and clear several times over.
func (b *batch) reset(start time.Time, end uint64) {
	clear(b.recs) // drop the lines' references
	*b = batch{recs: b.recs[:0], buf: b.buf[:0], offs: b.offs[:0], start: start, end: end}
}

func (b *batch) seal() {
	for i := range b.recs {
		b.recs[i].Line = b.buf[b.offs[i]:b.offs[i+1]:b.offs[i+1]]
	}
}

func (e *Engine) run(ctx context.Context, drain bool) error {
	next := e.next.Load()
	r, err := e.led.NewReader(next)
	if err != nil {
		return fmt.Errorf("sink %s: %w", e.cfg.Key(), err)
	}
	defer r.Close()

	// A request in progress outlives ctx by up to stopGrace, so a clean
	// stop rarely sends anything twice; no new attempt starts after ctx.
	sendCtx, cancelSends := context.WithCancel(context.Background())
	defer cancelSends()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(min(e.cfg.Timeout, stopGrace), cancelSends)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stop()

	var (
		pending     []*batch // sent or being sent, in order
		cur         *batch   // being filled
		done        = make(chan *batch, e.cfg.InFlight+1)
		latest      *ledger.Checkpoint
		shipped     int64   // size of the newest checkpoint sent
		caughtUp    bool    // the reader returned EOF since the last change
		held        *Record // an entry read that opens the next batch
		lastSent    = e.now()
		fatal       error
		outstanding int // sends not yet finished
	)
	spare := e.spare[:0] // batches done with, kept from run to run
	defer func() { e.spare = spare }()
	newBatch := func(start time.Time, end uint64) *batch {
		if n := len(spare); n > 0 {
			b := spare[n-1]
			spare = spare[:n-1]
			b.reset(start, end)
			return b
		}
		return &batch{start: start, end: end}
	}
	// The cursor is stored by its own goroutine, the newest value at a
	// time, so the fdatasync does not hold up reading and sending; Run
	// stores the final value before it returns.
	saver := newCursorSaver(e.cursors, e.cfg.Key())
	var aux uint64 // a CursorState transport's aux value, as last stored
	defer func() {
		if err := saver.close(); err != nil {
			e.log.Error("sink: storing the cursor failed; records after it are sent again at the next start", "err", err)
		}
	}()
	hb := time.NewTimer(e.cfg.HeartbeatInterval)
	defer hb.Stop()
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()

	dispatch := func(b *batch) {
		if latest != nil && latest.Size > shipped && b.hasEn {
			rec := checkpointRecord(e.ledgerID, latest, e.now())
			b.add(rec, rec.Line)
			shipped = latest.Size
		}
		b.seal()
		pending = append(pending, b)
		outstanding++
		e.setInFlight(outstanding)
		go func() {
			b.err = e.deliver(ctx, sendCtx, b.recs)
			if b.err == nil && e.cs != nil {
				b.aux = e.cs.CursorAux()
			}
			done <- b
		}()
	}
	finish := func(b *batch) {
		b.done = true
		outstanding--
		if b.err != nil && fatal == nil && ctx.Err() == nil && sendCtx.Err() == nil {
			fatal = b.err
		}
		moved := false
		for len(pending) > 0 && pending[0].done && pending[0].err == nil {
			if pending[0].end > next {
				next, moved = pending[0].end, true
			}
			if e.cs != nil && pending[0].aux != aux {
				// The receiver changed (a heartbeat moves no cursor).
				aux, moved = pending[0].aux, true
			}
			if len(spare) < cap(spare) {
				// Its records are done with: no Send holds their lines.
				spare = append(spare, pending[0])
			}
			pending = pending[1:]
		}
		e.setInFlight(outstanding)
		if moved {
			saver.store(queue.Cursor{Next: next, Aux: aux, HasAux: e.cs != nil})
			e.next.Store(next)
		}
		e.setOldest(pending, cur)
	}

	for {
		if err := saver.err(); err != nil && fatal == nil {
			fatal = fmt.Errorf("sink %s: cursor: %w", e.cfg.Key(), err)
		}
		// Read while the batch being filled takes records: up to the entry
		// that does not fit, so that the checkpoint records right after a
		// full batch's last entry still reach it.
		changed := e.led.Changed()
		for fatal == nil && (cur == nil || !cur.closed) {
			if cur == nil {
				cur = newBatch(e.now(), next)
			}
			if held != nil {
				cur.addEntry(e.cfg, *held, held.Line)
				held = nil
				continue
			}
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				caughtUp = true
				break
			}
			if err != nil {
				fatal = fmt.Errorf("sink %s: read ledger: %w", e.cfg.Key(), err)
				break
			}
			caughtUp = false
			if rec.Kind == queue.ItemCheckpoint {
				latest = rec.Checkpoint
				continue
			}
			if rec.Kind != queue.ItemEntry {
				continue
			}
			er := entryRecord(rec)
			if len(cur.recs) > 0 && (len(cur.recs) >= e.cfg.MaxEvents || len(cur.buf)+len(rec.Line) > e.cfg.MaxBytes) {
				// It opens the next batch.
				er.Line = append([]byte(nil), rec.Line...)
				held = &er
				cur.closed = true
				break
			}
			cur.addEntry(e.cfg, er, rec.Line)
		}
		if cur != nil && len(cur.recs) == 0 {
			// Nothing new: its memory waits for the next batch.
			if len(spare) < cap(spare) {
				spare = append(spare, cur)
			}
			cur = nil
		}
		if fatal != nil {
			break
		}
		e.setOldest(pending, cur)

		// Send the batch when it is full, old enough, or the end is near.
		if cur != nil && outstanding < e.cfg.InFlight {
			if cur.full(e.cfg) || e.now().Sub(cur.start) >= e.cfg.MaxWait || drain {
				dispatch(cur)
				cur = nil
				lastSent = e.now()
				hb.Reset(e.cfg.HeartbeatInterval)
				continue
			}
		}
		if drain && cur == nil && held == nil && outstanding == 0 && caughtUp {
			return nil
		}

		// Wait for something to do.
		var waitC <-chan time.Time
		if cur != nil && outstanding < e.cfg.InFlight {
			wait.Reset(max(cur.start.Add(e.cfg.MaxWait).Sub(e.now()), 0))
			waitC = wait.C
		}
		var changedC <-chan struct{}
		if cur == nil || !cur.full(e.cfg) {
			changedC = changed
		}
		select {
		case <-ctx.Done():
			// Let the batches in flight finish (bounded by timeout).
			for outstanding > 0 {
				finish(<-done)
			}
			if drain {
				return errors.Join(fatal, ctx.Err())
			}
			return fatal
		case b := <-done:
			finish(b)
		case <-changedC:
		case <-waitC:
		case <-hb.C:
			if cur == nil && outstanding == 0 && e.now().Sub(lastSent) >= e.cfg.HeartbeatInterval-time.Millisecond {
				if cp := e.led.LatestCheckpoint(); cp != nil {
					now := e.now()
					b := newBatch(now, next)
					rec := heartbeatRecord(e.ledgerID, cp, now)
					b.add(rec, rec.Line)
					dispatch(b)
					lastSent = now
				}
			}
			hb.Reset(e.cfg.HeartbeatInterval)
		}
		wait.Stop()
	}
	// Fatal: let the others finish so the cursor is as far as it can be.
	cancelSends()
	for outstanding > 0 {
		finish(<-done)
	}
	return fatal
}

func (e *Engine) setInFlight(n int) {
	e.mu.Lock()
	e.st.InFlight = n
	e.mu.Unlock()
}

func (e *Engine) setOldest(pending []*batch, cur *batch) {
	var t time.Time
	for _, b := range pending {
		if !b.done && b.hasEn && !b.first.IsZero() {
			t = b.first
			break
		}
	}
	if t.IsZero() && cur != nil {
		t = cur.first
	}
	e.mu.Lock()
	e.st.Oldest = t
	e.mu.Unlock()
}

// maxHint caps the wait a receiver's Retry-After can impose.
const maxHint = 10 * time.Minute

// stopGrace bounds how long a request in progress may go on after the
// engine is told to stop.
const stopGrace = 10 * time.Second

// deliver sends recs until each is accepted or parked. Requests run under
// sendCtx; no attempt starts once ctx is done. It returns nil when done,
// the context's error when it stopped first (nothing is then taken as
// delivered), or an error that stops the engine (a dead letter that cannot
// be written).
func (e *Engine) deliver(ctx, sendCtx context.Context, recs []Record) error {
	for attempt := 0; len(recs) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(sendCtx, e.cfg.Timeout)
		err := e.t.Send(sctx, recs)
		cancel()
		if err == nil {
			e.accepted(recs)
			return nil
		}
		if err := sendCtx.Err(); err != nil {
			return err
		}
		var items ItemErrors
		switch {
		case errors.As(err, &items):
			refused := make(map[int]error, len(items))
			for _, it := range items {
				if it.Index >= 0 && it.Index < len(recs) {
					refused[it.Index] = it.Err
				}
			}
			var ok, retry, park []Record
			var parkWhy []error
			for i, r := range recs {
				ierr, bad := refused[i]
				switch {
				case !bad:
					ok = append(ok, r)
				case IsPermanent(ierr):
					park = append(park, r)
					parkWhy = append(parkWhy, ierr)
				default:
					retry = append(retry, r)
				}
			}
			e.accepted(ok)
			for i, r := range park {
				if err := e.park(r, parkWhy[i]); err != nil {
					return err
				}
			}
			if len(retry) == 0 {
				return nil
			}
			e.failure(err, len(retry))
			recs = retry
		case IsPermanent(err):
			if len(recs) == 1 {
				return e.park(recs[0], err)
			}
			// Find the refused records: each half on its own.
			e.failure(err, 0)
			mid := len(recs) / 2
			if err := e.deliver(ctx, sendCtx, recs[:mid]); err != nil {
				return err
			}
			return e.deliver(ctx, sendCtx, recs[mid:])
		default:
			e.failure(err, len(recs))
		}
		if err := sleep(ctx, e.backoff(attempt, RetryAfterHint(err))); err != nil {
			return err
		}
	}
	return nil
}

// backoff returns the wait before attempt+1: initial doubling to max, with
// "equal jitter" (half fixed, half random), and never less than hint.
func (e *Engine) backoff(attempt int, hint time.Duration) time.Duration {
	d := e.cfg.RetryInitial
	for i := 0; i < attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.RetryMax)
	d = d/2 + rand.N(d/2+1)
	// A receiver's Retry-After is honoured up to maxHint: a proxy's wild
	// value must not stall delivery for hours.
	return max(d, min(hint, maxHint))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (e *Engine) accepted(recs []Record) {
	n := 0
	for _, r := range recs {
		if r.Kind == KindEntry {
			n++
		}
	}
	e.mu.Lock()
	e.st.Sent += uint64(n)
	e.mu.Unlock()
}

func (e *Engine) failure(err error, retried int) {
	e.mu.Lock()
	first := e.st.LastError == ""
	e.st.Failed++
	e.st.Retried += uint64(retried)
	e.st.LastError = err.Error()
	e.st.LastErrorTime = e.now()
	n := e.st.Failed
	e.mu.Unlock()
	// Log the first failure and then every 100th, not every attempt.
	if first || n%100 == 0 {
		e.log.Warn("sink: delivery failed, retrying", "err", err, "failed_attempts", n, "records", retried)
	}
}

// park writes r to the dead-letter file, counts and logs it.
func (e *Engine) park(r Record, why error) error {
	if err := e.dl.write(e.now(), e.cfg.Key(), r, why.Error()); err != nil {
		return fmt.Errorf("sink %s: dead letter: %w", e.cfg.Key(), err)
	}
	e.mu.Lock()
	e.st.DeadLettered++
	e.st.LastError = why.Error()
	e.st.LastErrorTime = e.now()
	e.mu.Unlock()
	e.log.Warn("sink: record refused by the receiver, parked in the dead-letter file", "seq", r.Seq, "id", r.ID, "kind", r.Kind.String(), "reason", why.Error(), "file", e.cfg.DeadLetterPath)
	return nil
}

// cursorSaver stores a sink's cursor in the background: store hands over
// the newest value and returns; the goroutine stores the newest value it
// has, one fdatasync at a time.
type cursorSaver struct {
	cursors *queue.Cursors
	key     string
	mu      sync.Mutex
	want    queue.Cursor
	has     bool // want is not stored yet
	failed  error
	wake    chan struct{}
	done    chan struct{}
}

func newCursorSaver(c *queue.Cursors, key string) *cursorSaver {
	s := &cursorSaver{cursors: c, key: key, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *cursorSaver) store(cur queue.Cursor) {
	s.mu.Lock()
	s.want, s.has = cur, true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *cursorSaver) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *cursorSaver) run() {
	defer close(s.done)
	for range s.wake {
		s.flush()
	}
}

func (s *cursorSaver) flush() {
	s.mu.Lock()
	cur, has := s.want, s.has
	s.has = false
	s.mu.Unlock()
	if !has {
		return
	}
	if err := s.cursors.Put(s.key, cur); err != nil {
		s.mu.Lock()
		if s.failed == nil {
			s.failed = err
		}
		s.mu.Unlock()
	}
}

// close stores the newest value and stops the goroutine.
func (s *cursorSaver) close() error {
	close(s.wake)
	<-s.done
	s.flush()
	return s.err()
}
