// Package sinktest is the conformance suite of sink transports, and the
// fixtures their tests share.
//
// Run drives a transport through a real sinks.Engine over a real ledger
// (package queue) and checks, on what the receiver stored, the contract of
// sinks.Transport and sinks.Sink:
//
//   - order: the records of a batch arrive in ledger order, each batch
//     ends with a checkpoint record covering what came before it, and the
//     receiver's copy verifies;
//   - retries: transient failures, then success: nothing lost, nothing
//     stored twice, nothing reordered;
//   - item errors: the records the receiver refuses one by one are parked
//     in the dead-letter file with the reason, the rest are delivered once;
//   - permanent refusal: a request refused as a whole is split until the
//     refused records are found; only they are parked;
//   - restart at the cursor: a new Engine on the same ledger and cursors
//     resumes where the last one stopped; after a lost cursor move (a
//     crash) it sends again at most the batch that was in flight, each copy
//     identical;
//   - drain: Drain delivers everything committed, the ledger's last
//     checkpoint included, even once the ledger is closed;
//   - heartbeats when idle;
//   - Close twice.
//
// A transport's test gives Run a Receiver: an adapter that makes the
// transport (through the sink's Spec, as the agent does) and reads back
// what its receiver holds. What a receiver cannot do is a capability it
// does not have (a file cannot refuse one record): the subtests that need
// it are skipped, saying so. The fixtures are the records of a signed
// ledger for tests that call Send directly (NewRecords, SignRecords), an
// event body (Event), the check `kt verify` makes (Verify), and the
// helpers of the plugins' config tests (Block, ParseBlock,
// CheckMistakes).
package sinktest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
)

// Receiver is a transport's adapter for the suite: one receiver (a server,
// a file) that the transports it makes deliver to.
type Receiver interface {
	// Spec returns the sink's settings, as its plugin decodes them, and
	// how to make a transport that delivers to this receiver. The suite
	// calls New once for each Engine it starts (a restart makes a second
	// transport to the same receiver). It sets the data dir and changes
	// the Delivery's batch size, max_wait, retry and heartbeat_interval.
	Spec(t *testing.T) sinks.Spec
	// Stored returns what the receiver holds, in the order it stored it:
	// each record's Line, byte for byte, and every copy of a record sent
	// twice.
	Stored(t *testing.T) [][]byte
}

// Failer is a Receiver that can fail: the next n requests fail with an
// error a transport reports as retryable, and store nothing. 0 ends the
// failures.
type Failer interface {
	FailNext(n int)
}

// ItemRefuser is a Receiver that refuses records one by one: a request
// holding a record whose ID is in ids stores the others and refuses that
// one for good, which the transport reports as ItemErrors with a
// Permanent error.
type ItemRefuser interface {
	RefuseItems(ids ...string)
}

// BatchRefuser is a Receiver that refuses a whole request for good, without
// saying which record is at fault, when it holds a record whose ID is in
// ids; it stores nothing of it. The transport reports a Permanent error.
type BatchRefuser interface {
	RefuseBatches(ids ...string)
}

// Run runs the conformance suite. newReceiver makes a fresh receiver for
// each subtest.
func Run(t *testing.T, newReceiver func(t *testing.T) Receiver) {
	t.Run("order", func(t *testing.T) { testOrder(t, newReceiver(t)) })
	t.Run("retries", func(t *testing.T) { testRetries(t, newReceiver(t)) })
	t.Run("item errors", func(t *testing.T) { testItemErrors(t, newReceiver(t)) })
	t.Run("permanent refusal", func(t *testing.T) { testPermanent(t, newReceiver(t)) })
	t.Run("restart at the cursor", func(t *testing.T) { testRestart(t, newReceiver(t)) })
	t.Run("drain", func(t *testing.T) { testDrain(t, newReceiver(t)) })
	t.Run("heartbeat", func(t *testing.T) { testHeartbeat(t, newReceiver(t)) })
	t.Run("close twice", func(t *testing.T) { testClose(t, newReceiver(t)) })
}

// fixture is a ledger, its cursors and data dir, and a receiver.
type fixture struct {
	t        *testing.T
	r        Receiver
	led      *queue.Ledger
	keys     ledger.Keyring
	cursors  *queue.Cursors
	dir      string
	appended int // events appended; entry seq n is event n
}

