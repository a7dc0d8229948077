package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/kt/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// verifyLedger checks the ledger in dir as kt verify --data-dir does and
// returns the findings that are not warnings.
func verifyLedger(t *testing.T, dir string, s *ledger.Signer) []ledger.Finding {
	t.Helper()
	v, err := ledger.NewVerifier(s.VerifierKey())
	require.NoError(t, err)
	c := ledger.NewCheck(ledger.Keyring{v.KeyID(): v})
	c.Local = true
	if b, err := os.ReadFile(filepath.Join(dir, "checkpoint")); err == nil {
		c.LocalCheckpoint(b, "checkpoint")
	}
	dmg, err := Scan(dir, func(r Item) error {
		switch r.Kind {
		case ItemEntry:
			c.Line(bytes.Clone(r.Line), fmt.Sprint("seq ", r.Seq))
		case ItemCheckpoint:
			c.Checkpoint(r.Checkpoint.Note, "commit checkpoint", false)
		}
		return nil
	})
	require.NoError(t, err)
	for _, d := range dmg {
		c.Damaged(d.Segment, d.String(), d.Kind == TornTail)
	}
	fs, st := c.Finish()
	require.Positive(t, st.Entries)
	var out []ledger.Finding
	for _, f := range fs {
		if !f.Warning {
			out = append(out, f)
		}
	}
	return out
}

// build makes a ledger in dir with n events, one commit each, and closes
// it.
func build(t *testing.T, opts Options, n int) {
	t.Helper()
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range n {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
}

// TestHashStoreNeverTrusted damages the hash store the ways a power cut
// can (it is never fsync'd) and others: Open recomputes every stored hash
// from the entries, so nothing is signed over a wrong root — kt verify
// finds no FORK among the old and the new checkpoints — and the store ends
// as a store built from scratch.
func TestHashStoreNeverTrusted(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	build(t, opts, 300)
	good, err := os.ReadFile(filepath.Join(base, "tree.hashes"))
	require.NoError(t, err)
	require.Greater(t, len(good), 3*4096)
	leaves := int64(0)
	for tlog.StoredHashCount(leaves+1) <= int64(len(good)/hashSize) {
		leaves++
	}
	lastLeaf := tlog.StoredHashIndex(0, leaves-1)
	require.Less(t, (lastLeaf+1)*hashSize, int64(len(good)), "the last leaf completes subtrees")
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	zero := func(from, to int) []byte {
		b := bytes.Clone(good)
		clear(b[from:to])
		return b
	}
	for _, tc := range []struct {
		name  string
		store []byte
	}{
		// The interior hashes after the last leaf lost (a page boundary
		// between the leaf and its parents): the leaf checks, the tree
		// does not.
		{"zeroed after the last leaf", zero(int((lastLeaf+1)*hashSize), len(good))},
		{"zeroed last page", zero((len(good)-1)/4096*4096, len(good))},
		{"zeroed last 4 KiB", zero(len(good)-4096, len(good))},
		{"zeroed middle page", zero(4096, 8192)},
		{"zeroed first page", zero(0, 4096)},
		{"truncated", good[:len(good)/2]},
		{"truncated inside a hash", good[:len(good)-hashSize/2]},
		{"empty", nil},
		{"longer than the ledger", append(bytes.Clone(good), random(5000)...)},
		{"random bytes", random(len(good))},
		{"random last part", append(bytes.Clone(good[:len(good)-3000]), random(3000)...)},
		{"one bit flipped in the middle", func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 1; return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "tree.hashes"), tc.store, 0o600))
			o := opts
			o.Dir = dir
			l, err := Open(o)
			require.NoError(t, err)
			assert.Empty(t, l.Damage(), "a damaged cache is no damage of the ledger")
			for i := range 5 {
				_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("x", i), i)})
				require.NoError(t, err)
			}
			readAll(t, l, opts.Signer)
			require.NoError(t, l.Close())
			assert.Empty(t, verifyLedger(t, dir, opts.Signer), "kt verify finds nothing: no checkpoint over a wrong root")

			// The store is the one the entries give.
			got, err := os.ReadFile(filepath.Join(dir, "tree.hashes"))
			require.NoError(t, err)
			require.NoError(t, os.Remove(filepath.Join(dir, "tree.hashes")))
			l, err = Open(o)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			want, err := os.ReadFile(filepath.Join(dir, "tree.hashes"))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// crashCopy returns a copy of the ledger in base after it wrote commits
