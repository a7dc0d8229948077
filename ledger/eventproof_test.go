package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// proofFixture signs n entries, a checkpoint of all of them, and returns
// the verifier, the lines and the event proof of entry seq.
func proofFixture(t *testing.T, n int, seq int) (*Verifier, [][]byte, []byte) {
	t.Helper()
	skey, vkey, err := GenerateKey(rand.Reader, "kt-proof-test")
	require.NoError(t, err)
	s, err := NewSigner(skey)
	require.NoError(t, err)
	v, err := NewVerifier(vkey)
	require.NoError(t, err)
	var tree Tree
	var prev Hash
	var lines [][]byte
	for i := range n {
		e := &Entry{Seq: uint64(i), PrevHash: prev, Body: []byte(fmt.Sprintf(`{"action":"config.update","id":"ev-%d"}`, i))}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		prev = e.Hash
		tree.Append(e.Hash)
		lines = append(lines, e.AppendLine(nil))
	}
	root, err := tree.Root(int64(n))
	require.NoError(t, err)
	cp, err := SignCheckpoint(s, "kt.example/ledger", int64(n), root)
	require.NoError(t, err)
	p, err := tlog.ProveRecord(int64(n), int64(seq), tree.HashReader())
	require.NoError(t, err)
	return v, lines, FormatEventProof(uint64(seq), lines[seq], p, cp.Note)
}

func TestEventProofChecksOffline(t *testing.T) {
	v, lines, proof := proofFixture(t, 37, 21)
	assert.True(t, bytes.HasPrefix(proof, []byte("c2sp.org/tlog-proof@v1\n")), "%s", proof)
	e, size, err := VerifyEventProof(v, proof)
	require.NoError(t, err)
	assert.Equal(t, uint64(21), e.Seq)
	assert.Equal(t, int64(37), size)
	assert.Equal(t, string(lines[21]), string(e.AppendLine(nil)))
}

func TestEventProofCatchesEveryChange(t *testing.T) {
	v, _, proof := proofFixture(t, 37, 21)
	// Every single byte changed anywhere makes it fail.
	for i := range proof {
		bad := bytes.Clone(proof)
		bad[i] ^= 0x01
		_, _, err := VerifyEventProof(v, bad)
		assert.Error(t, err, "byte %d (%q)", i, proof[i])
	}
	// Another key.
	_, vkey, err := GenerateKey(rand.Reader, "kt-proof-test")
	require.NoError(t, err)
	other, err := NewVerifier(vkey)
	require.NoError(t, err)
	_, _, err = VerifyEventProof(other, proof)
	assert.ErrorIs(t, err, ErrProofEntry)
	// Not a proof at all.
	_, _, err = VerifyEventProof(v, []byte("hello\n"))
	assert.ErrorIs(t, err, ErrProofFormat)
}

func TestEventProofOfAnotherEntryAtTheIndexFails(t *testing.T) {
	// The proof of entry 21, with the line of entry 22 put in its place.
	v, lines, proof := proofFixture(t, 37, 21)
	bad := bytes.Replace(proof, []byte(b64(lines[21])), []byte(b64(lines[22])), 1)
	require.NotEqual(t, proof, bad)
	_, _, err := VerifyEventProof(v, bad)
	assert.Error(t, err)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
