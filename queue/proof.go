package queue

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Proofs from the stored Merkle tree (the hash store), for export bundles
// and single-event proofs. The tree is the RFC 6962 tree whose leaf seq is
// ledger.LeafHash of the hash of the entry at seq, or, for an entry lost
// in damage, the placeholder leaf (see the package doc, "Torn tails and
// damage"): the tree every commit checkpoint since Open was signed over.
// A checker needs only golang.org/x/mod/sumdb/tlog:
//
//	p, err := l.InclusionProof(seq, size)
//	err = tlog.CheckRecord(p, int64(size), cp.Root, int64(seq), ledger.LeafHash(entryHash))
//
//	p, err := l.ConsistencyProof(old.Size, size)
//	err = tlog.CheckTree(p, int64(size), cp.Root, old.Size, old.Root)
//
// where cp is a checkpoint of size size. They are safe for concurrent use,
// with each other and while the ledger is written: they read only the
// tree of the published (committed) entries, whose stored hashes never
// change.

// ErrRange is returned (wrapped) by TreeHash, InclusionProof and
// ConsistencyProof for a tree size beyond the committed one (Size), or a
// seq or size outside the tree asked for.
var ErrRange = errors.New("queue: outside the committed tree")

// TreeHash returns the root hash of the tree of the first n entries, n at
// most Size: the root that the checkpoint of size n signed (see
// ConsistencyProof for one signed before damage). TreeHash(0) is the hash
// of the empty tree, SHA-256 of nothing.
func (l *Ledger) TreeHash(n uint64) (tlog.Hash, error) {
	if err := l.committed(n); err != nil {
		return tlog.Hash{}, err
	}
	h, err := tlog.TreeHash(int64(n), sharedHashes{l.tree})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("queue: tree hash of size %d: %w", n, err)
	}
	return h, nil
}

// InclusionProof returns the RFC 6962 inclusion (audit) proof of the leaf
// seq in the tree of the first n entries: seq < n, n at most Size. For a
// seq lost in damage the leaf is the placeholder, not the lost entry's.
func (l *Ledger) InclusionProof(seq, n uint64) (tlog.RecordProof, error) {
	if err := l.committed(n); err != nil {
		return nil, err
	}
	if seq >= n {
		return nil, fmt.Errorf("%w: seq %d is not in a tree of size %d", ErrRange, seq, n)
	}
	p, err := tlog.ProveRecord(int64(n), int64(seq), sharedHashes{l.tree})
	if err != nil {
		return nil, fmt.Errorf("queue: inclusion proof of seq %d in size %d: %w", seq, n, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof that the tree of
// the first m entries is a prefix of the tree of the first n: 1 <= m <= n,
// n at most Size. A checkpoint signed before damage over a tree that held
// an entry now lost (see the package doc) has another root than the
// stored tree of its size: the proof does not check against it.
func (l *Ledger) ConsistencyProof(m, n uint64) (tlog.TreeProof, error) {
	if err := l.committed(n); err != nil {
		return nil, err
	}
	if m < 1 || m > n {
		return nil, fmt.Errorf("%w: no consistency proof of size %d in size %d: want 1 <= %[2]d <= %[3]d", ErrRange, m, n)
	}
	p, err := tlog.ProveTree(int64(n), int64(m), sharedHashes{l.tree})
	if err != nil {
		return nil, fmt.Errorf("queue: consistency proof of size %d in size %d: %w", m, n, err)
	}
	return p, nil
}

// committed returns nil if the tree of size n is published, ErrClosed
// after Close, and else an ErrRange error.
func (l *Ledger) committed(n uint64) error {
	l.mu.Lock()
	size, closed := l.size, l.closed
	l.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case n > size:
		return fmt.Errorf("%w: size %d is beyond the %d committed entries", ErrRange, n, size)
	}
	return nil
}
