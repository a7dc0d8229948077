package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

// runVerify runs kt verify with args and returns its exit code and output.
func runVerify(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	err := Execute(context.Background(), Build{}, append([]string{"verify"}, args...), &out, &errw)
	code := 0
	if err != nil {
		var ee *ExitError
		require.ErrorAs(t, err, &ee, "%v", err)
		code = ee.Code
		if ee.Err != nil {
			errw.WriteString(ee.Err.Error())
		}
	}
	return code, out.String(), errw.String()
}

// dataDir makes a data dir with a ledger of n events and returns it open,
// with the path of a trust file for its key.
func dataDir(t *testing.T, opts func(*queue.Options), n int) (string, *queue.Ledger, string) {
	t.Helper()
	dir := t.TempDir()
	skey, vkey, err := ledger.GenerateKey(rand.Reader, "kt-test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	o := queue.Options{Dir: layout.Ledger(dir), Signer: s, Version: "test", CommitInterval: time.Millisecond}
	if opts != nil {
		opts(&o)
	}
	l, err := queue.Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	appendEvents(t, l, "e", n)
	trust := filepath.Join(t.TempDir(), "trust.pub")
	require.NoError(t, os.WriteFile(trust, []byte(vkey+"\n"), 0o600))
	return dir, l, trust
}

func appendEvents(t *testing.T, l *queue.Ledger, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		body := fmt.Appendf(nil, `{"action":"auth.login","id":%q,"source":{"kind":"webhook","name":"w"}}`, id)
		_, err := l.Append(context.Background(), []queue.Pending{{ID: id, Body: body}})
		require.NoError(t, err)
	}
}

// TestVerifyReadsCheckpointFileFirst: the agent writes a newer checkpoint
// file between verify's reads. Read after the segments, it would cover
// entries verify did not read (TRUNCATED); read first, it never does.
func TestVerifyReadsCheckpointFileFirst(t *testing.T) {
	dir, l, trust := dataDir(t, nil, 5)
	defer func() { betweenReads = func() {} }()
	betweenReads = func() { appendEvents(t, l, "late", 3) }
	code, out, errw := runVerify(t, "--data-dir", dir, "--trust", trust)
	assert.Equal(t, 0, code, out+errw)
	assert.NotContains(t, out, "TRUNCATED")
}

// TestVerifyWhileAppending runs kt verify over a running ledger that
// appends and rolls segments all the while: no run finds anything but
// warnings.
func TestVerifyWhileAppending(t *testing.T) {
	dir, l, trust := dataDir(t, func(o *queue.Options) { o.SegmentBytes = 8 << 10 }, 3)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			appendEvents(t, l, fmt.Sprintf("w%d-", i), 2)
		}
	})
	// At least 15 runs, and on until the ledger has rolled segments
	// under them.
	for i := 0; i < 15 || l.Stats().Segments < 4; i++ {
		code, out, errw := runVerify(t, "--data-dir", dir, "--trust", trust, "-q")
		assert.Equal(t, 0, code, out+errw)
	}
	close(stop)
	wg.Wait()
}

// TestVerifyNothing: an input without entries is not "OK".
func TestVerifyNothing(t *testing.T) {
	_, l, trust := dataDir(t, nil, 2)
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty.ndjson")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	code, _, errw := runVerify(t, empty)
	assert.Equal(t, 2, code)
	assert.Contains(t, errw, "holds no ledger entries")
	code, _, errw = runVerify(t, "--trust", trust, empty)
	assert.Equal(t, 2, code)
	assert.Contains(t, errw, empty+" holds no ledger entries")

	// An anchor says there should be entries: TRUNCATED.
	anchor := filepath.Join(tmp, "anchor")
	require.NoError(t, os.WriteFile(anchor, l.LatestCheckpoint().Note, 0o600))
	code, out, _ := runVerify(t, "--trust", trust, "--anchors", anchor, empty)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "TRUNCATED")

	// A data dir without segments.
	dd := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(layout.Ledger(dd), "segments"), 0o700))
	code, _, errw = runVerify(t, "--trust", trust, "--data-dir", dd)
	assert.Equal(t, 2, code)
	assert.Contains(t, errw, "holds no ledger entries")
}

// TestVerifyTornCheckpointFile: a power cut can leave the local checkpoint
// file empty or torn: a warning, never tamper evidence.
func TestVerifyTornCheckpointFile(t *testing.T) {
	dir, l, trust := dataDir(t, nil, 4)
	require.NoError(t, l.Close())
	path := layout.LedgerCheckpoint(dir)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	for name, content := range map[string][]byte{
		"empty":          nil,
		"zeros":          make([]byte, len(good)),
		"torn":           good[:len(good)-20],
		"text only":      good[:bytes.Index(good, []byte("\n\n"))+1],
		"signature torn": append(bytes.Clone(good[:len(good)-10]), bytes.Repeat([]byte{'A'}, 9)...),
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, content, 0o600))
			code, out, errw := runVerify(t, "--data-dir", dir, "--trust", trust)
			assert.Equal(t, 0, code, out+errw)
		})
	}
	// Entries below a checkpoint in the file that verifies are missing:
	// that is no power cut.
	require.NoError(t, os.WriteFile(path, good, 0o600))
	segs, err := filepath.Glob(filepath.Join(layout.Ledger(dir), "segments", "*.seg"))
	require.NoError(t, err)
	require.NoError(t, os.Truncate(segs[len(segs)-1], 600))
	code, out, _ := runVerify(t, "--data-dir", dir, "--trust", trust)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "TRUNCATED")
}

// TestVerifyProducerCheckpointAction: an event whose action claims to be
// the ledger's checkpoint, with any content, is an event like any other.
func TestVerifyProducerCheckpointAction(t *testing.T) {
	dir, l, trust := dataDir(t, nil, 2)
	other := l.LatestCheckpoint().Note
	for i, body := range []string{
		`{"action":"ledger.checkpoint","id":"p1","source":{"kind":"webhook","name":"w"}}`,
		`{"action":"ledger.checkpoint","attributes":{"checkpoint":"garbage"},"category":"ledger","id":"p2","source":{"kind":"webhook","name":"w"}}`,
		fmt.Sprintf(`{"action":"ledger.checkpoint","attributes":{"checkpoint":%q,"source":{"kind":"ledger"}},"category":"ledger","id":"p3","source":{"kind":"file","name":"f"}}`, other),
		`{"action":"ledger.genesis","attributes":{"public_key":"x"},"id":"p4","source":{"kind":"webhook","name":"w"}}`,
	} {
		_, err := l.Append(context.Background(), []queue.Pending{{ID: fmt.Sprint("p", i+1), Body: []byte(body)}})
		require.NoError(t, err)
	}
	appendEvents(t, l, "after", 2)
	require.NoError(t, l.Close())
	code, out, errw := runVerify(t, "--data-dir", dir, "--trust", trust)
	assert.Equal(t, 0, code, out+errw)
	code, out, errw = runVerify(t, "--data-dir", dir)
	assert.Equal(t, 0, code, out+errw)
}
