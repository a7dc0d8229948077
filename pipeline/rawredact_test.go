package pipeline

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ interface{ RedactRaw([]byte) []byte } = (*Normalizer)(nil)

func TestRedactRawJSON(t *testing.T) {
	n := newNormalizer(t, func(o *Options) { o.RedactPaths = []string{"attributes.extra.code"} })
	for _, c := range []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{"refused event", `{"action":"a b","actor":"u","password":"hunter2","headers":{"X-Api-Key":"k3y"},"dsn":"postgres://u:pw9@h/db"}`,
			[]string{"hunter2", "k3y", "pw9"}, []string{`"action":"a b"`, "postgres://u:hmac-sha256:", "@h/db"}},
		{"secret category", `{"category":"credentials","changes":{"after":{"value":"v4l"}}}`, []string{"v4l"}, nil},
		{"secret action", `{"action":"secret.update","value":"v4l","x":[{"value":"v5l"}]}`, []string{"v4l", "v5l"}, nil},
		{"unparsed document", `{"changes":{"after":"a:\n\tpassword: pw7\n"}}`, []string{"pw7"}, nil},
		{"parsed document", `{"changes":{"after":"a:\n  password: pw7\n  port: 5\n"}}`, []string{"pw7"}, []string{`"port":5`}},
		{"configured path", `{"time":1,"extra":{"code":"c0de"}}`, []string{"c0de"}, nil},
		{"array", `[{"token":"t0k"},"Bearer abcdefgh12345678"]`, []string{"t0k", "abcdefgh12345678"}, nil},
		{"duplicate keys kept", `{"token":"t1","token":"t2","a":1,"a":2}`, []string{`"t1"`, `"t2"`}, []string{`"a":1,"a":2`}},
		{"bom", "\xef\xbb\xbf" + `{"pwd":"pw8"}`, []string{"pw8", "\xef\xbb\xbf"}, nil},
		{"scalar", `"ghp_` + strings.Repeat("a1B2", 9) + `"`, []string{"a1B2a1B2"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := string(n.RedactRaw([]byte(c.in)))
			require.True(t, json.Valid([]byte(out)), out)
			for _, s := range c.gone {
				assert.NotContains(t, out, s)
			}
			for _, s := range c.kept {
				assert.Contains(t, out, s)
			}
		})
	}
}

func TestRedactRawText(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range []struct {
		name, in, want string // want: T for each redaction
	}{
		{"truncated json", `{"action":"a.b","password": "hunter2", "token": "t0`, `{"action":"a.b","password": "T", "token": "T`},
		{"escaped quotes", `{"secret":"a\"b", "x":`, `{"secret":"T", "x":`},
		{"object under a secret name", `{"credentials": {"user":"u","pass":"p"}, "x": [`, `{"credentials": T, "x": [`},
		{"value is secret in text", `{"value":"v4l", `, `{"value":"T", `},
		{"key=value", `user=bob password=hunter2 host=db`, `user=bob password=T host=db`},
		{"yaml", "token: abc123\nname: x", "token: T\nname: x"},
		{"header", `X-Api-Key: k3y`, `X-Api-Key: T`},
		{"shapes", `not json Bearer abcdefgh12345678 and https://u:pw@h/`, `not json Bearer T and https://u:T@h/`},
		{"escaped newline before a key", `{"note": "line\nAKIAIOSFODNN7EXAMPLE and\n-----BEGIN PRIVATE KEY-----\nMII`, `{"note": "line\nT and\nT`},
		{"nothing secret", `not json at all`, `not json at all`},
		{"empty", ``, ``},
		{"bom", "\xef\xbb\xbfpassword=x", "password=T"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := n.RedactRaw([]byte(c.in))
			assert.Equal(t, c.want, tokenRE.ReplaceAllString(string(out), "T"))
			assert.Equal(t, string(out), string(n.RedactRaw(out)), "stable")
		})
	}
	// The input is never modified, the output never aliases it.
	in := []byte(`password=hunter2`)
	out := n.RedactRaw(in)
	assert.Equal(t, `password=hunter2`, string(in))
	in2 := []byte(`not secret`)
	out2 := n.RedactRaw(in2)
	in2[0] = 'X'
	assert.Equal(t, "not secret", string(out2))
	_ = out
}

// A secret is redacted to the same text in an event and in a refused
// record's dead letter, so the two can be correlated.
func TestRedactRawSameAsNormalize(t *testing.T) {
	n := newNormalizer(t)
	ev, err := n.Normalize(event(`"password":"hunter2"`), Source{}, testReceived, "")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(ev.Body, &m))
	want := lookup(m, "attributes.password").(string)
	assert.Contains(t, string(n.RedactRaw([]byte(`{"password":"hunter2","action":"a b"}`))), want)
	assert.Contains(t, string(n.RedactRaw([]byte(`password=hunter2 ...`))), want)
}

// Every sample line, good or bad, keeps no sample secret in RedactRaw.
func TestRedactRawSamples(t *testing.T) {
	n := newNormalizer(t)
	for _, name := range []string{"control-plane-audit.ndjson", "control-plane-audit-bad.ndjson"} {
		for _, l := range readLines(t, name) {
			for _, in := range [][]byte{l, l[:len(l)/2], l[:len(l)-1]} { // whole, and cut (not JSON)
				out := n.RedactRaw(in)
				for _, s := range forbidden {
					assert.NotContains(t, string(out), s, "%s", in)
				}
			}
		}
	}
}

// rawLines are comparable lines for BenchmarkRedactRaw and
// BenchmarkNormalize/refused: JSON and not JSON, good and bad.
func rawLines(tb testing.TB) []struct{ name, line string } {
	bad := strings.Replace(ingestEvent, `"action":"config.update"`, `"action":"config update"`, 1)
	return []struct{ name, line string }{
		{"json-good-1KB", ingestEvent},
		{"json-refused-1KB", bad},
		{"truncated-1KB", ingestEvent[:len(ingestEvent)-40]},
		{"text-1KB", strings.Repeat("2026-01-01 10:00:00 INFO user=alice action=config.update ok; ", 16)},
		{"text-secrets-1KB", strings.Repeat("login user=alice password=hunter2 Authorization: Bearer abcdefgh12345678; ", 13)},
		{"json-secrets-1KB", secretsEvent},
	}
}

// secretsEvent is a ~1 KB accepted event with 26 secrets, to compare with
// the text of the same number of secrets.
var secretsEvent = `{"time":"2026-03-01T10:00:00.123456Z","action":"login.attempt","actor":{"id":"alice"},"tries":[` +
	strings.TrimSuffix(strings.Repeat(`{"user":"alice","password":"hunter2","authorization":"Bearer abcdefgh12345678"},`, 13), ",") + `]}`

func BenchmarkRedactRaw(b *testing.B) {
	n := newNormalizer(b)
	for _, c := range rawLines(b) {
		raw := []byte(c.line)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if out := n.RedactRaw(raw); len(out) == 0 {
					b.Fatal("empty")
				}
			}
		})
	}
}

func TestRawLinesAreWhatTheyClaim(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range rawLines(t) {
		_, err := n.Normalize([]byte(c.line), Source{}, testReceived, "")
		assert.Equal(t, c.name == "json-good-1KB" || c.name == "json-secrets-1KB", err == nil, c.name)
		assert.InDelta(t, 1000, len(c.line), 200, c.name)
		out := n.RedactRaw([]byte(c.line))
		assert.Equal(t, strings.Contains(c.name, "secrets"), !bytes.Contains(out, []byte("hunter2")) && bytes.Contains(out, []byte(RedactedPrefix)), c.name)
	}
}
