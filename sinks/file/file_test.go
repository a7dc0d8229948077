package file

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

func openLedger(t testing.TB) *queue.Ledger {
	t.Helper()
	skey, _, err := ledger.GenerateKey(rand.Reader, "test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	l, err := queue.Open(queue.Options{Dir: filepath.Join(t.TempDir(), "ledger"), Signer: s, Version: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *queue.Ledger, from, n int) {
	t.Helper()
	recs := make([]queue.Pending, n)
	for i := range recs {
		id := fmt.Sprintf("e%d", from+i)
		recs[i] = queue.Pending{ID: id, Body: []byte(fmt.Sprintf(`{"id":%q}`, id))}
		recs[i].Digest[0] = byte(i)
	}
	_, err := l.Append(context.Background(), recs)
	require.NoError(t, err)
}

// newEngine starts the sink of cfg as the agent does: its Spec, its
// transport on an Engine.
func newEngine(t testing.TB, cfg Config, l *queue.Ledger, cursors *queue.Cursors, log *slog.Logger) *sinks.Engine {
	t.Helper()
	sp := sinks.SpecOf(cfg, cfg.Delivery(), NewTransport)
	sp.Delivery.SetDataDir(t.TempDir())
	tr, err := sp.New(log)
	require.NoError(t, err)
	e, err := sinks.NewEngine(sp.Delivery, l, cursors, tr, log)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

func drain(t *testing.T, e *sinks.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	require.NoError(t, e.Drain(ctx))
}

// seqs returns the seq of every entry line of the output, in order.
func seqs(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []uint64
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, `{"record":`) {
			continue
		}
		e, err := ledger.ParseLine([]byte(line))
		require.NoError(t, err, line)
		out = append(out, e.Seq)
	}
	return out
}

// receiver is the conformance suite's adapter: the output file. A write
// it is told to fail gets half the batch onto the disk and then fails as
// a full disk does; a file cannot refuse one record.
type receiver struct {
	path string
	mu   sync.Mutex
	fail int
}

func (r *receiver) Spec(t *testing.T) sinks.Spec {
	c := NewDefaultConfig()
	c.Name, c.Path = "out", r.path
	sp := sinks.SpecOf(c, c.Delivery(), NewTransport)
	sp.New = func(log *slog.Logger) (sinks.Transport, error) {
		tr, err := NewTransport(c, log)
		if err != nil {
			return nil, err
		}
		tr.writeAt = r.writeAt
		return tr, nil
	}
	return sp
}

func (r *receiver) writeAt(f *os.File, b []byte, off int64) (int, error) {
	r.mu.Lock()
	failing := r.fail > 0
	if failing {
		r.fail--
	}
	r.mu.Unlock()
	if failing {
		n, _ := f.WriteAt(b[:len(b)/2], off)
		return n, fmt.Errorf("write %s: %w", f.Name(), syscall.ENOSPC)
	}
	return f.WriteAt(b, off)
}

func (r *receiver) FailNext(n int) { r.mu.Lock(); r.fail = n; r.mu.Unlock() }

func (r *receiver) Stored(t *testing.T) [][]byte {
	b, err := os.ReadFile(r.path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	if len(b) == 0 {
		return nil
	}
	require.True(t, bytes.HasSuffix(b, []byte("\n")), "the file ends with a complete line")
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Receiver {
		return &receiver{path: filepath.Join(t.TempDir(), "out", "audit.ndjson")}
	})
}

