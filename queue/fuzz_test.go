package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzRecover feeds arbitrary bytes as the tail of the last segment (or,
// when the first byte is odd, as everything after its header) and checks
// that Open never fails (but with ErrLost, for frames that are not the
// start of a ledger) or panics; that readers return seqs strictly
// increasing and dense except across damage Open reported, chained between
// gaps, with every checkpoint the root of the tree (placeholder leaves for
// the missing seqs) of the entries before it; that the invalid bytes Open
// keeps are exactly the damage it reported (corrupt frames, never a torn
// tail); and that the ledger appends after its last seq.
func FuzzRecover(f *testing.F) {
	base := f.TempDir()
	opts := testOpts(f, base)
	l, err := Open(opts)
	require.NoError(f, err)
	for i := range 3 {
		_, err := l.Append(context.Background(), []Pending{pend(string(rune('a'+i)), i)})
		require.NoError(f, err)
	}
	size := l.Size()
	require.NoError(f, l.Close())
	segs, err := listSegments(filepath.Join(base, "segments"))
	require.NoError(f, err)
	segPath := segs[len(segs)-1].path
	seg, err := os.ReadFile(segPath)
	require.NoError(f, err)

	f.Add([]byte{0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("\x00garbage that is not a frame"))
	f.Add(append([]byte{0}, seg[segHeaderSize:segHeaderSize+300]...))
	f.Add(append([]byte{1}, seg[segHeaderSize:len(seg)-7]...))
	f.Add(append([]byte{1}, seg[segHeaderSize+3:]...))
	// A stale copy of entry 1 after the last commit: Open skips and cuts
	// it, and the next commit writes at its offset.
	offs := frameOffsets(f, segPath)
	f.Add(append([]byte{0}, seg[offs[2]:offs[3]]...))
	// A byte flipped inside entry 1 and inside the last entry: the
	// entries after them are kept at their seqs.
	for _, off := range []int{offs[2], offs[len(offs)-2]} {
		b := append([]byte{1}, seg[segHeaderSize:]...)
		b[1+off-segHeaderSize+frameHeaderSize+100] ^= 1
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRecoverOne(t, base, opts, seg, segPath, size, data)
	})
}

func fuzzRecoverOne(t *testing.T, base string, opts Options, seg []byte, segPath string, size uint64, data []byte) {
	{
		if len(data) == 0 {
			return
		}
		dir := t.TempDir()
		require.NoError(t, os.CopyFS(dir, os.DirFS(base)))
		var content []byte
		if data[0]&1 == 0 {
			content = append(append([]byte{}, seg...), data[1:]...)
		} else {
			content = append(append([]byte{}, seg[:segHeaderSize]...), data[1:]...)
		}
		last := filepath.Join(dir, "segments", filepath.Base(segPath))
		require.NoError(t, os.WriteFile(last, content, 0o600))
		if data[0]&1 != 0 {
			// Not the history the checkpoint file signed.
			require.NoError(t, os.Remove(filepath.Join(dir, "checkpoint")))
		}
		o := opts
		o.Dir = dir
		l, err := Open(o)
		if errors.Is(err, ErrLost) {
			// Valid frames, but not the start of a ledger: Open refuses
			// to write a new genesis in front of them.
			require.NotZero(t, data[0]&1)
			return
		}
		require.NoError(t, err)
		if data[0]&1 == 0 {
			require.GreaterOrEqual(t, l.Size(), size, "acknowledged entries kept")
		}
		damaged := l.Stats().Damaged
		next := l.Size()
		res, err := l.Append(context.Background(), []Pending{pend("fuzz", 1)})
		require.NoError(t, err)
		if res.New == 1 {
			require.Equal(t, next, res.FirstSeq, "no seq given twice")
		}
		readAll(t, l, opts.Signer)
		require.NoError(t, l.Close())
		dmg, err := Scan(dir, func(Item) error { return nil })
		require.NoError(t, err)
		for _, d := range dmg {
			require.Equal(t, CorruptFrame, d.Kind, "%v", d)
		}
		require.Len(t, dmg, damaged, "the damage kept is the damage reported")
	}
}
