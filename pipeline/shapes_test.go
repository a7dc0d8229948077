package pipeline

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redactString runs the shape rules of n over s, as the walker does for
// every string of an event.
func redactString(n *Normalizer, s string) string {
	w := n.getWork()
	defer n.putWork(w)
	wk := walker{n: n, mac: w.mac}
	out, _ := wk.shapes(s)
	return out
}

var tokenRE = regexp.MustCompile(`hmac-sha256:[0-9a-f]{64}`)

// fake builds a credential-shaped string without writing one literally.
func fake(prefix string, unit string, n int) string { return prefix + strings.Repeat(unit, n) }

func TestShapes(t *testing.T) {
	n := newNormalizer(t)
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	for _, c := range []struct {
		name, in, secret, want string // want: the text with the secret replaced by T
	}{
		{"url password", "postgres://app:pa55word@db:5432/app", "pa55word", "postgres://app:T@db:5432/app"},
		{"url password with @", "redis://:p@ss@cache:6379/0", "p@ss", "redis://:T@cache:6379/0"},
		{"url two urls", "from https://a:x1@h1/ to https://b:y2@h2/", "x1", "from https://a:T@h1/ to https://b:T@h2/"},
		{"key=value", "host=db user=app password=pa55 dbname=app", "pa55", "host=db user=app password=T dbname=app"},
		{"key = value", "Password = pa55 ;", "pa55", "Password = T ;"},
		{"ADO.NET", "Server=db;User ID=sa;Password=pa55;Encrypt=true", "pa55", "Server=db;User ID=sa;Password=T;Encrypt=true"},
		{"quoted value", `password="pa 55" next`, "pa 55", `password="T" next`},
		{"ODBC braces", "Uid=sa;Pwd={pa;55};", "{pa;55}", "Uid=sa;Pwd=T;"},
		{"query", "/x?api_key=k3y&page=2", "k3y", "/x?api_key=T&page=2"},
		{"yaml line", "db:\n  password: pa55 word\n  port: 5432", "pa55 word", "db:\n  password: T\n  port: 5432"},
		{"json text", `{"secret":"s3\"cr"}`, `s3\"cr`, `{"secret":"T"}`},
		{"json text object", `{"token":{"a":"b"},"c":1}`, `{"a":"b"}`, `{"token":T,"c":1}`},
		{"header", "Authorization: Bearer abc.def-123", "Bearer abc.def-123", "Authorization: T"},
		{"bearer alone", "sent bearer abcdefghij0123 to it", "abcdefghij0123", "sent bearer T to it"},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa55")), base64.StdEncoding.EncodeToString([]byte("user:pa55")), "Basic T"},
		{"pem", "k=\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nrest", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----", "k=\nT\nrest"},
		{"pem after a word", "x-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "xT"},
		{"pem without end", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "T"},
		{"aws", "key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "key T used"},
		{"aws sts", "ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "T"},
		{"github pat", "token " + fake("ghp_", "a1B2", 9), fake("ghp_", "a1B2", 9), "token T"},
		{"github oauth", fake("gho_", "a1B2", 9), fake("gho_", "a1B2", 9), "T"},
		{"github app", "x:" + fake("ghs_", "a1B2", 9), fake("ghs_", "a1B2", 9), "x:T"},
		{"github fine-grained", fake("github_pat_", "a1B2_", 16) + "ab", fake("github_pat_", "a1B2_", 16) + "ab", "T"},
		{"gitlab", fake("glpat-", "a1B2", 5), fake("glpat-", "a1B2", 5), "T"},
		{"slack bot", "xoxb-1234567890-1234567890-" + fake("", "aB1", 8), "xoxb-1234567890-1234567890-" + fake("", "aB1", 8), "T"},
		{"slack webhook", "https://hooks.slack.com/services/" + fake("", "T0B1C2D3", 6), "hooks.slack.com/services/" + fake("", "T0B1C2D3", 6), "https://T"},
		{"google", "u?key=" + fake("AIza", "Sy1_-", 7), fake("AIza", "Sy1_-", 7), "u?key=T"},
		{"stripe", fake("sk_live_", "4eC39HqL", 3), fake("sk_live_", "4eC39HqL", 3), "T"},
		{"jwt", "id " + jwt, jwt, "id T"},
		{"openai", fake("sk-proj-", "Ab1_", 10), fake("sk-proj-", "Ab1_", 10), "T"},
		{"anthropic", fake("sk-ant-api03-", "Ab1_", 10), fake("sk-ant-api03-", "Ab1_", 10), "T"},
		{"npm", fake("npm_", "ab12", 9), fake("npm_", "ab12", 9), "T"},
		{"hugging face", fake("hf_", "abcdefghijklmnopq", 2), fake("hf_", "abcdefghijklmnopq", 2), "T"},
		{"vault", fake("hvs.", "CAESIJ_x", 12), fake("hvs.", "CAESIJ_x", 12), "T"},
		{"match runs to the end of the token", fake("ghp_", "a1B2", 9) + "extra-tail", fake("ghp_", "a1B2", 9) + "extra-tail", "T"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := redactString(n, c.in)
			assert.NotContains(t, got, c.secret)
			assert.Equal(t, c.want, tokenRE.ReplaceAllString(got, "T"))
			// Equal secrets give equal results; a second pass changes nothing.
			assert.Equal(t, got, redactString(n, c.in))
			assert.Equal(t, got, redactString(n, got))
			want := RedactedPrefix + hmacHex(n, c.secret)
			assert.Contains(t, got, want, "the redaction of the secret part itself")
		})
	}
}

func hmacHex(n *Normalizer, s string) string {
	v := str(s)
	w := n.getWork()
	defer n.putWork(w)
	redactInto(w.mac, nil, &v)
	return strings.TrimPrefix(v.s, RedactedPrefix)
}

// Look-alikes are not secrets: they come through unchanged.
func TestShapesNotSecret(t *testing.T) {
	n := newNormalizer(t)
	for _, s := range []string{
		"https://api.example.net/v1/users?page=2&limit=10",
		"https://user@example.com/path",     // user, no password
		"https://h:8080/a/user@example.com", // '@' in the path
		"mailto:alice@acme.example",         // no "://"
		"secret:read", "secret:*", "urn:aws:secretsmanager:eu-west-1:1:secret:x",
		"2026-01-01T10:00:00.123Z", "10.0.0.1:8080", "[2001:db8::1]:443",
		"max_tokens=100 tokens=5 token_id=t1 public_key=ssh-ed25519",
		"Basic plan", "basic authentication", "Bearer tokens expire", "bearer abc",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("no colon here")),
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
		"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
		"AKIA-not-a-key", "AKIAshort", "xghp_" + strings.Repeat("a1B2", 9),
		"ghp_tooshort", "sk_live_short", "eyJhbGciOiJIUzI1NiJ9", "skip", "sk-ing",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
		"password", "password:", "password=", "password: ", "a=b=c", "==", ":", "=",
		"Zoë Ångström \u202e", "",
	} {
		assert.Equal(t, s, redactString(n, s), "%q", s)
	}
}

func TestKeyRules(t *testing.T) {
	ids := map[string]bool{}
	for _, r := range keyRules {
		ids[r.id] = true
		require.NotEmpty(t, r.prefix, r.id)
		re := regexp.MustCompile(`^(?:` + r.pattern + `)`)
		lit, _ := re.LiteralPrefix()
		if !r.fold {
			assert.True(t, strings.HasPrefix(lit, r.prefix) || strings.HasPrefix(r.prefix, lit), "%s: prefix %q, pattern literal %q", r.id, r.prefix, lit)
		}
		assert.True(t, keys.maybe(r.prefix[0], r.prefix[1]), r.id)
		assert.GreaterOrEqual(t, len(r.prefix), 2, r.id)
	}
	assert.Greater(t, len(ids), 40)
}

func TestRedactNamesAndPatterns(t *testing.T) {
	n := newNormalizer(t, func(o *Options) {
		o.RedactNames = []string{"PHPSESSID", "x-internal-sig"}
		o.RedactPatterns = []string{`\bACME-[0-9]{6}\b`, `ticket=(T[0-9]+)`}
	})
	body := normalizeBody(t, n, event(`"cookies_seen":{"phpsessid":"abc"},"X_Internal_Sig":"zzz","note":"id ACME-123456 and ticket=T77 ok","q":"PHPSESSID=xyz; path=/"`))
	for _, s := range []string{`"abc"`, `"zzz"`, "ACME-123456", "T77", "xyz"} {
		assert.NotContains(t, body, s)
	}
	assert.Contains(t, body, "ticket=hmac-sha256:")
	assert.Contains(t, body, "path=/")
	// The same names and patterns apply in RedactRaw.
	raw := string(n.RedactRaw([]byte(`not json: PHPSESSID=xyz ACME-123456`)))
	assert.NotContains(t, raw, "xyz")
	assert.NotContains(t, raw, "ACME-123456")
}

func TestSecretKeysOfMembers(t *testing.T) {
	// A credential used as a member name is redacted as a name.
	n := newNormalizer(t)
	key := fake("ghp_", "a1B2", 9)
	body := normalizeBody(t, n, event(`"grants":{"`+key+`":{"scope":"repo"}}`))
	assert.NotContains(t, body, key)
	assert.Contains(t, body, `"scope":"repo"`)
}

func TestUnparsedDocuments(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range []struct {
		name, doc string
		unparsed  bool
	}{
		{"tab-indented yaml", "a:\n\tb: 1\n", true},
		{"broken flow", "{a: [1, 2}", true},
		{"truncated json", `{"a": 1, `, true},
		{"one-line bad mapping", "a: b: c", true},
		{"aliases", "a: &a [x]\nb: *a\n", false},
		{"alias bomb", laughs(), true}, // past the node limit: not expanded, not kept
		{"plain scalar", "just words here", false},
		{"multi-line plain scalar", "line one\nline two", false},
		{"yaml", "a: 1\nb: [x, y]\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := event(`"changes":{"after":` + jsonString(c.doc) + `}`)
			body := normalizeBody(t, n, raw)
			if c.unparsed {
				assert.Regexp(t, `"changes":\{"after":"hmac-sha256:[0-9a-f]{64}"\}`, body)
				assert.Contains(t, body, `"kt_unparsed_documents":["changes.after"]`)
			} else {
				assert.NotContains(t, body, AttrUnparsedDocuments)
			}
		})
	}
}

func jsonString(s string) string {
	b := appendString(nil, s)
	return string(b)
}

// laughs is a YAML alias bomb: ten levels of ten aliases each.
func laughs() string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		prev := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.TrimSuffix(strings.Repeat(prev+", ", 10), ", ") + "]\n")
	}
	return b.String()
}

func TestSkipWord(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 9; pos++ {
			b := []byte("aaaaaaaaa")
			b[pos] = byte(c)
			want := pos
			if scanClass[byte(c)]&scWord != 0 {
				want = len(b)
			}
			assert.Equal(t, want, skipWord(string(b), 0), "c=%#x pos=%d", c, pos)
			assert.Equal(t, min(want, len(b)), skipWord(string(b), min(pos, 1)), "from 1: c=%#x pos=%d", c, pos)
		}
	}
}
