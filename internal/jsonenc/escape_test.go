package jsonenc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specString is RFC 8785 §3.2.2.2 written out byte by byte, the reference
// AppendString must match for any input.
func specString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// stdlibString is encoding/json's form of s without HTML escaping, with
// U+2028 and U+2029 as RFC 8785 writes them (as themselves).
func stdlibString(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(s))
	out := strings.TrimSuffix(buf.String(), "\n")
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(out)
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"evt_1", `"evt_1"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x0b\x0e\x1f", `"\u0000\u0001\u000b\u000e\u001f"`},
		{"/<>&\x7f", "\"/<>&\x7f\""},
		{"é✓😀\u2028\u2029", "\"é✓😀\u2028\u2029\""},
		{"twelve bytes\n and more after the SWAR word", `"twelve bytes\n and more after the SWAR word"`},
		{strings.Repeat("x", 17) + "\x1f", `"` + strings.Repeat("x", 17) + `\u001f"`},
	} {
		got := AppendString([]byte("prefix:"), tc.in)
		assert.Equal(t, "prefix:"+tc.want, string(got), "%q", tc.in)
		assert.Equal(t, tc.want, string(AppendBytes(nil, []byte(tc.in))), "%q", tc.in)
		assert.Equal(t, tc.want, string(AppendAnyString(nil, tc.in)), "%q", tc.in)
	}
}

func TestAppendAnyString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"\xff\xfe", `"\ufffd\ufffd"`},
		{"cut \xe2\x9c", `"cut \ufffd\ufffd"`},
		{"\xc0\x80\t", `"\ufffd\ufffd\t"`},
		{"é\xffé", `"é\ufffdé"`},
	} {
		got := AppendAnyString(nil, tc.in)
		assert.Equal(t, tc.want, string(got), "%q", tc.in)
		assert.True(t, json.Valid(got))
		assert.True(t, utf8.Valid(got))
	}
}

func TestPlainPrefix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 3}, {"abcdefgh", 8}, {"abcdefghi", 9},
		{"abcdefg\"", 7}, {"abcdefgh\\", 8}, {"a\x1fcdefghij", 1}, {"abcdefgh\x7f\x80\xff ", 12},
		{"0123456789abcdef\n", 16},
	} {
		assert.Equal(t, tc.want, PlainPrefix(tc.in), "%q", tc.in)
	}
}

// FuzzAppendString checks the escaper against the RFC written out
// (specString), against RFC 8785 as github.com/gowebpki/jcs implements
// it, and against encoding/json, which must read back the same string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "a", `"`, `\`, "\x00", "\x1f", "\x7f", "\b\f\n\r\t", "é✓😀", "\u2028\u2029",
		"<&>", "0123456789abcdef", "01234567\"9abcdef", "0123456\x01", "\xff", "a\xc3", "\xed\xa0\x80",
		`{"seq":1,"hash":"x"}`, "Zoë Ångström — rollout wave 2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(AppendString(nil, s))
		require.Equal(t, specString(s), got)
		require.Equal(t, got, string(AppendBytes(nil, []byte(s))))
		any := string(AppendAnyString(nil, s))
		if !utf8.ValidString(s) {
			require.Equal(t, stdlibString(t, s), any)
			return
		}
		require.Equal(t, got, any)
		require.Equal(t, stdlibString(t, s), got)
		var back string
		require.NoError(t, json.Unmarshal([]byte(got), &back))
		require.Equal(t, s, back)
		if strings.ContainsRune(s, utf8.RuneError) {
			return // jcs refuses U+FFFD in its input
		}
		marshaled, err := json.Marshal(s)
		require.NoError(t, err)
		canon, err := jcs.Transform(marshaled)
		require.NoError(t, err)
		require.Equal(t, string(canon), got)
	})
}

// BenchmarkAppendString writes the strings of a typical event: short
// plain ones, a user agent, and one with escapes.
func BenchmarkAppendString(b *testing.B) {
	for _, s := range []string{
		"auth.login",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"line one\nline \"two\"\twith a tab",
		`{"seq":2,"prev_hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f","hash":"b33b757671a64af57db4b7d066a5004eb3dc31ac0a29efae972ebe0e5e5a3393","key_id":"kt-example+b45eaef2","action":"config.update","actor":{"id":"alice","ip":"203.0.113.7","name":"Alice Example","type":"user","user_agent":"console/2.4"},"category":"configuration"}`,
	} {
		b.Run(strings.Fields(s)[0][:min(len(strings.Fields(s)[0]), 10)], func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = AppendString(buf[:0], s)
			}
		})
	}
}
