package sinks

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

// recorder is a Transport that keeps what it accepted; fail decides the
// outcome of each Send (nil: accept all).
type recorder struct {
	mu     sync.Mutex
	got    []Record
	sends  int
	fail   func(n int, recs []Record) error
	closed bool
	most   int // most entries in one Send
	bytes  int // most bytes of entry lines in one Send
}

func (r *recorder) Send(ctx context.Context, recs []Record) error {
	r.mu.Lock()
	r.sends++
	n := r.sends
	en, by := 0, 0
	for _, rec := range recs {
		if rec.Kind == KindEntry {
			en++
			by += len(rec.Line)
		}
	}
	r.most, r.bytes = max(r.most, en), max(r.bytes, by)
	fail := r.fail
	r.mu.Unlock()
	var err error
	if fail != nil {
		err = fail(n, recs)
	}
	var items ItemErrors
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		for _, rec := range recs {
			rec.Line = append([]byte(nil), rec.Line...)
			r.got = append(r.got, rec)
		}
	case errors.As(err, &items):
		bad := map[int]bool{}
		for _, it := range items {
			bad[it.Index] = true
		}
		for i, rec := range recs {
			if !bad[i] {
				rec.Line = append([]byte(nil), rec.Line...)
				r.got = append(r.got, rec)
			}
		}
	}
	return err
}

func (r *recorder) Close() error { r.closed = true; return nil }

func (r *recorder) entries() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for _, rec := range r.got {
		if rec.Kind == KindEntry && rec.Seq > 0 { // seq 0 is the ledger's genesis
			out = append(out, rec)
		}
	}
	return out
}

func (r *recorder) all() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.got...)
}

type fixture struct {
	led      *queue.Ledger
	cursors  *queue.Cursors
	dir      string
	appended int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	skey, _, err := ledger.GenerateKey(rand.Reader, "test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	dir := t.TempDir()
	l, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "ledger"), Signer: s, Version: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	c, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	return &fixture{led: l, cursors: c, dir: dir}
}

func (f *fixture) append(t *testing.T, n int) {
	t.Helper()
	recs := make([]queue.Pending, n)
	for i := range recs {
		id := fmt.Sprintf("e%d", f.appended+i)
		recs[i] = queue.Pending{ID: id, Body: []byte(fmt.Sprintf(`{"action":"a","changes":{"time":"nested"},"id":%q,"received_at":"2026-03-01T10:00:00.000000000Z","time":"2026-03-01T09:00:%02d.123000000Z"}`, id, (f.appended+i)%60))}
		copy(recs[i].Digest[:], id)
	}
	f.appended += n
	_, err := f.led.Append(context.Background(), recs)
	require.NoError(t, err)
}

func (f *fixture) config() Delivery {
	d := NewDelivery("test", "t")
	d.RetryInitial, d.RetryMax = time.Millisecond, 5*time.Millisecond
	d.MaxWait = 5 * time.Millisecond
	d.SetDataDir(f.dir)
	return d
}

// start runs an engine; stop cancels it and returns Run's error (once).
func (f *fixture) start(t *testing.T, d Delivery, tr Transport) (e *Engine, stop func() error) {
	t.Helper()
	e, err := NewEngine(d, f.led, f.cursors, tr, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		err := <-errc
		e.Close()
		return err
	})
	t.Cleanup(func() { stop() })
	return e, stop
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func wantIDs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("e%d", i))
	}
	return out
}

