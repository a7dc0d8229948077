package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/kt/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// TestHashStoreAppendLeaf checks appendLeaf against tlog, across flushes
// that move hashes out of memory and a reopen that reads them from disk.
func TestHashStoreAppendLeaf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tree.hashes")
	s, err := openHashStore(path)
	require.NoError(t, err)
	var want []tlog.Hash
	const n = 3*memKeep + 17
	entry := func(i int64) (h ledger.Hash) {
		binary.BigEndian.PutUint64(h[:], uint64(i))
		return sha256.Sum256(h[:])
	}
	for i := range int64(n) {
		h := entry(i)
		hs, err := tlog.StoredHashesForRecordHash(i, ledger.LeafHash(h), tlog.HashReaderFunc(func(x []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(x))
			for j, k := range x {
				out[j] = want[k]
			}
			return out, nil
		}))
		require.NoError(t, err)
		want = append(want, hs...)
		require.NoError(t, s.appendLeaf(h))
		if i%1000 == 999 {
			require.NoError(t, s.flush())
		}
		if i == n/2 {
			// Reopen: the store starts empty; appending the same leaves
			// again (as recovery does) finds the file as it should be.
			require.NoError(t, s.flush())
			require.NoError(t, s.close())
			s, err = openHashStore(path)
			require.NoError(t, err)
			require.Zero(t, s.leaves)
			for j := range i + 1 {
				require.NoError(t, s.appendLeaf(entry(j)))
			}
			rewritten, firstBad, extra, err := s.finishRecovery()
			require.NoError(t, err)
			require.Equal(t, [3]int64{0, -1, 0}, [3]int64{rewritten, firstBad, extra})
			require.Equal(t, i+1, s.leaves)
		}
	}
	require.Equal(t, int64(len(want)), s.n)
	got, err := s.ReadHashes([]int64{0, 1, int64(len(want)) / 2, int64(len(want)) - 1})
	require.NoError(t, err)
	require.Equal(t, []tlog.Hash{want[0], want[1], want[len(want)/2], want[len(want)-1]}, got)
	root, err := s.root(n)
	require.NoError(t, err)
	wantRoot, err := tlog.TreeHash(n, tlog.HashReaderFunc(func(x []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(x))
		for j, k := range x {
			out[j] = want[k]
		}
		return out, nil
	}))
	require.NoError(t, err)
	require.Equal(t, wantRoot, root)
	require.NoError(t, s.close())
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