// more commits that a power cut did not let reach the disk whole: the
// segment holds them, but the checkpoint file is the one before them (it
// is written after the fdatasync), and hole(seg, start) damages the
// segment bytes from start, the end of the last durable commit.
func crashCopy(t *testing.T, base string, opts Options, commits int, hole func(seg []byte, start int)) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, base, dir)
	o := opts
	o.Dir = dir
	l, err := Open(o)
	require.NoError(t, err)
	durable := l.Size()
	ckpt, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	require.NoError(t, err)
	seg := lastSegment(t, dir)
	fi, err := os.Stat(seg)
	require.NoError(t, err)
	start := int(fi.Size())
	for i := range commits {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("u", i, "a"), i), pend(fmt.Sprint("u", i, "b"), i)})
		require.NoError(t, err)
	}
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	l.mu.Lock()
	l.closed = true // no final commit: the process dies
	l.mu.Unlock()
	close(l.closing)
	<-l.done
	l.closeFiles()
	hole(b, start)
	require.NoError(t, os.WriteFile(seg, b, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoint"), ckpt, 0o600))
	return dir, durable
}

// TestPowerCutHole: a power cut can keep a later page of the commits not
// yet fdatasync'd without an earlier one. That is a torn tail, not damage:
// kt verify before recovery reports only a warning, Open cuts it without
// a damage record, and kt verify after recovery passes. The same bytes
// are damage when the checkpoint file shows the commits after the hole
// were durable, or when more commits follow the hole than can be in
// flight.
func TestPowerCutHole(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	build(t, opts, 10)
	zeroPage := func(seg []byte, start int) {
		// The page after the durable end, kept whole after it.
		from := (start + 4095) / 4096 * 4096
		require.Less(t, from+100, len(seg))
		clear(seg[start+10 : from+100])
	}
	for _, tc := range []struct {
		name    string
		commits int
		hole    func([]byte, int)
		damage  bool
		ckptNew bool // the checkpoint file names the last commit
	}{
		{name: "zeros then the rest of the commit", commits: 1, hole: func(b []byte, s int) { clear(b[s+20 : s+200]) }},
		{name: "zeros over a page boundary, three commits", commits: 3, hole: zeroPage},
		{name: "stale bytes then frames", commits: 2, hole: func(b []byte, s int) { copy(b[s+5:], bytes.Repeat([]byte{0xa5}, 300)) }},
		{name: "a hole in the first of four commits", commits: 4, hole: func(b []byte, s int) { clear(b[s+20 : s+60]) }, damage: true},
		{name: "checkpoint file names the commits", commits: 1, hole: func(b []byte, s int) { clear(b[s+20 : s+200]) }, damage: true, ckptNew: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, durable := crashCopy(t, base, opts, tc.commits, tc.hole)
			if tc.ckptNew {
				var last *ledger.Checkpoint
				_, err := scanSegment("x", mustRead(t, lastSegment(t, dir)), func(_ int, typ byte, p []byte) error {
					if isCheckpoint(typ) {
						last = decodeCheckpoint(typ, p)
					}
					return nil
				})
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoint"), last.Note, 0o600))
			}
			before := verifyLedger(t, dir, opts.Signer)
			o := opts
			o.Dir = dir
			l, err := Open(o)
			require.NoError(t, err)
			if !tc.damage {
				assert.Empty(t, before, "kt verify before recovery")
				assert.Empty(t, l.Damage())
				assert.Zero(t, l.Stats().Damaged)
				assert.Positive(t, l.Stats().TornBytes)
				assert.GreaterOrEqual(t, l.Size(), durable, "acknowledged entries kept")
			} else {
				assert.NotEmpty(t, before, "kt verify before recovery")
				assert.NotEmpty(t, l.Damage())
				assert.Greater(t, l.Size(), durable, "the entries after the damage are kept")
			}
			_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
			require.NoError(t, err)
			readAll(t, l, opts.Signer)
			require.NoError(t, l.Close())
			if !tc.damage {
				assert.Empty(t, verifyLedger(t, dir, opts.Signer), "kt verify after recovery")
				dmg, err := Scan(dir, func(Item) error { return nil })
				require.NoError(t, err)
				assert.Empty(t, dmg)
			}
		})
	}
}

