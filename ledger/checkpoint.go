package ledger

import (
	"errors"
	"fmt"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// LeafHash returns the RFC 6962 leaf hash of an entry hash: the Merkle tree
// of a ledger has one leaf per entry, leaf i = SHA-256(0x00 || hash_i).
func LeafHash(h Hash) tlog.Hash { return tlog.RecordHash(h[:]) }

// Checkpoint is a signed tree head in the C2SP tlog-checkpoint format.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte // the signed note: checkpoint text, blank line, signatures
}

// SignCheckpoint formats and signs a checkpoint of the tree of the first size
// entries.
func SignCheckpoint(s *Signer, origin string, size int64, root tlog.Hash) (*Checkpoint, error) {
	c := torchwood.Checkpoint{Origin: origin, Tree: tlog.Tree{N: size, Hash: root}}
	msg, err := note.Sign(&note.Note{Text: c.String()}, s.NoteSigner())
	if err != nil {
		return nil, fmt.Errorf("ledger: sign checkpoint: %w", err)
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root, Note: msg}, nil
}

// ErrUnknownKey is returned (wrapped) when a note carries no signature by a
// trusted key.
var ErrUnknownKey = errors.New("ledger: no signature by a trusted key")

// ErrBadSignature is returned (wrapped) when a signature by a trusted key
// does not verify.
var ErrBadSignature = errors.New("ledger: bad signature")

// OpenCheckpoint verifies a signed checkpoint against the keyring. It
// returns ErrUnknownKey or ErrBadSignature (wrapped) for signature problems
// and ErrMalformed for anything else.
func OpenCheckpoint(msg []byte, keys Keyring) (*Checkpoint, error) {
	n, err := note.Open(msg, keys)
	if err != nil {
		var unk *note.UnknownVerifierError
		var inv *note.InvalidSignatureError
		var unv *note.UnverifiedNoteError
		switch {
		case errors.As(err, &inv):
			return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
		case errors.As(err, &unk), errors.As(err, &unv):
			return nil, fmt.Errorf("%w: %v", ErrUnknownKey, err)
		default:
			return nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
		}
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
	}
	return &Checkpoint{Origin: c.Origin, Size: c.N, Root: c.Hash, Note: msg}, nil
}

// Tree is an in-memory RFC 6962 Merkle tree over entry hashes, for
// verifiers. The agent keeps its tree on disk (package queue).
type Tree struct {
	stored []tlog.Hash
	n      int64
}

// Append adds the leaf for entry hash h.
func (t *Tree) Append(h Hash) {
	hs, err := tlog.StoredHashes(t.n, h[:], memHashes(t.stored))
	if err != nil {
		panic(err) // memHashes never fails for indexes it holds
	}
	t.stored = append(t.stored, hs...)
	t.n++
}

// Size returns the number of leaves.
func (t *Tree) Size() int64 { return t.n }

// Root returns the root hash of the first n leaves (n <= Size).
func (t *Tree) Root(n int64) (tlog.Hash, error) {
	if n > t.n {
		return tlog.Hash{}, fmt.Errorf("ledger: tree has %d leaves, not %d", t.n, n)
	}
	return tlog.TreeHash(n, memHashes(t.stored))
}

// HashReader returns a tlog.HashReader over the stored hashes, for proofs.
func (t *Tree) HashReader() tlog.HashReader { return memHashes(t.stored) }

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("ledger: hash index %d out of range", x)
		}
		out[i] = m[x]
	}
	return out, nil
}