func TestResumeWithoutDoubles(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	cfg.Name, cfg.Path = "out", filepath.Join(dir, "out", "audit.ndjson")

	appendN(t, l, 0, 5)
	e := newEngine(t, cfg, l, cursors, nil)
	drain(t, e)
	require.NoError(t, e.Close())
	assert.Equal(t, []uint64{0, 1, 2, 3, 4, 5}, seqs(t, cfg.Path))
	out, _ := os.ReadFile(cfg.Path)
	assert.Contains(t, string(out), `{"record":"checkpoint","size":6,`)

	// A crash after the write but before the cursor moved, and a torn
	// half line at the end: the next start cuts the half line and skips
	// what the file already holds.
	require.NoError(t, cursors.Store("file.out", 2))
	f, err := os.OpenFile(cfg.Path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":6,"prev_hash":"ab`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	appendN(t, l, 5, 3)
	e = newEngine(t, cfg, l, cursors, nil)
	assert.Equal(t, uint64(6), e.Next())
	drain(t, e)
	require.NoError(t, e.Close())
	assert.Equal(t, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8}, seqs(t, cfg.Path))
	next, ok, err := cursors.Load("file.out")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(9), next)
}

func TestRunFollowsCommits(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	cfg.Name, cfg.Path = "out", filepath.Join(dir, "audit.ndjson")
	e := newEngine(t, cfg, l, cursors, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	for i := 0; i < 10; i++ {
		appendN(t, l, i*10, 10)
	}
	require.Eventually(t, func() bool { return e.Next() == l.Size() }, 10e9, 10e6)
	cancel()
	require.NoError(t, <-done)
	assert.Len(t, seqs(t, cfg.Path), 101)
}

// TestBatchEvents: batch_events bounds a batch, and each batch ends with
// the checkpoint record that covers it, as `kt verify` reads the file.
func TestBatchEvents(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	cfg.Name, cfg.Path, cfg.BatchEvents = "out", filepath.Join(dir, "audit.ndjson"), 10
	for i := range 5 {
		appendN(t, l, i*10, 10)
	}
	e := newEngine(t, cfg, l, cursors, nil)
	drain(t, e)
	b, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)
	run := 0
	var cps []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, `{"record":"checkpoint"`) {
			cps = append(cps, line)
			run = 0
			continue
		}
		run++
		assert.LessOrEqual(t, run, 10, "at most batch_events entries between two checkpoint records")
	}
	assert.Zero(t, run, "the file ends with a checkpoint record")
	assert.Contains(t, cps[len(cps)-1], `"size":51,`)
}

// TestHeartbeatKeptAcrossRestart: a heartbeat record moves no entry
// cursor, but the file's size is stored with the cursor after it, so a
// restart does not take it for the torn end of a batch.
func TestHeartbeatKeptAcrossRestart(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	cfg.Name, cfg.Path, cfg.HeartbeatInterval = "out", filepath.Join(dir, "audit.ndjson"), 20*time.Millisecond
	appendN(t, l, 0, 3)
	e := newEngine(t, cfg, l, cursors, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(cfg.Path)
		return strings.Count(string(b), `{"record":"heartbeat"`) >= 2
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, e.Close())
	b, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)
	cur, ok, err := cursors.Get("file.out")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(len(b)), cur.Aux, "the cursor keeps the size after the last heartbeat")

	var logs bytes.Buffer
	newEngine(t, cfg, l, cursors, slog.New(slog.NewTextHandler(&logs, nil)))
	after, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)
	assert.Equal(t, string(b), string(after), "nothing is cut at the restart")
	assert.NotContains(t, logs.String(), "cutting")
}

// crashAfterBatch delivers the ledger's entries from a sink that stores
// its cursor with the file size, then writes a further batch whose cursor
// move a crash loses: the cursor file is put back as it was, and mangle
// changes the bytes of the lost batch as a power cut can.
func crashAfterBatch(t *testing.T, mangle func(b []byte, synced int)) (cfg Config, l *queue.Ledger, cursors *queue.Cursors, logs *bytes.Buffer) {
	t.Helper()
	l = openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg = NewDefaultConfig()
	cfg.Name, cfg.Path = "out", filepath.Join(dir, "out", "audit.ndjson")
	appendN(t, l, 0, 40)
	e := newEngine(t, cfg, l, cursors, nil)
	drain(t, e)
	cur, ok, err := cursors.Get("file.out")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, cur.HasAux)
	synced := int(cur.Aux)
	saved, err := os.ReadFile(filepath.Join(dir, "cursors", "file.out.cursor"))
	require.NoError(t, err)
	for i := range 30 { // a batch of several pages
		appendN(t, l, 100+i*10, 10)
	}
	drain(t, e)
	require.NoError(t, e.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cursors", "file.out.cursor"), saved, 0o600))
	b, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)
	require.Greater(t, len(b), synced+3*4096)
	mangle(b, synced)
	require.NoError(t, os.WriteFile(cfg.Path, b, 0o640))
	logs = &bytes.Buffer{}
	return cfg, l, cursors, logs
}

// TestCrashTailRewritten: whatever a crash leaves after the last batch
// whose cursor moved — zeros before a complete line, a torn line — is cut
// and written again: every entry once, in order, no zeros.
func TestCrashTailRewritten(t *testing.T) {
	for name, mangle := range map[string]func([]byte, int){
		"zero pages before the last complete line": func(b []byte, synced int) {
			from := (synced + 4095) / 4096 * 4096
			clear(b[from : from+2*4096])
		},
		"zeros right after the synced part": func(b []byte, synced int) { clear(b[synced : synced+100]) },
		"torn last line":                    func(b []byte, _ int) { clear(b[len(b)-30:]) },
		"the whole batch kept":              func([]byte, int) {},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, l, cursors, logs := crashAfterBatch(t, mangle)
			e := newEngine(t, cfg, l, cursors, slog.New(slog.NewTextHandler(logs, nil)))
			drain(t, e)
			require.NoError(t, e.Close())
			out, err := os.ReadFile(cfg.Path)
			require.NoError(t, err)
			assert.NotContains(t, string(out), "\x00")
			want := make([]uint64, l.Size())
			for i := range want {
				want[i] = uint64(i)
			}
			assert.Equal(t, want, seqs(t, cfg.Path))
			assert.NotContains(t, logs.String(), "level=ERROR")
		})
	}
}

// TestSyncedDamageReported: zeros in the part of the file that was
// fsync'd are no crash: the start reports them, and cuts nothing.
func TestSyncedDamageReported(t *testing.T) {
	cfg, l, cursors, logs := crashAfterBatch(t, func(b []byte, synced int) { clear(b[synced-300 : synced-200]) })
	e := newEngine(t, cfg, l, cursors, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, e.Close())
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "zero bytes at offset")
}

// TestNewFileGoesOnFromCursor: an output file moved away is started anew
// from the cursor; one cut short of what was synced is reported.
func TestNewFileGoesOnFromCursor(t *testing.T) {
	cfg, l, cursors, logs := crashAfterBatch(t, func([]byte, int) {})
	require.NoError(t, os.Rename(cfg.Path, cfg.Path+".1"))
	e := newEngine(t, cfg, l, cursors, slog.New(slog.NewTextHandler(logs, nil)))
	assert.Equal(t, uint64(41), e.Next())
	require.NoError(t, e.Close())
	assert.Contains(t, logs.String(), "the output file is new")

	b, err := os.ReadFile(cfg.Path + ".1")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg.Path, b[:1000], 0o640))
	require.NoError(t, cursors.Put("file.out", queue.Cursor{Next: 41, Aux: 1 << 20, HasAux: true}))
	logs.Reset()
	e = newEngine(t, cfg, l, cursors, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, e.Close())
	assert.Contains(t, logs.String(), "shorter than what was written and fsync'd")
}

func TestNewTransportValidates(t *testing.T) {
	_, err := NewTransport(Config{Name: "out"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file out: path: path must name the output file.")
	assert.Contains(t, err.Error(), "batch_events")
}
