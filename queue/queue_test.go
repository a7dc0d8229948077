package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
		case KindEntry:
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
		case KindCheckpoint:
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
	var got []Record
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
	require.Equal(t, KindCheckpoint, got[1].Kind)
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

func TestCursors(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	_, ok, err := c.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Store("splunk_hec.soc", 42))
	require.NoError(t, c.Store("splunk_hec.soc", 43))
	n, ok, err := c.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(43), n)
	fi, err := os.Stat(filepath.Join(dir, "cursors", "splunk_hec.soc.cursor"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	des, err := os.ReadDir(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	assert.Len(t, des, 1, "no temp files left")
	require.Error(t, c.Store("../x", 1))
	for i := range 5 {
		require.NoError(t, c.Store("splunk_hec.soc", uint64(100+i)))
	}
	require.NoError(t, c.Close())

	// A torn write of the newest slot leaves the one before.
	p := filepath.Join(dir, "cursors", "splunk_hec.soc.cursor")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Len(t, b, 64)
	c2, err := OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(104), n)
	newest := 0
	if binary.LittleEndian.Uint64(b[36:]) > binary.LittleEndian.Uint64(b[4:]) {
		newest = 32
	}
	b[newest+13] ^= 0xff
	require.NoError(t, os.WriteFile(p, b, 0o600))
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(103), n)
	require.NoError(t, c2.Store("splunk_hec.soc", 105))
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(105), n)

	// The old text format is read, and replaced at the next store.
	old := filepath.Join(dir, "cursors", "file.out.cursor")
	require.NoError(t, os.WriteFile(old, []byte("77\n"), 0o600))
	n, ok, err = c2.Load("file.out")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(77), n)
	require.NoError(t, c2.Store("file.out", 78))
	n, _, err = c2.Load("file.out")
	require.NoError(t, err)
	assert.Equal(t, uint64(78), n)

	// Both slots damaged: a clear error, not a silent restart from 0.
	require.NoError(t, os.WriteFile(old, make([]byte, 64), 0o600))
	_, _, err = c2.Load("file.out")
	require.ErrorContains(t, err, "no valid slot")
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

