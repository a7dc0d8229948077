package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

// An event proof is one self-contained text document that proves one entry
// is in the ledger, unaltered: a c2sp.org/tlog-proof@v1 proof whose extra
// data is the entry's line, for the entry's seq, with the inclusion proof
// of its leaf (LeafHash of its hash) in the tree of a signed checkpoint
// that covers it. Anyone with the ledger's public key checks it offline
// (VerifyEventProof, `kt verify --proof FILE`): the line's hash, its
// signature, its seq, the checkpoint's signature, and the inclusion of the
// leaf in the checkpoint's tree.

// FormatEventProof returns the event proof of the entry line (its seq is
// the leaf index) with the inclusion proof p in the tree of the signed
// checkpoint note.
func FormatEventProof(seq uint64, line []byte, p tlog.RecordProof, note []byte) []byte {
	return torchwood.FormatProofWithExtraData(int64(seq), line, p, note)
}

// Errors of VerifyEventProof, wrapped with the details.
var (
	ErrProofFormat   = errors.New("not a kt event proof (c2sp.org/tlog-proof@v1 with the entry's line as extra data)")
	ErrProofEntry    = errors.New("the entry of the proof does not check")
	ErrProofIncluded = errors.New("the proof does not tie the entry to the checkpoint")
)

// VerifyEventProof checks an event proof with the ledger's public key v
// and returns the entry it proves and the size of the checkpoint it is
// tied to.
func VerifyEventProof(v *Verifier, proof []byte) (*Entry, int64, error) {
	line, err := torchwood.ProofExtraData(proof)
	if err != nil || len(line) == 0 {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofFormat, err)
	}
	idx, err := proofIndex(proof)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofFormat, err)
	}
	// One document, one spelling: base64 with stray padding bits, or any
	// other byte changed, is refused before anything is believed.
	if err := canonicalProof(proof, idx, line); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofFormat, err)
	}
	e, err := ParseLine(line)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofEntry, err)
	}
	if e.Seq != uint64(idx) {
		return e, 0, fmt.Errorf("%w: the entry has seq %d, the proof is for index %d", ErrProofEntry, e.Seq, idx)
	}
	if h := e.ComputeHash(); h != e.Hash {
		return e, 0, fmt.Errorf("%w: seq %d: its hash is not the hash of its content (MODIFIED)", ErrProofEntry, e.Seq)
	}
	if e.KeyID != v.KeyID() {
		return e, 0, fmt.Errorf("%w: seq %d is signed by key %s, not by the trusted %s", ErrProofEntry, e.Seq, e.KeyID, v.KeyID())
	}
	if !v.VerifyHash(e.Hash, e.Sig) {
		return e, 0, fmt.Errorf("%w: seq %d: bad signature (BAD_SIGNATURE)", ErrProofEntry, e.Seq)
	}
	origin, size, err := proofCheckpoint(proof)
	if err != nil {
		return e, 0, fmt.Errorf("%w: %v", ErrProofFormat, err)
	}
	// The trust is in the key: the checkpoint must be signed by it, for
	// whatever origin (log name) the agent was configured with.
	policy := torchwood.ThresholdPolicy(2, torchwood.OriginPolicy(origin), torchwood.SingleVerifierPolicy(v.NoteVerifier()))
	if err := torchwood.VerifyProof(policy, LeafHash(e.Hash), proof); err != nil {
		return e, 0, fmt.Errorf("%w: %v", ErrProofIncluded, err)
	}
	return e, size, nil
}

// proofIndex reads the "index N" line of a tlog-proof.
func proofIndex(proof []byte) (int64, error) {
	for _, l := range bytes.Split(proof, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("index ")); ok {
			return strconv.ParseInt(string(rest), 10, 64)
		}
		if len(l) == 0 {
			break
		}
	}
	return 0, errors.New("no index line")
}

// proofCheckpoint reads the origin and the tree size of the checkpoint of
// a tlog-proof (its first two lines, after the proof's blank line).
func proofCheckpoint(proof []byte) (string, int64, error) {
	_, cp, ok := bytes.Cut(proof, []byte("\n\n"))
	if !ok {
		return "", 0, errors.New("no checkpoint")
	}
	lines := bytes.SplitN(cp, []byte("\n"), 3)
	if len(lines) < 3 {
		return "", 0, errors.New("a checkpoint without an origin and a size")
	}
	size, err := strconv.ParseInt(string(lines[1]), 10, 64)
	return string(lines[0]), size, err
}

// canonicalProof checks that proof is exactly what FormatEventProof writes
// for its parts.
func canonicalProof(proof []byte, idx int64, line []byte) error {
	head, cp, ok := bytes.Cut(proof, []byte("\n\n"))
	if !ok {
		return errors.New("no checkpoint")
	}
	var p tlog.RecordProof
	past := false
	for _, l := range bytes.Split(head, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("index ")) {
			past = true
			continue
		}
		if !past {
			continue
		}
		h, err := tlog.ParseHash(string(l))
		if err != nil {
			return fmt.Errorf("a proof hash: %v", err)
		}
		p = append(p, h)
	}
	if !bytes.Equal(FormatEventProof(uint64(idx), line, p, cp), proof) {
		return errors.New("not in canonical form")
	}
	// The note's signature lines: "— <name> <base64>".
	for _, l := range bytes.Split(cp, []byte("\n")) {
		rest, ok := bytes.CutPrefix(l, []byte("\u2014 "))
		if !ok {
			continue
		}
		i := bytes.LastIndexByte(rest, ' ')
		if i < 0 {
			return errors.New("a bad signature line")
		}
		b64 := string(rest[i+1:])
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(sig) != b64 {
			return errors.New("a signature not in canonical base64")
		}
	}
	return nil
}