func newFixture(t *testing.T, r Receiver) *fixture {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey(nil, "kt-sinktest")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	v, err := ledger.NewVerifier(vkey)
	require.NoError(t, err)
	keys := ledger.Keyring{}
	keys.Add(v)
	dir := t.TempDir()
	l, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "ledger"), Signer: s, Version: "sinktest"})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	c, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &fixture{t: t, r: r, led: l, keys: keys, cursors: c, dir: dir}
}

// id is the event id of entry seq (seq ≥ 1).
func id(seq int) string { return fmt.Sprintf("evt_%06d", seq) }

// append commits n more events.
func (f *fixture) append(n int) {
	f.t.Helper()
	recs := make([]queue.Pending, n)
	for i := range recs {
		seq := f.appended + i + 1
		body := Event(f.t, seq, id(seq), T0.Add(time.Duration(seq)*1517*time.Millisecond), "")
		sum := sha256.Sum256(body)
		recs[i] = queue.Pending{ID: id(seq), Body: body}
		copy(recs[i].Digest[:], sum[:])
	}
	f.appended += n
	_, err := f.led.Append(context.Background(), recs)
	require.NoError(f.t, err)
}

// spec returns the receiver's Spec with the suite's settings: batches of
// at most batch records, retries after 1 to 5 ms, no heartbeat unless set.
func (f *fixture) spec(batch int) sinks.Spec {
	f.t.Helper()
	sp := f.r.Spec(f.t)
	d := &sp.Delivery
	if d.Name == "" {
		d.Name = "conformance"
	}
	d.MaxEvents = batch
	d.MaxWait = 5 * time.Millisecond
	d.RetryInitial, d.RetryMax = time.Millisecond, 5*time.Millisecond
	d.HeartbeatInterval = time.Hour
	d.SetDataDir(f.dir)
	return sp
}

// engine makes an Engine with a new transport.
func (f *fixture) engine(sp sinks.Spec) *sinks.Engine {
	f.t.Helper()
	tr, err := sp.New(nil)
	require.NoError(f.t, err)
	e, err := sinks.NewEngine(sp.Delivery, f.led, f.cursors, tr, nil)
	if err != nil {
		tr.Close()
	}
	require.NoError(f.t, err)
	f.t.Cleanup(func() { e.Close() })
	return e
}

// run runs e until stop is called; stop returns Run's error.
func (f *fixture) run(e *sinks.Engine) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-errc
		}
		return err
	}
	f.t.Cleanup(func() { stop() })
	return stop
}

// drain drains e within 30 s.
func (f *fixture) drain(e *sinks.Engine) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(f.t, e.Drain(ctx))
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// stored is what the receiver holds, read.
type stored struct {
	lines   [][]byte
	entries []uint64 // seqs of the entry lines, in order
	// sizes of the checkpoint and heartbeat records, and the number of
	// entry lines before each
	checkpoints, heartbeats []record
}

type record struct {
	size   uint64
	before int
}

func (f *fixture) stored() stored {
	f.t.Helper()
	var s stored
	for _, l := range f.r.Stored(f.t) {
		s.lines = append(s.lines, l)
		if bytes.HasPrefix(l, []byte(`{"record":`)) {
			var r struct {
				Record string
				Size   uint64
			}
			require.NoError(f.t, json.Unmarshal(l, &r), "%s", l)
			rec := record{r.Size, len(s.entries)}
			switch r.Record {
			case "checkpoint":
				s.checkpoints = append(s.checkpoints, rec)
			case "heartbeat":
				s.heartbeats = append(s.heartbeats, rec)
			default:
				f.t.Fatalf("unknown record %q: %s", r.Record, l)
			}
			continue
		}
		e, err := ledger.ParseLine(l)
		require.NoError(f.t, err, "a stored line is a ledger line: %.200s", l)
		s.entries = append(s.entries, e.Seq)
	}
	return s
}

