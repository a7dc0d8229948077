package queue

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/keeptrusts/kt/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// appendBatches appends n events with ids prefix0.. in batches of batch,
// one commit each.
func appendBatches(t *testing.T, l *Ledger, prefix string, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		var recs []Pending
		for j := i; j < min(i+batch, n); j++ {
			recs = append(recs, pend(fmt.Sprint(prefix, j), j))
		}
		_, err := l.Append(context.Background(), recs)
		require.NoError(t, err)
	}
}

// openWithEvents opens a new ledger, closed at the end of the test, and
// appends n events to it in batches of batch.
func openWithEvents(t *testing.T, n, batch int) (*Ledger, Options) {
	t.Helper()
	opts := testOpts(t, t.TempDir())
	l, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	appendBatches(t, l, "e", n, batch)
	return l, opts
}

// checkProofs checks the ledger's proofs against what readAll read back:
// every commit checkpoint the ledger signed (each verified by readAll
// against the tree of the entries read) has the ledger's tree hash, is
// consistent with every later one, and includes every entry below its size
// (checked against the newest checkpoint; against the others at a few
// seqs); a seq lost in damage is included as the placeholder leaf.
func checkProofs(t *testing.T, l *Ledger, rb readBack) {
	t.Helper()
	require.NotEmpty(t, rb.cps)
	leaf := map[uint64]tlog.Hash{}
	for _, e := range rb.entries {
		leaf[e.Seq] = ledger.LeafHash(e.Hash)
	}
	for _, g := range rb.gaps {
		for seq := g[0]; seq <= g[1]; seq++ {
			leaf[seq] = placeholderLeaf
		}
	}
	last := rb.cps[len(rb.cps)-1]
	for i, cp := range rb.cps {
		size := uint64(cp.Size)
		th, err := l.TreeHash(size)
		require.NoError(t, err)
		assert.Equal(t, cp.Root, th, "tree hash of size %d", size)
		for _, later := range []*ledger.Checkpoint{rb.cps[min(i+1, len(rb.cps)-1)], last} {
			p, err := l.ConsistencyProof(size, uint64(later.Size))
			require.NoError(t, err)
			assert.NoError(t, tlog.CheckTree(p, later.Size, later.Root, cp.Size, cp.Root), "size %d in size %d", cp.Size, later.Size)
		}
		seqs := []uint64{0, size / 2, size - 1}
		if cp == last {
			seqs = seqs[:0]
			for seq := range size {
				seqs = append(seqs, seq)
			}
		}
		for _, seq := range seqs {
			h, ok := leaf[seq]
			require.True(t, ok, "seq %d read back", seq)
			p, err := l.InclusionProof(seq, size)
			require.NoError(t, err)
			assert.NoError(t, tlog.CheckRecord(p, cp.Size, cp.Root, int64(seq), h), "seq %d in size %d", seq, size)
		}
	}
}

// TestProofs: the tree hash, inclusion and consistency proofs of the ledger
// check (tlog.CheckTree, tlog.CheckRecord) against the checkpoints it
// signed, over more hashes than the store keeps in memory (the rest are
// read from the file), and again after a restart.
func TestProofs(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	l, err := Open(opts)
	require.NoError(t, err)
	appendBatches(t, l, "e", 3000, 97)
	require.Greater(t, tlog.StoredHashCount(int64(l.Size())), int64(memKeep), "some hashes are only in the file")
	checkProofs(t, l, readAll(t, l, opts.Signer))
	require.NoError(t, l.Close())

	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	appendBatches(t, l, "f", 50, 7)
	rb := readAll(t, l, opts.Signer)
	require.Greater(t, len(rb.cps), 30)
	checkProofs(t, l, rb)
}

