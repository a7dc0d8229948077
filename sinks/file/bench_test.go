package file

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

// BenchmarkDrain drains a ledger of 20,000 events of about 1.2 KB (with
// their ledger fields) into a new output file, the way the agent catches
// up after downtime: batches of batch_events (4096), one fsync each.
// It reports entries written per second.
//
//	go test -run '^$' -bench Drain -count 5 ./sinks/file/
func BenchmarkDrain(b *testing.B) {
	const n = 20000
	l := openLedger(b)
	for i := 0; i < n; i += 1000 {
		recs := make([]queue.Pending, 1000)
		for j := range recs {
			seq := i + j + 1
			id := fmt.Sprintf("evt_%06d", seq)
			body := sinktest.Event(b, seq, id, sinktest.T0.Add(time.Duration(seq)*time.Second), "")
			sum := sha256.Sum256(body)
			recs[j] = queue.Pending{ID: id, Body: body}
			copy(recs[j].Digest[:], sum[:])
		}
		_, err := l.Append(context.Background(), recs)
		require.NoError(b, err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dir := b.TempDir()
		cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
		require.NoError(b, err)
		cfg := NewDefaultConfig()
		cfg.Name, cfg.Path = "out", filepath.Join(dir, "audit.ndjson")
		e := newEngine(b, cfg, l, cursors, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		require.NoError(b, e.Drain(ctx))
		cancel()
		require.Equal(b, l.Size(), e.Next())
		require.NoError(b, e.Close())
		cursors.Close()
	}
	b.ReportMetric(float64(b.N*int(l.Size()))/b.Elapsed().Seconds(), "entries/s")
}
