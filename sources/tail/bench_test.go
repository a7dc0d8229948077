package tail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keeptrusts/kt/ingest"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sources"
)

// benchEvent is the ~1 KB config.update of the ingest benchmarks; every
// "__ID__" is replaced by a unique id.
func benchEvent() []byte {
	b, _ := json.Marshal(map[string]any{
		"id":     "__ID__",
		"time":   "2026-03-01T10:00:00.123456Z",
		"action": "config.update",
		"actor":  map[string]any{"type": "user", "id": "usr_01H8A", "name": "alice@acme.example", "ip": "203.0.113.84", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		"target": map[string]any{"type": "config", "id": "cfg_gateway_prod", "name": "gateway-prod.yaml"},
		"org_id": "org_acme", "request_id": "req___ID__", "correlation_id": "corr_release_7",
		"changes": map[string]any{
			"before": map[string]any{"version": 3, "routes": []any{map[string]any{"name": "default", "model": "gpt-4o", "rate_limit": map[string]any{"rpm": 600, "burst": 50}}}},
			"after":  map[string]any{"version": 4, "routes": []any{map[string]any{"name": "default", "model": "gpt-4o", "rate_limit": map[string]any{"rpm": 900, "burst": 80}}, map[string]any{"name": "batch", "model": "claude-3-haiku"}}},
		},
		"region": "eu-west-1", "cluster": "prod-7", "ticket": "CHG-2291", "comment": strings.Repeat("rollout of the new rate limits; ", 6),
		"password": "hunter2-hunter2", "api_key": "k-1234567890abcdef",
	})
	return b
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRefusalCost runs the same number of ~1 KB lines through the
// file source, a real Normalizer and the real ledger (signed, fsync'd):
// all good, all bad (JSON cut short before its last byte, so the parser
// reads all of it before refusing it), half and half, and all bad with
// the text of every refused line kept. The dead letters keep their text
// through the Normalizer's RedactRaw. It reports lines/s and CPU µs per
// line (all threads of the process).
//
//	go test -run XXX -bench RefusalCost -benchtime 3x ./sources/tail/
func BenchmarkRefusalCost(b *testing.B) {
	const lines = 20000
	tmpl := benchEvent()
	for _, mix := range []struct {
		name     string
		bad      func(i int) bool
		textRate int // dead_letter_text_rate
	}{
		{"good", func(int) bool { return false }, 100},
		{"bad", func(int) bool { return true }, 100},
		{"half", func(i int) bool { return i%2 == 1 }, 100},
		// Every refused line keeps its redacted text: the cost the
		// sampling bounds.
		{"bad_every_text", func(int) bool { return true }, maxTextRate},
	} {
		b.Run(mix.name, func(b *testing.B) {
			var buf bytes.Buffer
			for i := range lines {
				line := bytes.ReplaceAll(tmpl, []byte("__ID__"), []byte("ev-"+strconv.Itoa(i)))
				if mix.bad(i) {
					line = line[:len(line)-1]
				}
				buf.Write(line)
				buf.WriteByte('\n')
			}
			var wall, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				path := filepath.Join(dir, "audit.log")
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					b.Fatal(err)
				}
				em, closeLedger := benchLedger(b, filepath.Join(dir, "data"))
				cfg := NewDefaultConfig()
				cfg.Name, cfg.Paths = "bench", []string{path}
				cfg.SetDataDir(filepath.Join(dir, "data"))
				cfg.DeadLetterTextRate = mix.textRate
				s, err := New(cfg, em, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				runtime.GC()
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime()
				go func() { done <- s.Run(ctx) }()
				for s.Emitted()+s.DeadLettered() < lines {
					time.Sleep(time.Millisecond)
				}
				wall += time.Since(t0)
				cpu += cpuTime() - c0
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				closeLedger()
				b.StartTimer()
			}
			n := float64(b.N * lines)
			b.ReportMetric(n/wall.Seconds(), "lines/s")
			b.ReportMetric(float64(cpu.Microseconds())/n, "CPU-µs/line")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func benchLedger(b testing.TB, dataDir string) (sources.Emitter, func()) {
	key := make([]byte, 32)
	rand.Read(key)
	opts := pipeline.NewDefaultOptions()
	opts.RedactKey = key
	opts.InvalidUTF8 = pipeline.UTF8Escape
	norm, err := pipeline.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	skey, _, err := ledger.GenerateKey(rand.Reader, "kt-bench")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	led, err := queue.Open(queue.Options{Dir: filepath.Join(dataDir, "ledger"), Signer: signer, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	// What the agent puts behind a file source: the real ingest path.
	return ingest.New(norm, led), func() { led.Close() }
}