// TestProofRange: sizes beyond the committed ledger are refused — also a
// commit that is written and in the hash store, but not yet synced and
// published — and so are seqs and sizes outside the tree asked for.
func TestProofRange(t *testing.T) {
	l, _ := openWithEvents(t, 10, 3)
	size := l.Size()

	// Hold the syncer before the fdatasync of the next commit.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l.failSync = func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	}
	tk, err := l.Submit([]Pending{pend("late-1", 1), pend("late-2", 2)})
	require.NoError(t, err)
	<-entered // written, its leaves in the hash store, not published
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"tree hash beyond", func() error { _, err := l.TreeHash(size + 1); return err }},
		{"tree hash of the unpublished commit", func() error { _, err := l.TreeHash(size + 2); return err }},
		{"inclusion in the unpublished commit", func() error { _, err := l.InclusionProof(size, size+2); return err }},
		{"inclusion of seq = size", func() error { _, err := l.InclusionProof(size, size); return err }},
		{"inclusion of seq > size", func() error { _, err := l.InclusionProof(size+5, size); return err }},
		{"consistency into the unpublished commit", func() error { _, err := l.ConsistencyProof(size, size+2); return err }},
		{"consistency from 0", func() error { _, err := l.ConsistencyProof(0, size); return err }},
		{"consistency m > n", func() error { _, err := l.ConsistencyProof(size, size-1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, tc.call(), ErrRange)
		})
	}
	th, err := l.TreeHash(size)
	require.NoError(t, err)
	assert.Equal(t, l.LatestCheckpoint().Root, th)
	empty, err := l.TreeHash(0)
	require.NoError(t, err)
	assert.Equal(t, tlog.Hash(sha256.Sum256(nil)), empty, "RFC 6962: the hash of the empty tree is SHA-256 of nothing")

	close(release)
	_, err = tk.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, size+2, l.Size())
	th, err = l.TreeHash(size + 2)
	require.NoError(t, err)
	assert.Equal(t, l.LatestCheckpoint().Root, th)

	require.NoError(t, l.Close())
	_, err = l.TreeHash(1)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = l.InclusionProof(0, 1)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = l.ConsistencyProof(1, 1)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestProofsWhileWriting asks for proofs of the newest checkpoint while
// other goroutines append (run with -race): each checks against that
// checkpoint and against the first one.
func TestProofsWhileWriting(t *testing.T) {
	l, opts := openWithEvents(t, 200, 10)
	rb := readAll(t, l, opts.Signer)
	first := rb.cps[0]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() { appendBatches(t, l, fmt.Sprintf("g%d-", g), 500, 20) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	checks := 0
	for running := true; running || checks == 0; checks++ {
		select {
		case <-done:
			running = false
		default:
		}
		cp := l.LatestCheckpoint()
		th, err := l.TreeHash(uint64(cp.Size))
		require.NoError(t, err)
		require.Equal(t, cp.Root, th, "size %d", cp.Size)
		p, err := l.ConsistencyProof(uint64(first.Size), uint64(cp.Size))
		require.NoError(t, err)
		require.NoError(t, tlog.CheckTree(p, cp.Size, cp.Root, first.Size, first.Root))
		e := rb.entries[checks%len(rb.entries)]
		rp, err := l.InclusionProof(e.Seq, uint64(cp.Size))
		require.NoError(t, err)
		require.NoError(t, tlog.CheckRecord(rp, cp.Size, cp.Root, int64(e.Seq), ledger.LeafHash(e.Hash)))
	}
	t.Logf("%d proof rounds while writing", checks)
	checkProofs(t, l, readAll(t, l, opts.Signer))
}

// TestProofsAfterDamage: after damage, the tree has a placeholder leaf for
// each lost entry. The checkpoints of sizes below the lost seq and those
// signed after the damage check against the proofs; a checkpoint signed
// before the damage over the lost entry does not.
func TestProofsAfterDamage(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t, dir)
	build(t, opts, 10)
	seg := lastSegment(t, dir)
	var before []*ledger.Checkpoint // the commit checkpoints on disk
	_, err := Scan(dir, func(it Item) error {
		if it.Kind == ItemCheckpoint {
			before = append(before, it.Checkpoint)
		}
		return nil
	})
	require.NoError(t, err)
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	for _, f := range segFrames(t, seg) {
		if f.typ == frameEntry && f.seq == 5 {
			b[f.off+frameHeaderSize+100] ^= 0x40 // inside entry 5: its CRC fails
		}
	}
	require.NoError(t, os.WriteFile(seg, b, 0o600))

	l, err := Open(opts)
	require.NoError(t, err)
	defer l.Close()
	appendBatches(t, l, "after", 20, 4)
	rb := readAll(t, l, opts.Signer)
	require.Equal(t, [][2]uint64{{5, 5}}, rb.gaps)
	checkProofs(t, l, rb)

	latest := l.LatestCheckpoint()
	var below, over int
	for _, cp := range before {
		p, err := l.ConsistencyProof(uint64(cp.Size), uint64(latest.Size))
		require.NoError(t, err)
		err = tlog.CheckTree(p, latest.Size, latest.Root, cp.Size, cp.Root)
		if cp.Size <= 5 {
			below++
			assert.NoError(t, err, "size %d: the entries it covers are all there", cp.Size)
		} else {
			over++
			assert.Error(t, err, "size %d: signed over entry 5, lost now", cp.Size)
		}
	}
	assert.Positive(t, below)
	assert.Positive(t, over)
}
