package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/kt/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func testSigner(t testing.TB) *ledger.Signer {
	t.Helper()
	skey, _, err := ledger.GenerateKey(zeroReader{}, "kt-test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	return s
}

func testOpts(t testing.TB, dir string) Options {
	return Options{Dir: dir, Signer: testSigner(t), Version: "test", CommitInterval: time.Millisecond}
}

func pend(id string, n int) Pending {
	body := fmt.Appendf(nil, `{"id":%q,"n":%d}`, id, n)
	return Pending{ID: id, Digest: digest(body), Body: body}
}

func digest(b []byte) (d [16]byte) {
	s := sha256.Sum256(b)
	copy(d[:], s[:])
	return d
}

type readBack struct {
	entries []*ledger.Entry
	cps     []*ledger.Checkpoint
	gaps    [][2]uint64 // first and last seq of each run of seqs the reader skipped
}

// readAll reads the committed records of l and checks the chain, the
// signatures and every checkpoint root. Seqs may jump only where Open
// reported damage; the tree then gets placeholder leaves for the missing
// seqs (the zero entry hash), as the ledger's does, and the first entry
// after a gap is not chain-checked.
func readAll(t *testing.T, l *Ledger, s *ledger.Signer) readBack {
	t.Helper()
	r, err := l.NewReader(0)
	require.NoError(t, err)
	defer r.Close()
	v, err := ledger.NewVerifier(s.VerifierKey())
	require.NoError(t, err)
	var out readBack
	var tree ledger.Tree
	var prev ledger.Hash
	var next uint64 // the next seq
	gap := func(to uint64) {
		if to == next {
			return
		}
		require.Greater(t, to, next, "seqs increase")
		require.NotEmpty(t, l.Damage(), "seqs %d..%d missing, but no damage reported", next, to-1)
		out.gaps = append(out.gaps, [2]uint64{next, to - 1})
		for ; next < to; next++ {
			tree.Append(ledger.Hash{})
		}
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch rec.Kind {
		case ItemEntry:
			e, err := ledger.ParseLine(rec.Line)
			require.NoError(t, err, "%s", rec.Line)
			require.Equal(t, rec.Seq, e.Seq)
			if e.Seq == next {
				require.Equal(t, prev, e.PrevHash, "seq %d", e.Seq)
			} else {
				gap(e.Seq)
			}
			require.Equal(t, e.ComputeHash(), e.Hash, "seq %d", e.Seq)
			require.True(t, v.VerifyHash(e.Hash, e.Sig), "seq %d", e.Seq)
			require.Equal(t, s.KeyID(), e.KeyID)
			prev = e.Hash
			tree.Append(e.Hash)
			next++
			out.entries = append(out.entries, e)
		case ItemCheckpoint:
			c, err := ledger.OpenCheckpoint(rec.Checkpoint.Note, ledger.Keyring{v.KeyID(): v})
			require.NoError(t, err)
			if c.Size > tree.Size() {
				gap(uint64(c.Size)) // entries lost at the end
			}
			root, err := tree.Root(c.Size)
			require.NoError(t, err)
			require.Equal(t, root, c.Root, "checkpoint size %d", c.Size)
			require.Equal(t, c.Root, rec.Checkpoint.Root)
			out.cps = append(out.cps, c)
		}
	}
	gap(l.Size())
	return out
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	opts.SegmentBytes = 16 << 10 // force several segments
	l, err := Open(opts)
	require.NoError(t, err)
	require.NotEmpty(t, l.LedgerID())
	const G, N, B = 8, 20, 7
	var wg sync.WaitGroup
	seqs := make(map[string]uint64)
	var mu sync.Mutex
	for g := range G {
		wg.Go(func() {
			for n := range N {
				var recs []Pending
				for b := range B {
					recs = append(recs, pend(fmt.Sprintf("g%d-n%d-b%d", g, n, b), n))
				}
				res, err := l.Append(context.Background(), recs)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, B, res.New)
				mu.Lock()
				for i, r := range recs {
					seqs[r.ID] = res.Seqs[i]
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "second Close")
	_, err = l.Append(context.Background(), []Pending{pend("late", 0)})
	require.ErrorIs(t, err, ErrClosed)

	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	rb := readAll(t, l, opts.Signer)
	// genesis + events + final checkpoint entry
	require.Len(t, rb.entries, 1+G*N*B+1)
	require.Contains(t, string(rb.entries[0].Body), `"action":"ledger.genesis"`)
	require.Contains(t, string(rb.entries[0].Body), opts.Signer.VerifierKey())
	last := rb.entries[len(rb.entries)-1]
	require.Contains(t, string(last.Body), `"action":"ledger.checkpoint"`)
	require.Contains(t, string(last.Body), fmt.Sprintf(`"tree_size":%d`, last.Seq))
	for id, seq := range seqs {
		require.Contains(t, string(rb.entries[seq].Body), id)
	}
	require.NotEmpty(t, rb.cps)
	require.Equal(t, int64(l.Size()), l.LatestCheckpoint().Size)
	require.Greater(t, l.Stats().Segments, 1)
	anchor, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	require.NoError(t, err)
	require.Equal(t, l.LatestCheckpoint().Note, anchor)

	// Readers from the middle, and waiting for new data.
	r, err := l.NewReader(100)
	require.NoError(t, err)
	rec, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, uint64(100), rec.Seq)
	for err == nil {
		_, err = r.Next()
	}
	require.ErrorIs(t, err, io.EOF)
	ch := l.Changed()
	_, err = l.Append(context.Background(), []Pending{pend("more", 1)})
	require.NoError(t, err)
	<-ch
	var got []Item
	for {
		rec, err := r.Next()
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		got = append(got, rec)
	}
	require.Len(t, got, 2)
	require.Equal(t, l.Size()-1, got[0].Seq)
	require.Equal(t, ItemCheckpoint, got[1].Kind)
	require.NoError(t, r.Close())
}

func TestDedupeConflict(t *testing.T) {
	opts := testOpts(t, t.TempDir())
	l, err := Open(opts)
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	a, b := pend("a", 1), pend("b", 1)
	res, err := l.Append(ctx, []Pending{a, b, a})
	require.NoError(t, err)
	assert.Equal(t, 2, res.New)
	assert.Equal(t, 1, res.Duplicates)
	assert.Equal(t, []uint64{1, 2, 1}, res.Seqs)
	assert.Equal(t, uint64(1), res.FirstSeq)
	assert.Equal(t, uint64(2), res.LastSeq)

	res, err = l.Append(ctx, []Pending{b, pend("c", 1)})
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, res.Seqs)
	assert.Equal(t, 1, res.New)

	size := l.Size()
	_, err = l.Append(ctx, []Pending{pend("d", 1), pend("a", 2)})
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Index)
	assert.Equal(t, uint64(1), ce.Seq)
	_, err = l.Append(ctx, []Pending{pend("e", 1), pend("e", 2)})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 0, ce.Earlier)
	assert.Equal(t, size, l.Size(), "nothing of a conflicting call is written")
	st := l.Stats()
	assert.Equal(t, uint64(2), st.Conflicts)
	assert.Equal(t, uint64(2), st.Duplicates)

	// The index survives a reopen.
	require.NoError(t, l.Close())
	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	res, err = l.Append(ctx, []Pending{b})
	require.NoError(t, err)
	assert.Equal(t, []uint64{2}, res.Seqs)
	_, err = l.Append(ctx, []Pending{pend("b", 9)})
	require.ErrorAs(t, err, &ce)
}

