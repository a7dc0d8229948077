package ledger

import (
	"crypto/ed25519"
	"crypto/sha512"

	"filippo.io/edwards25519"
)

// entrySigner computes RFC 8032 Ed25519 signatures over entry hashes. It
// produces exactly the bytes crypto/ed25519.Sign does (Ed25519 is
// deterministic; TestEntrySignerMatchesStdlib checks this for many keys and
// messages) but derives the expanded key once and encodes the commitment
// point R once per signature, where the standard library encodes it twice:
// that field inversion is about a seventh of the cost of a signature, and
// signing is most of the ledger's work per entry.
type entrySigner struct {
	s      *edwards25519.Scalar // secret scalar, clamped
	prefix [32]byte             // second half of SHA-512(seed)
	pub    [32]byte
}

func newEntrySigner(priv ed25519.PrivateKey) *entrySigner {
	h := sha512.Sum512(priv.Seed())
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic("ledger: clamping a 32-byte scalar cannot fail")
	}
	es := &entrySigner{s: s}
	copy(es.prefix[:], h[32:])
	copy(es.pub[:], priv.Public().(ed25519.PublicKey))
	return es
}

// sign returns the Ed25519 signature of msg.
func (es *entrySigner) sign(msg []byte) []byte {
	var digest [64]byte
	mh := sha512.New()
	mh.Write(es.prefix[:])
	mh.Write(msg)
	r, err := edwards25519.NewScalar().SetUniformBytes(mh.Sum(digest[:0]))
	if err != nil {
		panic("ledger: a 64-byte uniform scalar cannot fail")
	}
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	kh := sha512.New()
	kh.Write(R)
	kh.Write(es.pub[:])
	kh.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(digest[:0]))
	if err != nil {
		panic("ledger: a 64-byte uniform scalar cannot fail")
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, es.s, r)
	sig := make([]byte, ed25519.SignatureSize)
	copy(sig, R)
	copy(sig[32:], S.Bytes())
	return sig
}