func TestDeliversInOrderWithCheckpoints(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		f.append(t, 300)
	}
	d := f.config()
	d.MaxEvents = 128
	d.InFlight = 1
	tr := &recorder{}
	e, _ := f.start(t, d, tr)
	waitFor(t, "1500 entries", func() bool { return e.Next() == 1501 })
	got := tr.entries()
	require.Len(t, got, 1500)
	assert.Equal(t, wantIDs(0, 1500), ids(got))
	for i, r := range got {
		assert.Equal(t, uint64(i+1), r.Seq) // seq 0 is the genesis entry
		_, err := ledger.ParseLine(r.Line)
		require.NoError(t, err)
		assert.Equal(t, time.Date(2026, 3, 1, 9, 0, i%60, 123e6, time.UTC), r.EventTime(), "time from the top-level member, not changes.time")
	}
	// Every batch ends with a checkpoint covering everything before it.
	all := tr.all()
	var last uint64
	cps := 0
	for _, r := range all {
		switch r.Kind {
		case KindEntry:
			last = r.Seq
		case KindCheckpoint:
			cps++
			var c struct {
				Record string `json:"record"`
				Size   uint64 `json:"size"`
			}
			require.NoError(t, json.Unmarshal(r.Line, &c))
			assert.Equal(t, "checkpoint", c.Record)
			assert.LessOrEqual(t, c.Size, last+1)
		}
	}
	assert.GreaterOrEqual(t, cps, 5)
	assert.Equal(t, KindCheckpoint, all[len(all)-1].Kind)
	assert.LessOrEqual(t, tr.most, 128)
	next, ok, err := f.cursors.Load(d.Key())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(1501), next)
	st := e.Stats()
	assert.Equal(t, uint64(1501), st.Sent)
	assert.Zero(t, st.Failed)
}

func TestMaxBytes(t *testing.T) {
	f := newFixture(t)
	f.append(t, 100)
	d := f.config()
	d.MaxBytes = 2000 // a line is ~500 bytes
	d.InFlight = 1
	tr := &recorder{}
	e, _ := f.start(t, d, tr)
	waitFor(t, "100 entries", func() bool { return e.Next() == 101 })
	assert.Equal(t, wantIDs(0, 100), ids(tr.entries()))
	assert.LessOrEqual(t, tr.bytes, 2000)
	assert.GreaterOrEqual(t, tr.most, 2)
}

func TestRetriesUntilAccepted(t *testing.T) {
	f := newFixture(t)
	f.append(t, 1000)
	d := f.config()
	d.InFlight = 1
	tr := &recorder{fail: func(n int, recs []Record) error {
		if n%3 != 0 {
			return fmt.Errorf("connection refused (attempt %d)", n)
		}
		return nil
	}}
	e, _ := f.start(t, d, tr)
	waitFor(t, "1000 entries", func() bool { return e.Next() == 1001 })
	assert.Equal(t, wantIDs(0, 1000), ids(tr.entries()))
	st := e.Stats()
	assert.NotZero(t, st.Failed)
	assert.NotZero(t, st.Retried)
	assert.Contains(t, st.LastError, "connection refused")
	assert.Zero(t, st.DeadLettered)
}

func TestItemErrorsRetryOnlyFailedAndParkRefused(t *testing.T) {
	f := newFixture(t)
	f.append(t, 200)
	d := f.config()
	d.InFlight = 1
	var mu sync.Mutex
	tries := map[string]int{}
	tr := &recorder{fail: func(n int, recs []Record) error {
		mu.Lock()
		defer mu.Unlock()
		var items ItemErrors
		for i, r := range recs {
			tries[r.ID]++
			switch {
			case r.ID == "e7" || r.ID == "e150":
				items = append(items, ItemError{i, Permanent(errors.New("mapper_parsing_exception: failed to parse field [x]"))})
			case (r.ID == "e9" || r.ID == "e151") && tries[r.ID] < 3:
				items = append(items, ItemError{i, errors.New("es_rejected_execution_exception (429)")})
			}
		}
		if items == nil {
			return nil
		}
		return items
	}}
	e, _ := f.start(t, d, tr)
	waitFor(t, "all entries", func() bool { return e.Next() == 201 })
	want := wantIDs(0, 200)
	got := map[string]int{}
	for _, id := range ids(tr.entries()) {
		got[id]++
	}
	for _, id := range want {
		if id == "e7" || id == "e150" {
			assert.Zero(t, got[id], id)
			continue
		}
		assert.Equal(t, 1, got[id], id)
	}
	mu.Lock()
	assert.Equal(t, 3, tries["e9"])
	assert.Equal(t, 1, tries["e8"], "accepted items are not sent again")
	assert.Equal(t, 1, tries["e7"], "refused items are parked, not retried")
	mu.Unlock()
	st := e.Stats()
	assert.Equal(t, uint64(2), st.DeadLettered)
	assert.Equal(t, uint64(199), st.Sent)
	dl := readDeadLetters(t, d.DeadLetterPath)
	require.Len(t, dl, 2)
	assert.Equal(t, "e7", dl[0]["id"])
	assert.Equal(t, "entry", dl[0]["kind"])
	assert.Contains(t, dl[0]["reason"], "mapper_parsing_exception")
	rec, _ := json.Marshal(dl[0]["record"])
	_, err := ledger.ParseLine(rec)
	require.NoError(t, err, "the parked record is the ledger line")
}