func TestErrFull(t *testing.T) {
	opts := testOpts(t, t.TempDir())
	opts.MaxPending = 3
	l, err := Open(opts)
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	_, err = l.Append(ctx, []Pending{pend("a", 1), pend("b", 1), pend("c", 1), pend("d", 1)})
	require.ErrorIs(t, err, ErrFull)

	// A disk failure: nothing acknowledged, the tip rolls back.
	size := l.Size()
	l.failWrite = func() error { return errors.New("no space left on device") }
	_, err = l.Append(ctx, []Pending{pend("x", 1)})
	require.ErrorIs(t, err, ErrFull)
	assert.Equal(t, size, l.Size())
	l.failWrite = nil
	res, err := l.Append(ctx, []Pending{pend("x", 1)})
	require.NoError(t, err)
	assert.Equal(t, size, res.FirstSeq)
	readAll(t, l, opts.Signer)
}

// lastSegment returns the path of the newest segment.
func lastSegment(t *testing.T, dir string) string {
	segs, err := listSegments(filepath.Join(dir, "segments"))
	require.NoError(t, err)
	return segs[len(segs)-1].path
}

// frameOffsets returns the frame start offsets of a segment file.
func frameOffsets(t testing.TB, path string) []int {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var offs []int
	_, err = scanSegment("x", b, func(off int, _ byte, _ []byte) error { offs = append(offs, off); return nil })
	require.NoError(t, err)
	return offs
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

// frameAt is a valid frame of a segment file.
type frameAt struct {
	off  int
	typ  byte
	kind byte   // entries
	seq  uint64 // entries
}

func segFrames(t *testing.T, path string) []frameAt {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []frameAt
	var e wentry
	_, err = scanSegment("x", b, func(off int, typ byte, p []byte) error {
		f := frameAt{off: off, typ: typ}
		if typ == frameEntry {
			decodeEntry(p, &e)
			f.kind, f.seq = e.kind, e.seq
		}
		out = append(out, f)
		return nil
	})
	require.NoError(t, err)
	return out
}

// scanLines returns the entry lines of the ledger in dir by seq, the damage,
// and fails on two checkpoint frames that sign different roots for one size
// (kt verify would report a FORK).
func scanLines(t *testing.T, dir string) (map[uint64]string, []Damage) {
	t.Helper()
	lines := map[uint64]string{}
	roots := map[int64][32]byte{}
	dmg, err := Scan(dir, func(r Item) error {
		switch r.Kind {
		case ItemEntry:
			lines[r.Seq] = string(r.Line)
		case ItemCheckpoint:
			if root, ok := roots[r.Checkpoint.Size]; ok {
				require.Equal(t, root, [32]byte(r.Checkpoint.Root), "two roots for size %d", r.Checkpoint.Size)
			}
			roots[r.Checkpoint.Size] = r.Checkpoint.Root
		}
		return nil
	})
	require.NoError(t, err)
	return lines, dmg
}

// bodyID returns the "id" member of an entry's body.
func bodyID(t *testing.T, e *ledger.Entry) string {
	var b struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(e.Body, &b))
	return b.ID
}
