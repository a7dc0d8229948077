package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestEntrySignerMatchesStdlib: Ed25519 is deterministic, so the entry
// signer must give byte for byte what crypto/ed25519 gives.
func TestEntrySignerMatchesStdlib(t *testing.T) {
	for k := 0; k < 50; k++ {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		es := newEntrySigner(priv)
		for m := 0; m < 20; m++ {
			msg := make([]byte, m*7)
			rand.Read(msg)
			if m%2 == 0 {
				h := sha256.Sum256(msg)
				msg = h[:]
			}
			want := ed25519.Sign(priv, msg)
			if got := es.sign(msg); !bytes.Equal(got, want) {
				t.Fatalf("key %d msg %d: signature differs from crypto/ed25519\n got %x\nwant %x", k, m, got, want)
			}
		}
	}
}

func TestSignBatchMatchesStdlib(t *testing.T) {
	for k := 0; k < 20; k++ {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		es := newEntrySigner(priv)
		for _, n := range []int{0, 1, 2, 3, 17, 64} {
			msgs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = make([]byte, (i*5)%70)
				rand.Read(msgs[i])
			}
			sigs := make([][ed25519.SignatureSize]byte, n)
			es.signBatch(msgs, sigs)
			for i, msg := range msgs {
				if want := ed25519.Sign(priv, msg); !bytes.Equal(sigs[i][:], want) {
					t.Fatalf("key %d batch %d msg %d: signature differs from crypto/ed25519\n got %x\nwant %x", k, n, i, sigs[i], want)
				}
			}
		}
	}
}

func BenchmarkSign(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	es := newEntrySigner(priv)
	var h Hash
	b.Run("stdlib", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h[0] = byte(i)
			ed25519.Sign(priv, h[:])
		}
	})
	b.Run("entrySigner", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h[0] = byte(i)
			es.sign(h[:])
		}
	})
	b.Run("signBatch256", func(b *testing.B) {
		msgs := make([][]byte, 256)
		for i := range msgs {
			msgs[i] = make([]byte, 32)
			rand.Read(msgs[i])
		}
		sigs := make([][ed25519.SignatureSize]byte, len(msgs))
		for i := 0; i < b.N; i += len(msgs) {
			es.signBatch(msgs, sigs)
		}
	})
}
