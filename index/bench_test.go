package index

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAdd indexes 100,000 entries of about 800 bytes in batches of
// 1,000 (one transaction each) into a new database on the disk, and
// reports rows/s and the database's bytes per row.
//
//	go test -run '^$' -bench Add -benchtime 3x ./index/
func BenchmarkAdd(b *testing.B) {
	const n, batch = 100000, 1000
	es := entries(b, 0, n)
	ctx := context.Background()
	var size int64
	for b.Loop() {
		b.StopTimer()
		dir, err := os.MkdirTemp("/var/tmp", "kt-index-bench-")
		if err != nil {
			b.Fatal(err)
		}
		x, err := Open(filepath.Join(dir, "events.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < n; i += batch {
			if _, err := x.Add(ctx, es[i:i+batch]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		x.Close()
		size = 0
		filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil && !fi.IsDir() {
				size += fi.Size()
			}
			return nil
		})
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size)/n, "bytes/row")
	b.ReportMetric(float64(len(es[0].Line)), "line-bytes")
	b.ReportMetric(0, "ns/op")
}