func TestTornTail(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 5 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i), pend(fmt.Sprint("f", i), i)})
		require.NoError(t, err)
	}
	acked := l.Size()
	require.NoError(t, l.Close()) // adds a checkpoint entry
	seg := lastSegment(t, base)
	full, err := os.ReadFile(seg)
	require.NoError(t, err)
	offs := frameOffsets(t, seg)
	// Cut at every byte of the last 5 frames: the ones written by Close
	// (checkpoint entry + checkpoint) and the last Append's. A cut inside
	// Close's commit is a crash; a cut before it loses acknowledged data
	// (not a crash) but must still recover cleanly.
	start := offs[len(offs)-5]
	closeCommit := offs[len(offs)-2]
	for cut := start; cut <= len(full); cut++ {
		dir := t.TempDir()
		copyDir(t, base, dir)
		require.NoError(t, os.WriteFile(lastSegment(t, dir), full[:cut], 0o600))
		o := opts
		o.Dir = dir
		l, err := Open(o)
		require.NoError(t, err, "cut %d", cut)
		if cut >= closeCommit {
			require.GreaterOrEqual(t, l.Size(), acked, "cut %d: acknowledged entries kept", cut)
		}
		rb := readAll(t, l, opts.Signer)
		if cut%7 != 0 && cut != len(full) {
			require.NoError(t, l.Close())
			continue // the full append-and-reopen check on a sample of cuts
		}
		_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
		require.NoError(t, err)
		require.NoError(t, l.Close())
		l, err = Open(o)
		require.NoError(t, err)
		rb2 := readAll(t, l, opts.Signer)
		require.Len(t, rb2.entries, len(rb.entries)+2) // + "after" + checkpoint entry
		require.NoError(t, l.Close())
		dmg, err := Scan(dir, func(Record) error { return nil })
		require.NoError(t, err)
		require.Empty(t, dmg, "cut %d", cut)
	}
	// Garbage appended. A stale copy of a frame is no crash: it is
	// recorded as damage, with a ledger.damage entry.
	for i, junk := range [][]byte{bytes.Repeat([]byte{0}, 100), []byte("garbage"), full[offs[2]:offs[3]]} {
		dir := t.TempDir()
		copyDir(t, base, dir)
		f, err := os.OpenFile(lastSegment(t, dir), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(junk)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		o := opts
		o.Dir = dir
		l, err := Open(o)
		require.NoError(t, err)
		stale := 0
		if i == 2 {
			stale = 1
		}
		require.Len(t, l.Damage(), stale)
		require.Equal(t, acked+1+uint64(stale), l.Size())
		readAll(t, l, opts.Signer)
		require.NoError(t, l.Close())
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

func TestDamageInMiddle(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 10 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
		require.NoError(t, err)
	}
	size := l.Size()
	require.NoError(t, l.Close())
	seg := lastSegment(t, base)
	offs := frameOffsets(t, seg)
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	b[offs[5]+20] ^= 0xff // flip a byte inside frame 5 (an entry or checkpoint)
	require.NoError(t, os.WriteFile(seg, b, 0o600))
	before, err := os.ReadFile(seg)
	require.NoError(t, err)

	var n int
	dmg, err := Scan(base, func(Record) error { n++; return nil })
	require.NoError(t, err)
	require.Len(t, dmg, 1)
	assert.Equal(t, CorruptFrame, dmg[0].Kind)
	assert.Equal(t, int64(offs[5]), dmg[0].Offset)
	assert.Equal(t, int64(offs[6]-offs[5]), dmg[0].Bytes)
	assert.Equal(t, len(offs)-1, n)
	after, err := os.ReadFile(seg)
	require.NoError(t, err)
	require.Equal(t, before, after, "Scan never writes")

	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 1, l.Stats().Damaged)
	assert.GreaterOrEqual(t, l.Size(), size+1-1)
	_, err = os.Stat(filepath.Join(base, "quarantine", filepath.Base(seg)))
	require.NoError(t, err)
	// Later entries are still readable.
	r, err := l.NewReader(0)
	require.NoError(t, err)
	var last uint64
	for {
		rec, err := r.Next()
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		if rec.Kind == KindEntry {
			last = rec.Seq
		}
	}
	assert.Equal(t, l.Size()-1, last)
	_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
	require.NoError(t, err)
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
	dmg, err := Scan(dir, func(r Record) error {
		switch r.Kind {
		case KindEntry:
			lines[r.Seq] = string(r.Line)
		case KindCheckpoint:
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

// TestDamageKeepsLaterEntries corrupts one entry frame followed by valid
// frames, in the last segment and in an earlier one: Open reports the
// damage, keeps every later entry at its seq, fills the lost seq with a
// placeholder leaf, and the writer continues after the last entry without
// reusing a seq.
func TestDamageKeepsLaterEntries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segBytes int64
		earlier  bool // damage an earlier segment, not the last one
		lastOne  bool // damage the last entry frame (the commit checkpoint frame after it is intact)
		noStore  bool // remove tree.hashes: Open rebuilds it
	}{
		{name: "last segment"},
		{name: "last segment, store rebuilt", noStore: true},
		{name: "last entry", lastOne: true},
		{name: "last entry, store rebuilt", lastOne: true, noStore: true},
		{name: "earlier segment", segBytes: 4 << 10, earlier: true},
		{name: "last of several segments", segBytes: 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts(t, dir)
			opts.SegmentBytes = tc.segBytes
			l, err := Open(opts)
			require.NoError(t, err)
			for i := range 40 {
				_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
				require.NoError(t, err)
			}
			require.NoError(t, l.Close()) // adds a checkpoint entry
			before, dmg := scanLines(t, dir)
			require.Empty(t, dmg)
			size := uint64(len(before))

			segs, err := listSegments(filepath.Join(dir, "segments"))
			require.NoError(t, err)
			seg := segs[len(segs)-1]
			if tc.earlier {
				require.Greater(t, len(segs), 2)
				seg = segs[len(segs)/2]
			}
			var entries []frameAt
			for _, f := range segFrames(t, seg.path) {
				if f.typ == frameEntry {
					entries = append(entries, f)
				}
			}
			require.Greater(t, len(entries), 2)
			victim := entries[len(entries)/2]
			if tc.lastOne {
				victim = entries[len(entries)-1]
				require.Equal(t, size-1, victim.seq)
			}
			b, err := os.ReadFile(seg.path)
			require.NoError(t, err)
			b[victim.off+frameHeaderSize+100] ^= 0x01 // inside the signature
			require.NoError(t, os.WriteFile(seg.path, b, 0o600))
			if tc.noStore {
				require.NoError(t, os.Remove(filepath.Join(dir, "tree.hashes")))
			}

			l, err = Open(opts)
			require.NoError(t, err)
			st := l.Stats()
			assert.Equal(t, 1, st.Damaged)
			assert.Zero(t, st.TornBytes)
			// The damage is recorded, with its ledger.damage entry at the
			// next seq: no seq is given again.
			assert.Equal(t, size+1, l.Size(), "no seq is given again")
			dr := l.Damage()
			require.Len(t, dr, 1)
			assert.Equal(t, CorruptFrame, dr[0].Kind)
			assert.Equal(t, seg.name, dr[0].Segment)
			assert.Equal(t, int64(victim.off), dr[0].Offset)
			assert.Equal(t, [3]uint64{1, victim.seq, victim.seq}, [3]uint64{dr[0].Lost, dr[0].LostFirst, dr[0].LostLast})
			assert.Equal(t, [2]uint64{1, 0}, [2]uint64{dr[0].IDsKnown, dr[0].IDsUnknown}, "the commit checkpoint frame names the lost id")
			assert.Equal(t, filepath.Join("quarantine", seg.name), dr[0].Quarantine)
			assert.False(t, dr[0].Acknowledged())
			assert.Equal(t, 1, st.DamageUnacked)
			_, err = os.Stat(filepath.Join(dir, "quarantine", seg.name))
			require.NoError(t, err)
			rb := readAll(t, l, opts.Signer)
			require.Equal(t, [][2]uint64{{victim.seq, victim.seq}}, rb.gaps)
			require.Len(t, rb.entries, int(size))
			for _, e := range rb.entries[:len(rb.entries)-1] {
				assert.Equal(t, before[e.Seq], string(e.AppendLine(nil)), "seq %d", e.Seq)
			}
			de := rb.entries[len(rb.entries)-1]
			assert.Equal(t, size, de.Seq)
			assert.Contains(t, string(de.Body), `"action":"ledger.damage"`)
			assert.Contains(t, string(de.Body), fmt.Sprintf(`"damage_id":%q`, dr[0].ID))
			assert.Contains(t, string(de.Body), fmt.Sprintf(`"lost_first_seq":%d`, victim.seq))

			// The lost id stays reserved: other content is refused,
			// naming the lost seq.
			lostLine, err := ledger.ParseLine([]byte(before[victim.seq]))
			require.NoError(t, err)
			lostID := bodyID(t, lostLine)
			_, err = l.Append(context.Background(), []Pending{pend(lostID, 12345)})
			var ce *ConflictError
			require.ErrorAs(t, err, &ce)
			assert.True(t, ce.Lost)
			assert.Equal(t, victim.seq, ce.Seq)
			assert.Contains(t, ce.Error(), "lost in damaged storage")

			res, err := l.Append(context.Background(), []Pending{pend("after", 1), pend("after2", 2)})
			require.NoError(t, err)
			assert.Equal(t, size+1, res.FirstSeq)
			assert.Equal(t, int64(size)+3, l.LatestCheckpoint().Size)
			rb = readAll(t, l, opts.Signer)
			tip := rb.entries[len(rb.entries)-4]
			if !tc.lastOne {
				require.Equal(t, size-1, tip.Seq)
			}
			assert.Equal(t, tip.Hash, rb.entries[len(rb.entries)-3].PrevHash, "the chain continues from the last entry")
			require.NoError(t, l.AckDamage(context.Background(), dr[0].ID, "alice"))
			require.NoError(t, l.AckDamage(context.Background(), dr[0].ID, "bob"), "twice")
			require.ErrorIs(t, l.AckDamage(context.Background(), "0@1", "alice"), ErrUnknownDamage)
			dr = l.Damage()
			assert.True(t, dr[0].Acknowledged())
			assert.Equal(t, "alice", dr[0].AckedBy)
			assert.Zero(t, l.Stats().DamageUnacked)
			require.NoError(t, l.Close())

			// Reopen: the same damage, the new entries kept, nothing signed
			// twice, nothing recorded twice.
			l, err = Open(opts)
			require.NoError(t, err)
			assert.Equal(t, 1, l.Stats().Damaged)
			assert.Equal(t, size+5, l.Size()) // + damage, after, after2, ack, checkpoint entry
			assert.Equal(t, dr, l.Damage())
			rb = readAll(t, l, opts.Signer)
			require.Equal(t, [][2]uint64{{victim.seq, victim.seq}}, rb.gaps)
			assert.Contains(t, string(rb.entries[len(rb.entries)-2].Body), `"action":"ledger.damage_acknowledged"`)
			assert.Contains(t, string(rb.entries[len(rb.entries)-2].Body), `"acknowledged_by":"alice"`)
			_, err = l.Append(context.Background(), []Pending{pend(lostID, 12345)})
			require.ErrorAs(t, err, &ce, "reserved after a restart and an acknowledgement")
			// The lost event posted again with its content is recorded
			// anew.
			_, victimN, _ := strings.Cut(lostID, "e")
			if n, err := strconv.Atoi(victimN); err == nil && !tc.lastOne {
				res, err := l.Append(context.Background(), []Pending{pend(lostID, n)})
				require.NoError(t, err)
				assert.Equal(t, 1, res.New)
				assert.Equal(t, size+5, res.FirstSeq)
			}
			require.NoError(t, l.Close())
			var codes []string
			for _, f := range verifyLedger(t, dir, opts.Signer) {
				codes = append(codes, string(f.Code))
			}
			assert.ElementsMatch(t, []string{"DAMAGED", "GAP"}, codes, "kt verify: the damage, nothing else")
			after, dmg := scanLines(t, dir)
			require.Len(t, dmg, 1)
			assert.Equal(t, CorruptFrame, dmg[0].Kind)
			assert.Equal(t, int64(victim.off), dmg[0].Offset)
			for seq, line := range before {
				if seq != victim.seq {
					assert.Equal(t, line, after[seq], "seq %d", seq)
				}
			}
			q, err := os.ReadDir(filepath.Join(dir, "quarantine"))
			require.NoError(t, err)
			assert.Len(t, q, 1, "one copy")
		})
	}
}

func TestHashStoreRepair(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 20 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	hs := filepath.Join(base, "tree.hashes")
	good, err := os.ReadFile(hs)
	require.NoError(t, err)
	for name, mod := range map[string][]byte{
		"empty":   nil,
		"shorter": good[:len(good)-100],
		"longer":  append(bytes.Clone(good), bytes.Repeat([]byte{7}, 200)...),
		"garbled": append(bytes.Clone(good[:len(good)-64]), bytes.Repeat([]byte{7}, 64)...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "tree.hashes"), mod, 0o600))
			o := opts
			o.Dir = dir
			l, err := Open(o)
			require.NoError(t, err)
			readAll(t, l, opts.Signer)
			_, err = l.Append(context.Background(), []Pending{pend("x", 1)})
			require.NoError(t, err)
			readAll(t, l, opts.Signer)
			require.NoError(t, l.Close())
			got, err := os.ReadFile(filepath.Join(dir, "tree.hashes"))
			require.NoError(t, err)
			require.True(t, bytes.HasPrefix(got, good), "repaired store extends the good one")
		})
	}
}