func readDeadLetters(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

func TestPermanentBatchIsBisected(t *testing.T) {
	f := newFixture(t)
	f.append(t, 300)
	d := f.config()
	d.MaxEvents = 100
	d.InFlight = 1
	tr := &recorder{fail: func(n int, recs []Record) error {
		for _, r := range recs {
			if r.ID == "e42" || r.ID == "e43" || r.ID == "e250" {
				return Permanent(errors.New("400: invalid data format"))
			}
		}
		return nil
	}}
	e, _ := f.start(t, d, tr)
	waitFor(t, "all entries", func() bool { return e.Next() == 301 })
	got := ids(tr.entries())
	want := wantIDs(0, 300)
	want = append(append(want[:42:42], want[44:250]...), want[251:]...)
	assert.Equal(t, want, got)
	dl := readDeadLetters(t, d.DeadLetterPath)
	require.Len(t, dl, 3)
	assert.Equal(t, []any{"e42", "e43", "e250"}, []any{dl[0]["id"], dl[1]["id"], dl[2]["id"]})
	assert.Equal(t, uint64(3), e.Stats().DeadLettered)
}

func TestRestartResumesAtCursor(t *testing.T) {
	f := newFixture(t)
	f.append(t, 500)
	d := f.config()
	d.InFlight = 1
	tr := &recorder{}
	e, stop := f.start(t, d, tr)
	waitFor(t, "500", func() bool { return e.Next() == 501 })
	require.NoError(t, stop())
	f.append(t, 500)
	tr2 := &recorder{}
	e2, _ := f.start(t, d, tr2)
	waitFor(t, "1000", func() bool { return e2.Next() == 1001 })
	assert.Equal(t, wantIDs(500, 1000), ids(tr2.entries()), "nothing acknowledged is sent again")
}

func TestOutageDoesNotBlockLedgerAndCatchesUp(t *testing.T) {
	f := newFixture(t)
	d := f.config()
	d.InFlight = 1
	d.RetryMax = 20 * time.Millisecond
	var down sync.Mutex
	downNow := true
	tr := &recorder{fail: func(n int, recs []Record) error {
		down.Lock()
		defer down.Unlock()
		if downNow {
			return errors.New("dial tcp 127.0.0.1:8088: connect: connection refused")
		}
		return nil
	}}
	e, _ := f.start(t, d, tr)
	for range 20 {
		f.append(t, 100) // each Append returns: the ledger does not wait for the sink
	}
	assert.Equal(t, uint64(0), e.Next())
	down.Lock()
	downNow = false
	down.Unlock()
	waitFor(t, "catch up", func() bool { return e.Next() == 2001 })
	assert.Equal(t, wantIDs(0, 2000), ids(tr.entries()))
}

func TestHeartbeatWhenIdle(t *testing.T) {
	f := newFixture(t)
	f.append(t, 3)
	d := f.config()
	d.HeartbeatInterval = 30 * time.Millisecond
	tr := &recorder{}
	f.start(t, d, tr)
	waitFor(t, "two heartbeats", func() bool {
		n := 0
		for _, r := range tr.all() {
			if r.Kind == KindHeartbeat {
				n++
				var h struct {
					Record string `json:"record"`
					Size   int64  `json:"size"`
				}
				require.NoError(t, json.Unmarshal(r.Line, &h))
				assert.Equal(t, "heartbeat", h.Record)
				assert.Equal(t, int64(4), h.Size)
			}
		}
		return n >= 2
	})
}

func TestDrainStopsWhenCaughtUp(t *testing.T) {
	f := newFixture(t)
	f.append(t, 250)
	d := f.config()
	d.MaxWait = time.Hour // drain must not wait for it
	tr := &recorder{}
	e, err := NewEngine(d, f.led, f.cursors, tr, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Drain(ctx))
	assert.Equal(t, uint64(251), e.Next())
	assert.Len(t, tr.entries(), 250)
	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	assert.True(t, tr.closed)
}

// TestFullBatchEndsWithItsCheckpoint: a batch cut at max_events still
// ends with the checkpoint that the ledger committed right after its last
// entry, not an older one.
func TestFullBatchEndsWithItsCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.append(t, 100) // one commit: entries 1..100, then the checkpoint of size 101
	d := f.config()
	d.MaxEvents = 101
	d.InFlight = 1
	tr := &recorder{}
	e, err := NewEngine(d, f.led, f.cursors, tr, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Drain(ctx))
	all := tr.all()
	require.Equal(t, 1, tr.sends)
	require.Len(t, all, 102)
	last := all[len(all)-1]
	require.Equal(t, KindCheckpoint, last.Kind)
	assert.Equal(t, uint64(101), last.Seq, "the checkpoint covers the whole batch")
}

