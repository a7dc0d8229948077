package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gowebpki/jcs"

	"github.com/keeptrusts/kt/internal/jsonenc"
)

// HashSize is the size in bytes of an entry hash.
const HashSize = sha256.Size

// Hash is a SHA-256 entry hash.
type Hash [HashSize]byte

// String returns the lowercase hex form used on the wire.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the lowercase hex form of a hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("ledger: hash %q: want %d hex digits", s, 2*HashSize)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("ledger: hash %q: %w", s, err)
	}
	if h.String() != s {
		return h, fmt.Errorf("ledger: hash %q: not lowercase hex", s)
	}
	return h, nil
}

// entryDomain is the domain separation prefix of the chain hash.
const entryDomain = "kt/entry/v1\n"

// EntryHash computes the chain hash of an entry:
//
//	SHA-256("kt/entry/v1\n" || u64be(seq) || prev || body)
//
// where body is the RFC 8785 canonical form of the event without its ledger
// fields.
func EntryHash(seq uint64, prev Hash, body []byte) Hash {
	h := sha256.New()
	var b [len(entryDomain) + 8 + HashSize]byte
	copy(b[:], entryDomain)
	binary.BigEndian.PutUint64(b[len(entryDomain):], seq)
	copy(b[len(entryDomain)+8:], prev[:])
	h.Write(b[:])
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

// LedgerKeys are the top-level keys that the ledger adds to an event on the
// wire. Input can never set them: they are removed to recover the body.
var LedgerKeys = []string{"seq", "prev_hash", "hash", "sig", "key_id"}

// Entry is one ledger entry: the canonical body and the ledger fields.
type Entry struct {
	Seq      uint64
	PrevHash Hash
	Hash     Hash
	Sig      []byte // Ed25519 signature over Hash
	KeyID    string // signed-note key name and key hash, "name+hex8"
	Body     []byte // RFC 8785 canonical JSON object, without ledger fields
}

// ComputeHash returns the chain hash of e from its Seq, PrevHash and Body.
func (e *Entry) ComputeHash() Hash { return EntryHash(e.Seq, e.PrevHash, e.Body) }

// AppendLine appends the NDJSON wire form of e to dst, without a newline:
//
//	{"seq":N,"prev_hash":"<hex>","hash":"<hex>","sig":"<base64>","key_id":"<id>",<body members>}
//
// The body members follow in their canonical order, byte for byte as in Body.
func (e *Entry) AppendLine(dst []byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"prev_hash":"`...)
	dst = hex.AppendEncode(dst, e.PrevHash[:])
	dst = append(dst, `","hash":"`...)
	dst = hex.AppendEncode(dst, e.Hash[:])
	dst = append(dst, `","sig":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.Sig)
	dst = append(dst, `","key_id":`...)
	dst = jsonenc.AppendString(dst, e.KeyID)
	if len(e.Body) > 2 {
		dst = append(dst, ',')
		dst = append(dst, e.Body[1:]...)
	} else {
		dst = append(dst, '}')
	}
	return dst
}

// ErrMalformed is returned (wrapped) when a line cannot be read as an entry.
var ErrMalformed = errors.New("ledger: malformed entry")

// ParseLine reads the NDJSON wire form of an entry. The body is recovered by
// removing the ledger keys and applying RFC 8785 to what remains, so a line
// that a SIEM re-serialized (other key order, other whitespace, other string
// escapes) still yields the original body. Duplicate keys, invalid UTF-8 and
// lone surrogates are refused.
func ParseLine(line []byte) (*Entry, error) {
	line = bytes.TrimSpace(line)
	canon, err := jcs.Transform(line)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(canon, &m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var e Entry
	var seq json.Number
	if err := takeField(m, "seq", &seq); err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(seq.String(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: seq %q is not an unsigned integer", ErrMalformed, seq)
	}
	e.Seq = n
	var prev, hash, sig string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"prev_hash", &prev}, {"hash", &hash}, {"sig", &sig}, {"key_id", &e.KeyID}} {
		if err := takeField(m, f.name, f.dst); err != nil {
			return nil, err
		}
	}
	if e.PrevHash, err = ParseHash(prev); err != nil {
		return nil, fmt.Errorf("%w: prev_hash: %v", ErrMalformed, err)
	}
	if e.Hash, err = ParseHash(hash); err != nil {
		return nil, fmt.Errorf("%w: hash: %v", ErrMalformed, err)
	}
	if e.Sig, err = base64.StdEncoding.DecodeString(sig); err != nil {
		return nil, fmt.Errorf("%w: sig: %v", ErrMalformed, err)
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Body, err = jcs.Transform(rest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &e, nil
}

func takeField(m map[string]json.RawMessage, name string, dst any) error {
	raw, ok := m[name]
	if !ok {
		return fmt.Errorf("%w: no %q", ErrMalformed, name)
	}
	delete(m, name)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(dst); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrMalformed, name, err)
	}
	return nil
}