// TestStaleHashStore opens segments that are shorter than the hash store
// and hold another ledger: the store must not be trusted for the prefix,
// neither to accept old checkpoint frames nor to sign a new one.
func TestStaleHashStore(t *testing.T) {
	open := func(dir string, n int) Options {
		o := testOpts(t, dir)
		l, err := Open(o)
		require.NoError(t, err)
		for i := range n {
			_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
		return o
	}
	long, short := t.TempDir(), t.TempDir()
	opts := open(long, 6)
	open(short, 2)
	for _, name := range []string{"whole", "cut", "spliced"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, long, dir)
			seg, err := os.ReadFile(lastSegment(t, short))
			require.NoError(t, err)
			offs := frameOffsets(t, lastSegment(t, short))
			switch name {
			case "cut":
				seg = seg[:offs[len(offs)-1]+5] // torn final checkpoint frame
			case "spliced":
				// The long ledger up to seq 2 and its checkpoint, then
				// the short one from seq 3 on: a chain break.
				lseg, err := os.ReadFile(lastSegment(t, long))
				require.NoError(t, err)
				loffs := frameOffsets(t, lastSegment(t, long))
				seg = append(lseg[:loffs[6]:loffs[6]], seg[offs[6]:]...)
			}
			last := lastSegment(t, dir)
			require.NoError(t, os.WriteFile(last, seg, 0o600))
			o := opts
			o.Dir = dir
			l, err := Open(o)
			require.NoError(t, err)
			if name == "spliced" {
				// Valid frames were cut: a copy is kept.
				_, err := os.Stat(filepath.Join(dir, "quarantine", filepath.Base(last)))
				require.NoError(t, err)
				// They are damage, and the end of the ledger they replaced
				// (the checkpoint file shows it) is lost in it.
				dr := l.Damage()
				require.Len(t, dr, 1)
				assert.Equal(t, SkippedFrames, dr[0].Kind)
				assert.Equal(t, [3]uint64{5, 3, 7}, [3]uint64{dr[0].Lost, dr[0].LostFirst, dr[0].LostLast})
			}
			readAll(t, l, opts.Signer)
			_, err = l.Append(context.Background(), []Pending{pend("x", 1)})
			require.NoError(t, err)
			readAll(t, l, opts.Signer)
			require.NoError(t, l.Close())
		})
	}
}

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

// bodyID returns the "id" member of an entry's body.
func bodyID(t *testing.T, e *ledger.Entry) string {
	var b struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(e.Body, &b))
	return b.ID
}
