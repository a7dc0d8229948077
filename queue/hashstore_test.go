package queue

import (
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/keeptrusts/kt/ledger"
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