// TestPowerCutHoleInNewSegment: the first commit into a segment just
// rolled is torn by a power cut, its first page lost and a later one kept.
// The commits before it are all in earlier segments and durable (a segment
// rolls only when the syncer is idle), so the checkpoint file names the
// segment's first seq: a torn tail, not damage.
func TestPowerCutHoleInNewSegment(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	rolling := opts
	rolling.SegmentBytes = 1 // a new segment after every commit
	build(t, rolling, 5)
	dir, durable := crashCopy(t, base, opts, 1, func(b []byte, s int) {
		require.Equal(t, segHeaderSize, s, "the commit is the segment's first")
		clear(b[s+10 : s+120])
	})
	before := verifyLedger(t, dir, opts.Signer)
	assert.Empty(t, before, "kt verify before recovery")
	o := opts
	o.Dir = dir
	l, err := Open(o)
	require.NoError(t, err)
	assert.Empty(t, l.Damage())
	assert.Positive(t, l.Stats().TornBytes)
	assert.Equal(t, durable, l.Size(), "the torn commit was never acknowledged; everything before it is kept")
	_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	assert.Empty(t, verifyLedger(t, dir, opts.Signer), "kt verify after recovery")
}

// TestEvidenceOfLedger: Open never starts a new ledger, nor gives a seq
// again, where the checkpoint file, a sink's cursor or the segments show
// that entries existed.
func TestEvidenceOfLedger(t *testing.T) {
	newBase := func(t *testing.T, segBytes int64) (string, Options) {
		base := t.TempDir()
		opts := testOpts(t, filepath.Join(base, "ledger"))
		opts.SegmentBytes = segBytes
		opts.CursorDir = filepath.Join(base, "cursors")
		build(t, opts, 30)
		return base, opts
	}
	reopen := func(t *testing.T, opts Options, dir string) (*Ledger, error) {
		o := opts
		o.Dir = filepath.Join(dir, "ledger")
		o.CursorDir = filepath.Join(dir, "cursors")
		return Open(o)
	}
	t.Run("segments gone, checkpoint file kept", func(t *testing.T) {
		base, opts := newBase(t, 0)
		require.NoError(t, os.RemoveAll(filepath.Join(base, "ledger", "segments")))
		_, err := reopen(t, opts, base)
		require.ErrorIs(t, err, ErrLost)
		assert.ErrorContains(t, err, "checkpoint shows 32 entries")
		_, err = os.Stat(filepath.Join(base, "ledger", "segments", segName(0)))
		assert.ErrorIs(t, err, os.ErrNotExist, "no new genesis")
	})
	t.Run("ledger gone, a cursor kept", func(t *testing.T) {
		base, opts := newBase(t, 0)
		c, err := OpenCursors(filepath.Join(base, "cursors"))
		require.NoError(t, err)
		require.NoError(t, c.Store("file.out", 25))
		require.NoError(t, c.Close())
		require.NoError(t, os.RemoveAll(filepath.Join(base, "ledger")))
		_, err = reopen(t, opts, base)
		require.ErrorIs(t, err, ErrLost)
		assert.ErrorContains(t, err, "file.out.cursor shows 25 entries")
	})
	t.Run("first segment gone", func(t *testing.T) {
		base, opts := newBase(t, 2<<10)
		segs, err := listSegments(filepath.Join(base, "ledger", "segments"))
		require.NoError(t, err)
		require.Greater(t, len(segs), 2)
		require.NoError(t, os.Remove(segs[0].path))
		require.NoError(t, os.Remove(filepath.Join(base, "ledger", "checkpoint")))
		_, err = reopen(t, opts, base)
		require.ErrorIs(t, err, ErrLost)
		assert.ErrorContains(t, err, "not the start of the ledger")
	})
	t.Run("end of the ledger gone", func(t *testing.T) {
		base, opts := newBase(t, 0)
		seg := lastSegment(t, filepath.Join(base, "ledger"))
		offs := frameOffsets(t, seg)
		require.NoError(t, os.Truncate(seg, int64(offs[len(offs)-8])))
		l, err := reopen(t, opts, base)
		require.NoError(t, err)
		dr := l.Damage()
		require.Len(t, dr, 1)
		assert.Equal(t, MissingEntries, dr[0].Kind)
		assert.Equal(t, uint64(31), dr[0].LostLast, "up to the checkpoint file's size")
		assert.Equal(t, dr[0].Lost, dr[0].IDsUnknown)
		assert.Equal(t, uint64(33), l.Size(), "the seqs given out are not given again; the damage entry follows them")
		res, err := l.Append(context.Background(), []Pending{pend("new", 1)})
		require.NoError(t, err)
		assert.Equal(t, uint64(33), res.FirstSeq)
		readAll(t, l, opts.Signer)
		require.NoError(t, l.Close())

		// The next start finds the same gap (between the segment cut and
		// the one made after it), keeps the entries after it, and
		// records nothing twice.
		l, err = reopen(t, opts, base)
		require.NoError(t, err)
		assert.Equal(t, dr, l.Damage())
		assert.Equal(t, uint64(35), l.Size()) // + new, checkpoint entry
		rb := readAll(t, l, opts.Signer)
		assert.Equal(t, [][2]uint64{{28, 31}}, rb.gaps)
		require.NoError(t, l.Close())
		var codes []string
		for _, f := range verifyLedger(t, filepath.Join(base, "ledger"), opts.Signer) {
			codes = append(codes, string(f.Code))
		}
		assert.Equal(t, []string{"GAP"}, codes)
	})
	t.Run("nothing there: a new ledger", func(t *testing.T) {
		dir := t.TempDir()
		opts := testOpts(t, filepath.Join(dir, "ledger"))
		opts.CursorDir = filepath.Join(dir, "cursors")
		l, err := Open(opts)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), l.Size())
		require.NoError(t, l.Close())
	})
	t.Run("an empty or torn checkpoint file is no evidence", func(t *testing.T) {
		for _, content := range [][]byte{nil, []byte("kt/x\n3"), make([]byte, 200)} {
			dir := t.TempDir()
			opts := testOpts(t, dir)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoint"), content, 0o600))
			l, err := Open(opts)
			require.NoError(t, err)
			require.NoError(t, l.Close())
		}
	})
}

