package ledger

import (
	"crypto/ed25519"
	"crypto/sha512"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
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

// signBatch writes into sigs[i] the Ed25519 signature of msgs[i]. It gives
// the same bytes as sign, but encodes the commitment points R of the whole
// batch with one field inversion (Montgomery's trick: three multiplications
// per signature instead of an inversion each).
func (es *entrySigner) signBatch(msgs [][]byte, sigs [][ed25519.SignatureSize]byte) {
	n := len(msgs)
	if n == 0 {
		return
	}
	var digest [64]byte
	rs := make([]edwards25519.Scalar, n)
	xs := make([]field.Element, n)
	ys := make([]field.Element, n)
	zs := make([]field.Element, n)
	prods := make([]field.Element, n)
	var p edwards25519.Point
	for i, msg := range msgs {
		mh := sha512.New()
		mh.Write(es.prefix[:])
		mh.Write(msg)
		if _, err := rs[i].SetUniformBytes(mh.Sum(digest[:0])); err != nil {
			panic("ledger: a 64-byte uniform scalar cannot fail")
		}
		p.ScalarBaseMult(&rs[i])
		X, Y, Z, _ := p.ExtendedCoordinates()
		xs[i].Set(X)
		ys[i].Set(Y)
		zs[i].Set(Z)
		if i == 0 {
			prods[0].Set(Z)
		} else {
			prods[i].Multiply(&prods[i-1], Z)
		}
	}
	var inv, zinv, x, y field.Element
	inv.Invert(&prods[n-1])
	for i := n - 1; i >= 0; i-- {
		if i > 0 {
			zinv.Multiply(&inv, &prods[i-1])
			inv.Multiply(&inv, &zs[i])
		} else {
			zinv.Set(&inv)
		}
		x.Multiply(&xs[i], &zinv)
		y.Multiply(&ys[i], &zinv)
		R := sigs[i][:32]
		copy(R, y.Bytes())
		R[31] |= byte(x.IsNegative() << 7)
	}
	for i, msg := range msgs {
		kh := sha512.New()
		kh.Write(sigs[i][:32])
		kh.Write(es.pub[:])
		kh.Write(msg)
		k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(digest[:0]))
		if err != nil {
			panic("ledger: a 64-byte uniform scalar cannot fail")
		}
		S := edwards25519.NewScalar().MultiplyAdd(k, es.s, &rs[i])
		copy(sigs[i][32:], S.Bytes())
	}
}