// seqs returns from, from+1, ..., to-1 without skip.
func seqs(from, to uint64, skip ...uint64) []uint64 {
	var out []uint64
	for s := from; s < to; s++ {
		if !slices.Contains(skip, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkCheckpoints checks that every checkpoint record covers only
// entries stored before it, and that the last record stored is a
// checkpoint covering every entry.
func (f *fixture) checkCheckpoints(s stored) {
	f.t.Helper()
	require.NotEmpty(f.t, s.checkpoints, "a batch ends with a checkpoint record")
	for _, c := range s.checkpoints {
		require.Positive(f.t, c.before, "a checkpoint record follows entries")
		assert.LessOrEqual(f.t, c.size, s.entries[c.before-1]+1, "a checkpoint record covers only the entries before it")
	}
	last := s.checkpoints[len(s.checkpoints)-1]
	assert.Equal(f.t, len(s.entries), last.before, "the last record is a checkpoint")
	assert.Equal(f.t, uint64(f.led.Size()), last.size, "covering every entry")
}

// deadLetters returns the records of the sink's dead-letter file.
func (f *fixture) deadLetters(path string) []deadLetter {
	f.t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(f.t, err)
	var out []deadLetter
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var d deadLetter
		require.NoError(f.t, json.Unmarshal(l, &d), "%s", l)
		out = append(out, d)
	}
	return out
}

type deadLetter struct {
	Sink, ID, Kind, Reason string
	Seq                    uint64
	Record                 json.RawMessage
}

func testOrder(t *testing.T, r Receiver) {
	f := newFixture(t, r)
	sp := f.spec(50)
	sp.Delivery.InFlight = 1 // batches arrive in order too
	e := f.engine(sp)
	f.append(20)
	stop := f.run(e)
	for range 8 {
		f.append(35) // while the engine runs
	}
	waitFor(t, "every entry", func() bool { return e.Next() == f.led.Size() })
	require.NoError(t, stop())
	s := f.stored()
	assert.Equal(t, seqs(0, f.led.Size()), s.entries, "every entry once, in ledger order")
	f.checkCheckpoints(s)
	f.verify(s.lines)
	st := e.Stats()
	assert.Equal(t, f.led.Size(), st.Sent)
	assert.Zero(t, st.Failed)
	assert.Zero(t, st.DeadLettered)
	cur, ok, err := f.cursors.Get(sp.Delivery.Key())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, f.led.Size(), cur.Next, "the cursor is stored")
}

func testRetries(t *testing.T, r Receiver) {
	fr, ok := r.(Failer)
	if !ok {
		t.Skip("the receiver cannot fail on demand")
	}
	f := newFixture(t, r)
	sp := f.spec(30)
	f.append(100)
	fr.FailNext(3)
	e := f.engine(sp)
	stop := f.run(e)
	waitFor(t, "every entry", func() bool { return e.Next() == f.led.Size() })
	fr.FailNext(2)
	f.append(40)
	waitFor(t, "every entry", func() bool { return e.Next() == f.led.Size() })
	require.NoError(t, stop())
	s := f.stored()
	got := slices.Clone(s.entries)
	if sp.Delivery.InFlight > 1 {
		// A batch retried may land after the next one; each is in order.
		slices.Sort(got)
	}
	assert.Equal(t, seqs(0, f.led.Size()), got, "every entry once: nothing lost, nothing doubled")
	f.verify(s.lines)
	st := e.Stats()
	assert.GreaterOrEqual(t, st.Failed, uint64(5))
	assert.Positive(t, st.Retried)
	assert.NotEmpty(t, st.LastError)
	assert.Zero(t, st.DeadLettered)
	assert.Equal(t, f.led.Size(), st.Sent)
}

func testItemErrors(t *testing.T, r Receiver) {
	ir, ok := r.(ItemRefuser)
	if !ok {
		t.Skip("the receiver cannot refuse one record (a file cannot)")
	}
	testRefusal(t, r, ir.RefuseItems, 40, 120, []uint64{7, 55, 56})
}

func testPermanent(t *testing.T, r Receiver) {
	br, ok := r.(BatchRefuser)
	if !ok {
		t.Skip("the receiver cannot refuse a request for good (a file cannot)")
	}
	testRefusal(t, r, br.RefuseBatches, 64, 200, []uint64{42, 43, 150})
}

// testRefusal has refuse make the receiver refuse the entries refused of
// a ledger of n events sent in batches of batch: they are parked, the
// others delivered once, in order.
func testRefusal(t *testing.T, r Receiver, refuse func(ids ...string), batch, n int, refused []uint64) {
	f := newFixture(t, r)
	sp := f.spec(batch)
	sp.Delivery.InFlight = 1
	f.append(n)
	var ids []string
	for _, seq := range refused {
		ids = append(ids, id(int(seq)))
	}
	refuse(ids...)
	e := f.engine(sp)
	stop := f.run(e)
	waitFor(t, "every entry delivered or parked", func() bool { return e.Next() == f.led.Size() })
	require.NoError(t, stop())
	s := f.stored()
	assert.Equal(t, seqs(0, f.led.Size(), refused...), s.entries, "the others once, in order")
	dl := f.checkParked(sp.Delivery, refused)
	f.verify(append(s.lines, dl...))
	st := e.Stats()
	assert.Equal(t, uint64(len(refused)), st.DeadLettered)
	assert.Equal(t, f.led.Size()-uint64(len(refused)), st.Sent)
}

// checkParked checks that the dead-letter file holds the entries seqs, in
// order, each with a reason and its ledger line, and returns the lines.
func (f *fixture) checkParked(d sinks.Delivery, want []uint64) [][]byte {
	f.t.Helper()
	dl := f.deadLetters(d.DeadLetterPath)
	require.Len(f.t, dl, len(want))
	var lines [][]byte
	for i, p := range dl {
		assert.Equal(f.t, d.Key(), p.Sink)
		assert.Equal(f.t, want[i], p.Seq)
		assert.Equal(f.t, id(int(want[i])), p.ID)
		assert.Equal(f.t, "entry", p.Kind)
		assert.NotEmpty(f.t, p.Reason, "the receiver's reason")
		e, err := ledger.ParseLine(p.Record)
		require.NoError(f.t, err, "the parked record is the ledger line")
		assert.Equal(f.t, want[i], e.Seq)
		lines = append(lines, p.Record)
	}
	return lines
}

func testRestart(t *testing.T, r Receiver) {
	f := newFixture(t, r)
	sp := f.spec(50)
	key := sp.Delivery.Key()

	// A clean stop: the next Engine sends nothing again.
	f.append(120)
	e := f.engine(sp)
	stop := f.run(e)
	waitFor(t, "every entry", func() bool { return e.Next() == f.led.Size() })
	require.NoError(t, stop())
	require.NoError(t, e.Close())
	f.append(60)
	e = f.engine(sp)
	assert.Equal(t, uint64(121), e.Next(), "it resumes at the cursor")
	f.drain(e)
	s := f.stored()
	assert.Equal(t, seqs(0, f.led.Size()), sorted(s.entries, sp.Delivery.InFlight), "every entry once")

	// A crash after a batch was delivered but before its cursor move was
	// stored: the batch in flight is all that is sent again.
	before, ok, err := f.cursors.Get(key)
	require.NoError(t, err)
	require.True(t, ok)
	f.append(40) // one batch
	f.drain(e)
	require.NoError(t, e.Close())
	require.NoError(t, f.cursors.Put(key, before))
	e = f.engine(sp)
	assert.Equal(t, before.Next, e.Next())
	f.drain(e)
	s = f.stored()
	got := map[uint64]int{}
	for _, seq := range s.entries {
		got[seq]++
	}
	again := 0
	for _, seq := range seqs(0, f.led.Size()) {
		switch n := got[seq]; {
		case n == 0:
			t.Errorf("entry %d was not delivered", seq)
		case n > 1:
			again += n - 1
			assert.GreaterOrEqual(t, seq, before.Next, "entry %d sent again was confirmed before the crash", seq)
		}
	}
	assert.LessOrEqual(t, again, 40, "at most the batch in flight is sent again")
	f.checkCopies(s.lines)
	f.verify(s.lines)
}

// sorted returns seqs sorted when batches may overtake each other.
func sorted(seqs []uint64, inFlight int) []uint64 {
	if inFlight > 1 {
		seqs = slices.Clone(seqs)
		slices.Sort(seqs)
	}
	return seqs
}

// verify checks lines (the receiver's copy, and parked records) as `kt
// verify` does once they are sorted by seq, as an operator exports them
// from a SIEM: batches sent at once, and records parked, may arrive out
// of order.
func (f *fixture) verify(lines [][]byte) {
	f.t.Helper()
	type line struct {
		seq uint64
		b   []byte
	}
	var ls []line
	for _, l := range lines {
		var seq uint64
		if !bytes.HasPrefix(l, []byte(`{"record":`)) {
			e, err := ledger.ParseLine(l)
			require.NoError(f.t, err)
			seq = e.Seq
		}
		ls = append(ls, line{seq, l})
	}
	slices.SortStableFunc(ls, func(a, b line) int { return cmp.Compare(a.seq, b.seq) })
	sorted := make([][]byte, len(ls))
	for i, l := range ls {
		sorted[i] = l.b
	}
	Verify(f.t, f.keys, sorted)
}

// checkCopies checks that every copy of an entry is the same line.
func (f *fixture) checkCopies(lines [][]byte) {
	f.t.Helper()
	first := map[uint64][]byte{}
	for _, l := range lines {
		if bytes.HasPrefix(l, []byte(`{"record":`)) {
			continue
		}
		e, err := ledger.ParseLine(l)
		require.NoError(f.t, err)
		if prev, ok := first[e.Seq]; ok {
			assert.Equal(f.t, string(prev), string(l), "a copy of entry %d is the same line", e.Seq)
		} else {
			first[e.Seq] = l
		}
	}
}

func testDrain(t *testing.T, r Receiver) {
	f := newFixture(t, r)
	sp := f.spec(64)
	sp.Delivery.MaxWait = time.Hour // Drain does not wait for it
	f.append(250)
	e := f.engine(sp)

	// A deadline that has passed: Drain says so, and sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, e.Drain(ctx), context.Canceled)
	assert.Empty(t, f.r.Stored(t))
	assert.Zero(t, e.Next())

	// As at shutdown: the ledger commits its final checkpoint and closes,
	// then the sink drains.
	require.NoError(t, f.led.Close())
	f.drain(e)
	assert.Equal(t, f.led.Size(), e.Next())
	s := f.stored()
	assert.Equal(t, seqs(0, f.led.Size()), sorted(s.entries, sp.Delivery.InFlight), "every entry once")
	if sp.Delivery.InFlight == 1 {
		f.checkCheckpoints(s)
	}
	f.verify(s.lines)
	next, ok, err := f.cursors.Load(sp.Delivery.Key())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, f.led.Size(), next)

	// Nothing to do: Drain returns at once, sending nothing.
	n := len(s.lines)
	f.drain(e)
	assert.Len(t, f.r.Stored(t), n)
}