// TestGenesisOnlyHasNoCheckpointEntry: a new ledger's first event is seq
// 1 however long it waits for it.
func TestGenesisOnlyHasNoCheckpointEntry(t *testing.T) {
	opts := testOpts(t, t.TempDir())
	l, err := Open(opts)
	require.NoError(t, err)
	assert.False(t, l.ckptEntryDue())
	require.NoError(t, l.Close()) // Close adds a checkpoint entry when one is due
	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	res, err := l.Append(context.Background(), []Pending{pend("first", 1)})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.FirstSeq)
}

// TestRecordError: a record that can never be written is refused with a
// typed error, never one that looks transient.
func TestRecordError(t *testing.T) {
	opts := testOpts(t, t.TempDir())
	l, err := Open(opts)
	require.NoError(t, err)
	defer l.Close()
	good := pend("ok", 1)
	for name, bad := range map[string]Pending{
		"empty id":    {ID: "", Body: []byte(`{}`)},
		"long id":     {ID: string(bytes.Repeat([]byte("i"), 70000)), Body: []byte(`{}`)},
		"not object":  {ID: "x", Body: []byte(`[1]`)},
		"too large":   {ID: "x", Body: append(append([]byte(`{"a":"`), bytes.Repeat([]byte("a"), maxPayload)...), '"', '}')},
		"empty body":  {ID: "x"},
		"only braces": {ID: "x", Body: []byte(`{`)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := l.Submit([]Pending{good, bad})
			require.ErrorIs(t, err, ErrInvalidRecord)
			var re *RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 1, re.Index)
			assert.False(t, errors.Is(err, ErrFull))
		})
	}
}

