package index

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/dirlock"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
)

func openLedger(t *testing.T, dir string) *queue.Ledger {
	t.Helper()
	skey, _, err := ledger.GenerateKey(rand.Reader, "test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	l, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "ledger"), Signer: s, Version: "test"})
	require.NoError(t, err)
	return l
}

// appendEvents appends events from..from+n-1 (body(i)) to the ledger.
func appendEvents(t *testing.T, l *queue.Ledger, from, n int) {
	t.Helper()
	recs := make([]queue.Pending, n)
	for i := range recs {
		b := body(t, from+i)
		sum := sha256.Sum256(b)
		recs[i] = queue.Pending{ID: fmt.Sprintf("ev-%07d", from+i), Body: b}
		copy(recs[i].Digest[:], sum[:])
	}
	_, err := l.Append(context.Background(), recs)
	require.NoError(t, err)
}

// follow runs the index's Engine on l until ctx is done.
func follow(t *testing.T, ctx context.Context, dataDir string, l *queue.Ledger, x *Index) *sinks.Engine {
	t.Helper()
	cursors, err := queue.OpenCursors(filepath.Join(dataDir, "cursors"))
	require.NoError(t, err)
	t.Cleanup(func() { cursors.Close() })
	e, err := sinks.NewEngine(Delivery(dataDir), l, cursors, x.Transport(nil), nil)
	require.NoError(t, err)
	go e.Run(ctx)
	return e
}

func waitNext(t *testing.T, x *Index, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		next, err := x.Next(context.Background())
		require.NoError(t, err)
		if next >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index at %d, want %d", next, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowIndexesTheLedgerAndResumesFromItsOwnNext(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir)
	defer l.Close()
	x, err := Open(filepath.Join(dir, "index", "events.db"))
	require.NoError(t, err)

	appendEvents(t, l, 1, 600)
	ctx, cancel := context.WithCancel(context.Background())
	follow(t, ctx, dir, l, x)
	waitNext(t, x, l.Size())
	// Events that arrive while it runs are indexed too.
	appendEvents(t, l, 601, 400)
	waitNext(t, x, l.Size())
	cancel()

	// Every entry of the ledger, its line byte for byte.
	r, err := l.NewReader(0)
	require.NoError(t, err)
	n := 0
	for {
		it, err := r.Next()
		if err != nil {
			break
		}
		if it.Kind != queue.ItemEntry {
			continue
		}
		row, ok, err := x.Get(context.Background(), string(it.ID))
		require.NoError(t, err)
		require.True(t, ok, "seq %d", it.Seq)
		assert.Equal(t, it.Seq, row.Seq)
		assert.Equal(t, string(it.Line), string(row.Line))
		n++
	}
	r.Close()
	assert.Equal(t, int(l.Size()), n)

	// The index lost its last transactions (a power cut with
	// synchronous=NORMAL) while the cursor file kept its place: delivery
	// resumes from the index's own Next, so nothing is missing.
	_, err = x.db.Exec(`DELETE FROM events WHERE seq >= 900`)
	require.NoError(t, err)
	_, err = x.db.Exec(`UPDATE meta SET value = 900 WHERE key = 'next'`)
	require.NoError(t, err)
	require.NoError(t, x.Close())
	x, err = Open(filepath.Join(dir, "index", "events.db"))
	require.NoError(t, err)
	defer x.Close()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	follow(t, ctx, dir, l, x)
	waitNext(t, x, l.Size())
	var count int
	require.NoError(t, x.db.QueryRow(`SELECT count(*) FROM events`).Scan(&count))
	assert.Equal(t, int(l.Size()), count)
}

func TestRebuildFromTheLedgerAlone(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir)
	appendEvents(t, l, 1, 2500)
	require.NoError(t, l.Close())
	size := uint64(2502) // the genesis entry, 2,500 events, the final ledger.checkpoint entry of Close

	var calls int
	n, err := Rebuild(context.Background(), dir, func(uint64) { calls++ })
	require.NoError(t, err)
	assert.Equal(t, size, n, "every committed entry, the genesis entry included")
	assert.Positive(t, calls)
	x, err := Open(filepath.Join(dir, "index", "events.db"))
	require.NoError(t, err)
	next, err := x.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, size, next)
	res, err := x.Query(context.Background(), Filter{Actor: "usr_3"}, Page{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, res.Rows, 357) // i%7 == 3 for i in 1..2500
	require.NoError(t, x.Close())

	// Not while another process (an agent) holds the data dir.
	lock, err := dirlock.Acquire(filepath.Join(dir, "kt.lock"))
	require.NoError(t, err)
	defer lock.Release()
	_, err = Rebuild(context.Background(), dir, nil)
	assert.ErrorIs(t, err, dirlock.ErrLocked)
}

func TestFollowerYieldsToIngestButNotToShutdown(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	defer x.Close()
	calls := 0
	tr := x.Transport(func() bool { calls++; return true })
	es := entries(t, 0, 2000)
	recs := make([]sinks.Record, len(es))
	for i, e := range es {
		recs[i] = sinks.Record{Kind: sinks.KindEntry, Seq: e.Seq, Line: e.Line}
	}
	// The pause after a batch ends as soon as the sink is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Send(ctx, recs) }()
	require.Eventually(t, func() bool { n, _ := x.Next(context.Background()); return n == 2000 }, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "the batch was indexed")
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context was done")
	}
	assert.Equal(t, 1, calls, "busy is asked once a batch")
}