func testHeartbeat(t *testing.T, r Receiver) {
	f := newFixture(t, r)
	sp := f.spec(64)
	sp.Delivery.HeartbeatInterval = 30 * time.Millisecond
	f.append(3)
	e := f.engine(sp)
	stop := f.run(e)
	waitFor(t, "two heartbeats", func() bool { return len(f.stored().heartbeats) >= 2 })
	require.NoError(t, stop())
	s := f.stored()
	assert.Equal(t, seqs(0, f.led.Size()), s.entries)
	for _, h := range s.heartbeats {
		assert.Equal(t, int(f.led.Size()), h.before, "heartbeats come when idle, after the entries")
		assert.Equal(t, f.led.Size(), h.size, "a heartbeat repeats the latest checkpoint")
	}
	f.verify(s.lines)
	for _, l := range s.lines {
		if bytes.Contains(l, []byte(`"record":"heartbeat"`)) {
			var h struct {
				Time       string
				Checkpoint string
			}
			require.NoError(t, json.Unmarshal(l, &h))
			_, err := time.Parse(time.RFC3339Nano, h.Time)
			assert.NoError(t, err)
			assert.True(t, strings.Contains(h.Checkpoint, "\n\n"), "a signed note")
		}
	}
}

func testClose(t *testing.T, r Receiver) {
	f := newFixture(t, r)
	sp := f.spec(64)
	f.append(5)
	e := f.engine(sp)
	f.drain(e)
	assert.NoError(t, e.Close())
	assert.NoError(t, e.Close(), "Close twice")

	tr, err := sp.New(nil)
	require.NoError(t, err)
	assert.NoError(t, tr.Close())
	assert.NoError(t, tr.Close(), "a transport's Close twice")
	ledgerLine := f.r.Stored(t)[1]
	assert.Error(t, tr.Send(context.Background(), []sinks.Record{{Kind: sinks.KindEntry, Seq: 1, ID: id(1), Line: ledgerLine}}), "Send after Close")
}
