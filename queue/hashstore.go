package queue

import (
	"fmt"
	"math/bits"
	"os"

	"github.com/keeptrusts/kt/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// hashStore is the on-disk Merkle tree: the tlog stored hashes, 32 bytes
// each, in tlog.StoredHashIndex order. The newest hashes are also kept in
// memory; older ones are read with ReadAt. Only the writer goroutine uses it.
type hashStore struct {
	f        *os.File
	fileN    int64       // hashes in the file
	n        int64       // hashes in total
	leaves   int64       // leaves in the tree
	memStart int64       // index of mem[0]
	mem      []tlog.Hash // hashes [memStart, n)
	cache    map[int64]tlog.Hash
	wbuf     []byte // flush buffer
}

const memKeep = 4096

func openHashStore(path string) (*hashStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open hash store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: open hash store: %w", err)
	}
	s := &hashStore{f: f, cache: map[int64]tlog.Hash{}}
	// The largest tree whose stored hashes the file holds completely.
	have := fi.Size() / hashSize
	lo, hi := int64(0), have
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if tlog.StoredHashCount(mid) <= have {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if err := s.cut(lo); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// cut shortens the store to the tree of the first leaves leaves. The
// store must be flushed, and leaves at most the flushed leaf count.
func (s *hashStore) cut(leaves int64) error {
	n := tlog.StoredHashCount(leaves)
	if err := s.f.Truncate(n * hashSize); err != nil {
		return fmt.Errorf("queue: cut hash store: %w", err)
	}
	s.fileN = n
	s.n, s.leaves = n, leaves
	s.memStart, s.mem = n, s.mem[:0]
	clear(s.cache)
	return nil
}

// ReadHashes implements tlog.HashReader.
func (s *hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, err := s.hash(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// hash returns the stored hash with index x.
func (s *hashStore) hash(x int64) (tlog.Hash, error) {
	switch {
	case x < 0 || x >= s.n:
		return tlog.Hash{}, fmt.Errorf("queue: hash index %d out of range (%d)", x, s.n)
	case x >= s.memStart:
		return s.mem[x-s.memStart], nil
	}
	if h, ok := s.cache[x]; ok {
		return h, nil
	}
	var h tlog.Hash
	if _, err := s.f.ReadAt(h[:], x*hashSize); err != nil {
		return tlog.Hash{}, fmt.Errorf("queue: read hash store: %w", err)
	}
	if len(s.cache) > memKeep {
		clear(s.cache)
	}
	s.cache[x] = h
	return h, nil
}

// appendLeaf adds the leaf for entry hash h: the hashes that
// tlog.StoredHashesForRecordHash returns, without its allocations (this
// runs once per entry).
func (s *hashStore) appendLeaf(h ledger.Hash) error {
	n := s.leaves
	x := ledger.LeafHash(h)
	start := len(s.mem)
	s.mem = append(s.mem, x)
	// Each trailing 1 bit of n completes a subtree with its left sibling.
	m := bits.TrailingZeros64(uint64(n + 1))
	for i := range m {
		left, err := s.hash(tlog.StoredHashIndex(i, n>>uint(i)-1))
		if err != nil {
			s.mem = s.mem[:start]
			return err
		}
		x = tlog.NodeHash(left, x)
		s.mem = append(s.mem, x)
	}
	s.n += int64(m + 1)
	s.leaves++
	return nil
}

// leaf returns the stored leaf hash of leaf i.
func (s *hashStore) leaf(i int64) (tlog.Hash, error) { return s.hash(tlog.StoredHashIndex(0, i)) }

// root returns the tree hash of the first n leaves.
func (s *hashStore) root(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, s) }

// mark returns the state to roll back to.
func (s *hashStore) mark() (n, leaves int64) { return s.n, s.leaves }

// rollback forgets hashes appended since mark (never flushed ones only).
func (s *hashStore) rollback(n, leaves int64) {
	if n < s.fileN {
		n = s.fileN // flushed hashes are never rolled back
	}
	s.mem = s.mem[:n-s.memStart]
	s.n, s.leaves = n, leaves
}

// flush writes the unwritten hashes to the file (no fsync: Open repairs
// the store from the segments) and trims the memory window.
func (s *hashStore) flush() error {
	if s.n > s.fileN {
		buf := s.wbuf[:0]
		for _, h := range s.mem[s.fileN-s.memStart:] {
			buf = append(buf, h[:]...)
		}
		if cap(buf) <= 1<<20 {
			s.wbuf = buf // not the one-off buffer of a rebuild
		}
		if _, err := s.f.WriteAt(buf, s.fileN*hashSize); err != nil {
			return fmt.Errorf("queue: write hash store: %w", err)
		}
		s.fileN = s.n
	}
	if drop := int64(len(s.mem)) - memKeep; drop > 0 {
		s.mem = append(s.mem[:0], s.mem[drop:]...)
		s.memStart += drop
	}
	return nil
}

func (s *hashStore) close() error { return s.f.Close() }
