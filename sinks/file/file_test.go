package file

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

func openLedger(t *testing.T) *queue.Ledger {
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

func TestResumeWithoutDoubles(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	cursors, err := queue.OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	cfg.Name, cfg.Path = "out", filepath.Join(dir, "out", "audit.ndjson")

	appendN(t, l, 0, 5)
	s, err := New(cfg, l, cursors, nil)
	require.NoError(t, err)
	require.NoError(t, s.Drain())
	require.NoError(t, s.Close())
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
	s, err = New(cfg, l, cursors, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), s.Next())
	require.NoError(t, s.Drain())
	require.NoError(t, s.Close())
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
	s, err := New(cfg, l, cursors, nil)
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for i := 0; i < 10; i++ {
		appendN(t, l, i*10, 10)
	}
	require.Eventually(t, func() bool { return s.Next() == l.Size() }, 10e9, 10e6)
	cancel()
	require.NoError(t, <-done)
	assert.Len(t, seqs(t, cfg.Path), 101)
}
