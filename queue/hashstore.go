package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"

	"github.com/keeptrusts/kt/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// hashStore is the on-disk Merkle tree: the tlog stored hashes, 32 bytes
// each, in tlog.StoredHashIndex order. The newest hashes are also kept in
// memory; older ones are read with ReadAt. The writer goroutine (and Open
// before it) appends, reads and flushes; other goroutines only read, with
// readShared, the hashes of the published tree (see proof.go).
//
// The file is a derived cache and is never fsync'd: a power cut can leave
// it shorter, longer, or with pages of zeros or stale bytes anywhere. So it
// is never trusted. An opened store is empty; recovery appends the leaf of
// every entry it reads, which recomputes every stored hash, and flush
// compares each one with the hash the file holds at its index and rewrites
// only those that differ. finishRecovery then cuts what the file holds
// beyond the tree. Every hash a checkpoint is signed over is therefore
// computed from the entries, never read unchecked from the file.
type hashStore struct {
	f      *os.File
	fileN  int64 // hashes in the file that are checked or written
	oldN   int64 // hashes the file held at open; those at [fileN, oldN) are not checked yet
	leaves int64 // leaves in the tree

	// mu guards n, memStart and mem against readShared. The writer, the
	// only one to change them, changes them under mu and reads them
	// without it. The hashes below memStart are in the file, where they
	// never change: flush writes them before it moves memStart.
	mu       sync.Mutex
	n        int64       // hashes in total
	memStart int64       // index of mem[0]
	mem      []tlog.Hash // hashes [memStart, n)

	cache map[int64]tlog.Hash // the writer's cache of hashes read from the file
	wbuf  []byte              // flush buffer
	rbuf  []byte              // the file's bytes compared by flush

	rewritten int64 // hashes found different from the file's by flush
	firstBad  int64 // index of the first of them, -1 if none
}

const (
	memKeep = 4096
	// recoveryFlush is the number of unflushed hashes after which recovery
	// flushes, to bound its memory.
	recoveryFlush = 1 << 16
)

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
	return &hashStore{f: f, oldN: fi.Size() / hashSize, cache: map[int64]tlog.Hash{}, firstBad: -1}, nil
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
	// x < memStart <= fileN: a hash flush wrote or checked.
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
	return s.appendLeafHash(ledger.LeafHash(h))
}

// appendLeafHash adds the leaf hash x.
func (s *hashStore) appendLeafHash(x tlog.Hash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.leaves
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < s.fileN {
		n = s.fileN // flushed hashes are never rolled back
	}
	s.mem = s.mem[:n-s.memStart]
	s.n, s.leaves = n, leaves
}

// unflushed returns the number of hashes not written to the file yet.
func (s *hashStore) unflushed() int64 { return s.n - s.fileN }

// flush writes the unwritten hashes to the file (no fsync: recovery
// checks the whole file) and trims the memory window. Where the file
// already holds hashes that recovery has not checked, it compares them and
// writes only if they differ.
func (s *hashStore) flush() error {
	if s.n > s.fileN {
		buf := s.wbuf[:0]
		for _, h := range s.mem[s.fileN-s.memStart:] {
			buf = append(buf, h[:]...)
		}
		if cap(buf) <= 1<<20 {
			s.wbuf = buf // not the one-off buffer of a large flush
		}
		off := s.fileN * hashSize
		if s.fileN < s.oldN {
			k := (min(s.n, s.oldN) - s.fileN) * hashSize
			if cap(s.rbuf) < int(k) {
				s.rbuf = make([]byte, k)
			}
			old := s.rbuf[:k]
			m, err := s.f.ReadAt(old, off)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("queue: read hash store: %w", err)
			}
			if m < len(old) {
				clear(old[m:])
			}
			if !bytes.Equal(old, buf[:k]) {
				s.countBad(old, buf[:k])
			} else {
				buf, off = buf[k:], off+k // the file holds them
			}
		}
		if len(buf) > 0 {
			if _, err := s.f.WriteAt(buf, off); err != nil {
				return fmt.Errorf("queue: write hash store: %w", err)
			}
		}
		s.fileN = s.n
	}
	if drop := int64(len(s.mem)) - memKeep; drop > 0 {
		s.mu.Lock()
		s.mem = append(s.mem[:0], s.mem[drop:]...)
		s.memStart += drop
		s.mu.Unlock()
	}
	return nil
}

// countBad counts the hashes of old that differ from want, which start at
// index fileN.
func (s *hashStore) countBad(old, want []byte) {
	for i := 0; i < len(want); i += hashSize {
		if !bytes.Equal(old[i:i+hashSize], want[i:i+hashSize]) {
			if s.firstBad < 0 {
				s.firstBad = s.fileN + int64(i/hashSize)
			}
			s.rewritten++
		}
	}
}

// finishRecovery flushes the tree recovery rebuilt and cuts the hashes the
// file holds beyond it. It returns how many hashes it found different,
// the index of the first of them (-1 if none), and how many it cut.
func (s *hashStore) finishRecovery() (rewritten, firstBad, extra int64, err error) {
	if err := s.flush(); err != nil {
		return 0, 0, 0, err
	}
	if s.oldN > s.n {
		extra = s.oldN - s.n
	}
	fi, err := s.f.Stat()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("queue: hash store: %w", err)
	}
	if fi.Size() != s.n*hashSize {
		if err := s.f.Truncate(s.n * hashSize); err != nil {
			return 0, 0, 0, fmt.Errorf("queue: cut hash store: %w", err)
		}
	}
	s.oldN = 0
	return s.rewritten, s.firstBad, extra, nil
}

func (s *hashStore) close() error { return s.f.Close() }

// readShared returns the stored hashes with the given indexes to a
// goroutine other than the writer. Each index must be that of a hash of
// a tree the writer has finished appending (a published one), so that it
// never changes: those in memory are copied under mu, the others are read
// from the file without it, and the writer's cache is left alone.
func (s *hashStore) readShared(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var fromFile []int // positions in indexes of hashes to read from the file
	s.mu.Lock()
	for i, x := range indexes {
		switch {
		case x < 0 || x >= s.n:
			n := s.n
			s.mu.Unlock()
			return nil, fmt.Errorf("queue: hash index %d out of range (%d)", x, n)
		case x >= s.memStart:
			out[i] = s.mem[x-s.memStart]
		default:
			fromFile = append(fromFile, i)
		}
	}
	s.mu.Unlock()
	for _, i := range fromFile {
		if _, err := s.f.ReadAt(out[i][:], indexes[i]*hashSize); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("queue: read hash store: %w", err)
		}
	}
	return out, nil
}

// sharedHashes reads the published tree of a hash store for goroutines
// other than the writer.
type sharedHashes struct{ s *hashStore }

// ReadHashes implements tlog.HashReader.
func (r sharedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.s.readShared(indexes)
}

var (
	_ tlog.HashReader = (*hashStore)(nil)
	_ tlog.HashReader = sharedHashes{}
)
