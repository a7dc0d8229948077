package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func BenchmarkAppend(b *testing.B) {
	opts := testOpts(b, b.TempDir())
	opts.CommitInterval = 0
	l, err := Open(opts)
	require.NoError(b, err)
	defer l.Close()
	body := bytes.Repeat([]byte("x"), 1000)
	var mu sync.Mutex
	var ctr int
	b.SetParallelism(8)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		recs := make([]Pending, 500)
		for pb.Next() {
			mu.Lock()
			ctr++
			c := ctr
			mu.Unlock()
			for i := range recs {
				id := fmt.Sprintf("b%d-%d", c, i)
				bd := fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, body[:1000-len(id)-20])
				recs[i] = Pending{ID: id, Digest: digest(bd), Body: bd}
			}
			if _, err := l.Append(context.Background(), recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(ctr*500)/time.Since(start).Seconds(), "entries/s")
}

// TestSyncFailure breaks the ledger with a failed fdatasync while many
// goroutines append: nothing acknowledged is lost after reopen, every Append
// after the failure returns ErrBroken, and reopen recovers a valid chain,
// also when the unsynced writes are lost (cut to a torn tail).
func TestSyncFailure(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lose=%v", lose), func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts(t, dir)
			l, err := Open(opts)
			require.NoError(t, err)
			var syncs atomic.Int32
			l.failSync = func() error {
				if syncs.Add(1) >= 20 {
					return errors.New("input/output error")
				}
				return nil
			}
			ctx := context.Background()
			type acked struct {
				id  string
				seq uint64
			}
			var mu sync.Mutex
			var ok []acked
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					after := 0 // Appends started after the failure
					for i := 0; after < 3; i++ {
						select {
						case <-l.Failed():
							after++
						default:
						}
						failed := after > 0
						recs := []Pending{pend(fmt.Sprintf("g%d-%d-a", g, i), i), pend(fmt.Sprintf("g%d-%d-b", g, i), i)}
						res, err := l.Append(ctx, recs)
						if failed {
							assert.ErrorIs(t, err, ErrBroken)
							continue
						}
						if err != nil {
							assert.ErrorIs(t, err, ErrBroken)
							continue
						}
						mu.Lock()
						for j, r := range recs {
							ok = append(ok, acked{r.ID, res.Seqs[j]})
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.ErrorIs(t, l.Err(), ErrBroken)
			require.NotEmpty(t, ok)
			size := l.Size()
			back := readAll(t, l, opts.Signer) // the published part only
			assert.Len(t, back.entries, int(size))
			l.mu.Lock()
			last := l.segs[len(l.segs)-1]
			l.mu.Unlock()
			require.ErrorIs(t, l.Close(), ErrBroken)

			if lose {
				// The pages not synced are lost, but for a torn piece.
				fi, err := os.Stat(last.path)
				require.NoError(t, err)
				require.Greater(t, fi.Size(), last.end+100)
				require.NoError(t, os.Truncate(last.path, last.end+100))
			}
			l2, err := Open(opts)
			require.NoError(t, err)
			defer l2.Close()
			back = readAll(t, l2, opts.Signer)
			seqOf := map[string]uint64{}
			for _, e := range back.entries {
				seqOf[bodyID(t, e)] = e.Seq
			}
			for _, a := range ok {
				seq, found := seqOf[a.id]
				if assert.True(t, found, "acknowledged %s lost", a.id) {
					assert.Equal(t, a.seq, seq, a.id)
				}
			}
			if lose {
				assert.Equal(t, size, l2.Size(), "the unsynced commits are cut")
			}
			_, err = l2.Append(ctx, []Pending{pend("after-restart", 1)})
			require.NoError(t, err)
			readAll(t, l2, opts.Signer)
		})
	}
}

// TestWriteFailureInPipeline fails a write while the commit before it is
// being synced: only the failed commit's Append gets ErrFull, the one before
// and the ones after it are acknowledged, and the seqs of the failed commit
// are given again.
func TestWriteFailureInPipeline(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	l, err := Open(opts)
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	var hold, failNext atomic.Bool
	l.failSync = func() error {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	}
	l.failWrite = func() error {
		if failNext.CompareAndSwap(true, false) {
			return errors.New("no space left on device")
		}
		return nil
	}
	ctx := context.Background()
	type result struct {
		res AppendResult
		err error
	}
	appendAsync := func(recs ...Pending) chan result {
		ch := make(chan result, 1)
		go func() {
			res, err := l.Append(ctx, recs)
			ch <- result{res, err}
		}()
		return ch
	}
	size := l.Size()
	hold.Store(true)
	a := appendAsync(pend("a1", 1), pend("a2", 1))
	<-entered // a is written, its fdatasync waits
	failNext.Store(true)
	b := appendAsync(pend("b1", 1), pend("a1", 1))
	close(release)
	ra := <-a
	require.NoError(t, ra.err)
	assert.Equal(t, size, ra.res.FirstSeq)
	rb := <-b
	require.ErrorIs(t, rb.err, ErrFull)
	assert.NoError(t, l.Err())

	c := appendAsync(pend("c1", 1))
	d := appendAsync(pend("d1", 1), pend("b1", 1))
	rc, rd := <-c, <-d
	require.NoError(t, rc.err)
	require.NoError(t, rd.err)
	assert.Equal(t, size+5, l.Size(), "a1 a2 c1 d1 b1")
	back := readAll(t, l, opts.Signer)
	ids := map[string]uint64{}
	for _, e := range back.entries {
		ids[bodyID(t, e)] = e.Seq
	}
	assert.Equal(t, size+2, min(ids["c1"], ids["d1"]), "the failed commit's seqs are given again")
	assert.EqualValues(t, 1, l.Stats().WriteErrors)
	require.NoError(t, l.Close())

	l2, err := Open(opts)
	require.NoError(t, err)
	defer l2.Close()
	assert.Len(t, readAll(t, l2, opts.Signer).entries, int(l2.Size()))
	assert.GreaterOrEqual(t, l2.Size(), size+5)
}