// TestOldCheckpointFrames: segments whose commit checkpoints are type 2
// frames (no id list) are read as before.
func TestOldCheckpointFrames(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	build(t, opts, 10)
	seg := lastSegment(t, dir)
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	out := b[:segHeaderSize:segHeaderSize]
	n3 := 0
	_, err = scanSegment("x", b, func(off int, typ byte, p []byte) error {
		if typ == frameCheckpointIDs {
			n3++
			out = appendCheckpointFrame(out, decodeCheckpoint(typ, p))
			return nil
		}
		out = append(out, b[off:off+frameHeaderSize+len(p)]...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 12, n3, "one per commit: genesis, 10 events, Close")
	require.NoError(t, os.WriteFile(seg, out, 0o600))
	l, err := Open(opts)
	require.NoError(t, err)
	assert.Empty(t, l.Damage())
	assert.Equal(t, uint64(12), l.Size())
	_, err = l.Append(context.Background(), []Pending{pend("new", 1)})
	require.NoError(t, err)
	readAll(t, l, opts.Signer)
	require.NoError(t, l.Close())
	assert.Empty(t, verifyLedger(t, dir, opts.Signer))
}

// TestLostIDs: the ids of entries lost in damage are known from the
// commit checkpoint after them, or else from the damaged frame's header,
// or counted unknown.
func TestLostIDs(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	build(t, opts, 10)
	frames := segFrames(t, lastSegment(t, base))
	// The frames of the commit of event e4 (seq 5): the entry, then its
	// commit checkpoint.
	var ent, ckpt frameAt
	for i, f := range frames {
		if f.typ == frameEntry && f.seq == 5 {
			ent, ckpt = f, frames[i+1]
		}
	}
	require.Equal(t, byte(frameCheckpointIDs), ckpt.typ)
	for _, tc := range []struct {
		name           string
		flip           []int // offsets to flip
		known, unknown uint64
		reserved       bool
	}{
		{"from the commit checkpoint", []int{ent.off + frameHeaderSize + 100}, 1, 0, true},
		{"from the damaged frame", []int{ent.off + frameHeaderSize + entryFixedSize + 10, ckpt.off + frameHeaderSize + 10}, 1, 0, true},
		{"unknown", []int{ent.off + 2, ckpt.off + frameHeaderSize + 10}, 0, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			seg := lastSegment(t, dir)
			b, err := os.ReadFile(seg)
			require.NoError(t, err)
			for _, off := range tc.flip {
				b[off] ^= 0x40
			}
			require.NoError(t, os.WriteFile(seg, b, 0o600))
			o := opts
			o.Dir = dir
			l, err := Open(o)
			require.NoError(t, err)
			defer l.Close()
			dr := l.Damage()
			require.NotEmpty(t, dr)
			var lost, known, unknown uint64
			for _, d := range dr {
				lost += d.Lost
				known += d.IDsKnown
				unknown += d.IDsUnknown
			}
			assert.Equal(t, [3]uint64{1, tc.known, tc.unknown}, [3]uint64{lost, known, unknown})
			_, err = l.Append(context.Background(), []Pending{pend("e4", 99)})
			var ce *ConflictError
			if tc.reserved {
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, uint64(5), ce.Seq)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestCommitFrameIDs: a commit checkpoint lists the id key and digest of
// each entry of its commit, in seq order.
func TestCommitFrameIDs(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	l, err := Open(opts)
	require.NoError(t, err)
	recs := []Pending{pend("a", 1), pend("b", 2), pend("a", 1), pend("c", 3)}
	_, err = l.Append(context.Background(), recs)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	var lists [][]byte
	var firsts []uint64
	_, err = scanSegment("x", mustRead(t, lastSegment(t, dir)), func(_ int, typ byte, p []byte) error {
		if typ == frameCheckpointIDs {
			first, list := commitIDs(typ, p)
			firsts = append(firsts, first)
			lists = append(lists, list)
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, lists, 3) // genesis, the records, Close's checkpoint entry
	assert.Equal(t, []uint64{0, 1, 4}, firsts)
	want := []byte{}
	for _, r := range []Pending{recs[0], recs[1], recs[3]} {
		k := keyOfString(r.ID)
		want = append(append(want, k[:]...), r.Digest[:]...)
	}
	assert.Equal(t, want, lists[1])
	assert.Len(t, lists[2], ckptIDSize)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestCopyAfterDamage: a SIEM's copy holds the entries the agent later
// lost to damage; the checkpoints the agent signs after that cover
// placeholder leaves for them. kt verify of the copy matches them against
// the tree with the placeholders the ledger.damage entry announces: a
// warning, not a FORK.
func TestCopyAfterDamage(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	build(t, opts, 20)
	var copyLines [][]byte
	add := func(from uint64) {
		_, err := Scan(dir, func(r Item) error {
			switch {
			case r.Kind == ItemEntry && r.Seq >= from:
				copyLines = append(copyLines, bytes.Clone(r.Line))
			case r.Kind == ItemCheckpoint && uint64(r.Checkpoint.Size) > from:
				rec, err := json.Marshal(map[string]string{"record": "checkpoint", "checkpoint": string(r.Checkpoint.Note)})
				require.NoError(t, err)
				copyLines = append(copyLines, rec)
			}
			return nil
		})
		require.NoError(t, err)
	}
	add(0)
	size := uint64(22)
	seg := lastSegment(t, dir)
	var victim frameAt
	for _, f := range segFrames(t, seg) {
		if f.typ == frameEntry && f.seq == 7 {
			victim = f
		}
	}
	b := mustRead(t, seg)
	b[victim.off+frameHeaderSize+100] ^= 1
	require.NoError(t, os.WriteFile(seg, b, 0o600))
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 5 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("x", i), i)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	add(size)

	v, err := ledger.NewVerifier(opts.Signer.VerifierKey())
	require.NoError(t, err)
	c := ledger.NewCheck(ledger.Keyring{v.KeyID(): v})
	for i, line := range copyLines {
		c.Line(line, fmt.Sprint("copy:", i+1))
	}
	fs, st := c.Finish()
	var warnings []string
	for _, f := range fs {
		require.True(t, f.Warning, "%s", f)
		if f.Code == ledger.DamagedCode {
			warnings = append(warnings, f.String())
		}
	}
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "seq=7")
	assert.Equal(t, st.Checkpoints, st.Verified, "every checkpoint recomputed")
	assert.Equal(t, int64(l.Size()), st.Anchored)
}

// TestOpenRemovesStaleTemps: the temporary files that a crash leaves
// while the checkpoint file, the damage register or a quarantine copy is
// replaced are removed by the next Open; nothing else is.
func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	build(t, opts, 3)
	require.NoError(t, os.Mkdir(filepath.Join(dir, quarantineDir), 0o700))
	stale := []string{
		filepath.Join(dir, "."+checkpointFile+".tmp4711"),
		filepath.Join(dir, "."+damageFile+".tmp12"),
		filepath.Join(dir, quarantineDir, "."+segName(0)+".tmp99"),
	}
	for _, p := range stale {
		require.NoError(t, os.WriteFile(p, []byte("partial"), 0o600))
	}
	other := filepath.Join(dir, "notes.tmp")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	l, err := Open(opts)
	require.NoError(t, err)
	defer l.Close()
	for _, p := range stale {
		assert.NoFileExists(t, p)
	}
	assert.FileExists(t, other)
}