// stateful is a recorder that keeps state with the cursor, as the file
// sink does: aux counts the records it holds.
type stateful struct {
	recorder
	resumed  []queue.Cursor
	resumeOK bool
	inSend   atomic.Int32
	overlap  atomic.Bool
}

func (s *stateful) Resume(cur queue.Cursor, ok bool) (uint64, error) {
	s.resumed, s.resumeOK = append(s.resumed, cur), ok
	return cur.Next, nil
}

func (s *stateful) Send(ctx context.Context, recs []Record) error {
	if s.inSend.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inSend.Add(-1)
	return s.recorder.Send(ctx, recs)
}

func (s *stateful) CursorAux() uint64 { return uint64(len(s.all())) }

// TestCursorState: a transport that keeps state with the cursor is resumed
// from the stored cursor, gets one batch at a time whatever in_flight
// says, and its aux value is stored with every cursor move, heartbeats
// included.
func TestCursorState(t *testing.T) {
	f := newFixture(t)
	f.append(t, 300)
	d := f.config()
	d.MaxEvents = 10
	d.InFlight = 4
	d.HeartbeatInterval = 20 * time.Millisecond
	tr := &stateful{}
	e, stop := f.start(t, d, tr)
	require.Len(t, tr.resumed, 1)
	assert.False(t, tr.resumeOK, "no cursor stored yet")
	waitFor(t, "every entry and a heartbeat", func() bool {
		if e.Next() != 301 {
			return false
		}
		for _, r := range tr.all() {
			if r.Kind == KindHeartbeat {
				return true
			}
		}
		return false
	})
	require.NoError(t, stop())
	assert.False(t, tr.overlap.Load(), "one Send at a time")
	cur, ok, err := f.cursors.Get(d.Key())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(301), cur.Next)
	assert.True(t, cur.HasAux)
	assert.Equal(t, uint64(len(tr.all())), cur.Aux, "the aux value after the last Send, heartbeat included")

	tr2 := &stateful{}
	e2, err := NewEngine(d, f.led, f.cursors, tr2, nil)
	require.NoError(t, err)
	defer e2.Close()
	require.Len(t, tr2.resumed, 1)
	assert.True(t, tr2.resumeOK)
	assert.Equal(t, cur, tr2.resumed[0])
}

// TestDeadLetterAfterTornLine: a parked record is never glued to a line a
// crash cut short in the dead-letter file.
func TestDeadLetterAfterTornLine(t *testing.T) {
	f := newFixture(t)
	f.append(t, 5)
	d := f.config()
	require.NoError(t, os.MkdirAll(filepath.Dir(d.DeadLetterPath), 0o700))
	require.NoError(t, os.WriteFile(d.DeadLetterPath, []byte(`{"time":"2026-03-01T10:00:00.000Z","sink":"test.t","seq":1,"id":"e0","ki`), 0o600))
	tr := &recorder{fail: func(n int, recs []Record) error {
		for i, r := range recs {
			if r.ID == "e3" {
				return ItemErrors{{i, Permanent(errors.New("refused"))}}
			}
		}
		return nil
	}}
	e, _ := f.start(t, d, tr)
	waitFor(t, "every entry", func() bool { return e.Next() == 6 })
	b, err := os.ReadFile(d.DeadLetterPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2, "the torn line is kept, the record on its own line")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	assert.Equal(t, "e3", m["id"])
}
