package ledger

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLineReserialized(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	e := l.entries[3]
	// A SIEM stores the event with other key order, whitespace and escapes.
	var m map[string]any
	require.NoError(t, json.Unmarshal(e.AppendLine(nil), &m))
	other, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	got, err := ParseLine(other)
	require.NoError(t, err)
	assert.Equal(t, e, got)
}

func TestParseLineRefuses(t *testing.T) {
	for _, line := range []string{
		``, `[]`, `{}`, `{"seq":1}`, `{"seq":-1,"prev_hash":"","hash":"","sig":"","key_id":""}`,
		`{"seq":1,"prev_hash":"00","hash":"00","sig":"","key_id":"k+00000000"}`,
		`{"seq":1,"seq":2}`, "{\"seq\":1,\"x\":\"\xff\"}",
	} {
		_, err := ParseLine([]byte(line))
		assert.ErrorIs(t, err, ErrMalformed, "%q", line)
	}
}

// FuzzParseLine checks that ParseLine never panics and that every line it
// accepts round trips: AppendLine writes valid JSON that parses to the same
// entry, and is a fixed point.
func FuzzParseLine(f *testing.F) {
	s, err := NewSigner(exampleSkey(f))
	if err != nil {
		f.Fatal(err)
	}
	e := &Entry{Seq: 1, Body: []byte(`{"a":[1,2.5,"\u00e9\n"],"b":{"c":null}}`)}
	e.Hash = e.ComputeHash()
	e.Sig = s.SignHash(e.Hash)
	e.KeyID = s.KeyID()
	f.Add(e.AppendLine(nil))
	f.Add([]byte(`{"seq":0,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"0000000000000000000000000000000000000000000000000000000000000000","sig":"","key_id":"a+00000000"}`))
	f.Add([]byte(`{"seq":1e2,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"0000000000000000000000000000000000000000000000000000000000000000","sig":"AA==","key_id":"\u0001","x":1e400}`))
	f.Add([]byte(`{"record":"checkpoint","size":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		out := e.AppendLine(nil)
		if !json.Valid(out) {
			t.Fatalf("AppendLine wrote invalid JSON: %q", out)
		}
		e2, err := ParseLine(out)
		if err != nil {
			t.Fatalf("ParseLine(AppendLine(e)): %v\nline: %q", err, out)
		}
		if !entriesEqual(e, e2) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, e2)
		}
		if out2 := e2.AppendLine(nil); string(out2) != string(out) {
			t.Fatalf("AppendLine not a fixed point:\n%q\n%q", out, out2)
		}
	})
}

func entriesEqual(a, b *Entry) bool {
	return a.Seq == b.Seq && a.PrevHash == b.PrevHash && a.Hash == b.Hash &&
		string(a.Sig) == string(b.Sig) && a.KeyID == b.KeyID && string(a.Body) == string(b.Body)
}

// FuzzCheckLine checks that no input line makes a Check panic.
func FuzzCheckLine(f *testing.F) {
	f.Add([]byte(`{"record":"checkpoint","size":1,"root":"AA==","checkpoint":"o\n1\nAA==\n\n— a b\n"}`))
	f.Add([]byte(`{"record":"heartbeat"}`))
	f.Add([]byte(`{"seq":0,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"0000000000000000000000000000000000000000000000000000000000000000","sig":"","key_id":"a+00000000","action":"ledger.checkpoint","attributes":{"checkpoint":"x"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c := NewCheck(Keyring{})
		c.Line(line, "fuzz:1")
		c.AnchorLine(line, "fuzz:2")
		c.Checkpoint(line, "fuzz:3", true)
		c.Finish()
	})
}
