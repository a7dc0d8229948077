package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var (
	testKey      = []byte("0123456789abcdef0123456789abcdef")
	testReceived = time.Date(2026, 1, 1, 1, 2, 3, 456789123, time.UTC)
	testSource   = Source{Kind: "file", Name: "control_plane", File: "/var/log/keeptrusts/audit.log", Offset: 42}
)

func newNormalizer(t testing.TB, mod ...func(*Options)) *Normalizer {
	t.Helper()
	o := NewDefaultOptions()
	o.RedactKey = testKey
	for _, m := range mod {
		m(&o)
	}
	n, err := New(o)
	require.NoError(t, err)
	return n
}

func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	require.NoError(t, sc.Err())
	return out
}

// assertJCS checks body byte for byte against jcs.Transform of the same
// value, both as given and re-serialized non-canonically by encoding/json.
func assertJCS(t testing.TB, body []byte) {
	t.Helper()
	canon, err := jcs.Transform(body)
	require.NoError(t, err)
	require.Equal(t, string(canon), string(body), "body is not JCS")
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ") // whitespace and \u escapes of <>& : not canonical
	require.NoError(t, enc.Encode(v))
	canon2, err := jcs.Transform(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, string(canon2), string(body), "body differs from jcs.Transform of the same value")
}

var forbidden = []string{"THIS-MUST-NEVER-BE-STORED", "THISMUSTNEVERBESTORED", "hunter2"}

func TestSamplesGood(t *testing.T) {
	n := newNormalizer(t)
	var golden bytes.Buffer
	for i, line := range readLines(t, "control-plane-audit.ndjson") {
		t.Run(fmt.Sprintf("line%02d", i+1), func(t *testing.T) {
			ev, err := n.Normalize(line, testSource, testReceived, fmt.Sprintf("hook-1:%d", i))
			require.NoError(t, err)
			assertJCS(t, ev.Body)
			for _, s := range forbidden {
				assert.NotContains(t, string(ev.Body), s)
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(ev.Body, &m))
			assert.Equal(t, ev.ID, m["id"])
			assert.Equal(t, ev.Action, m["action"])
			assert.Equal(t, ev.Category, m["category"])
			assert.Equal(t, ev.Time.Format(TimeLayout), m["time"])
			assert.Equal(t, "2026-01-01T01:02:03.456789Z", m["received_at"])
			assert.Contains(t, Categories, ev.Category)
			golden.Write(ev.Body)
			golden.WriteByte('\n')
		})
	}
	path := filepath.Join("testdata", "control-plane-audit.golden.ndjson")
	if *update {
		require.NoError(t, os.WriteFile(path, golden.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./pipeline/ -run TestSamplesGood -update")
	assert.Equal(t, string(want), golden.String())
}

func TestSamplesBad(t *testing.T) {
	n := newNormalizer(t)
	lines := readLines(t, "control-plane-audit-bad.ndjson")
	cases := []struct {
		name, field, reason string
	}{
		{"truncated JSON", "", "malformed JSON at byte offset 66"},
		{"not JSON", "", "malformed JSON at byte offset 0"},
		{"no action", "action", "missing"},
		{"bad time", "time", "not an RFC 3339 time"},
		{"array", "", "not an object"},
		{"no actor", "actor", "missing"},
	}
	require.Len(t, lines, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := n.Normalize(lines[i], testSource, testReceived, "")
			require.Error(t, err)
			assert.Nil(t, ev)
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
			assert.True(t, errors.Is(err, ErrInvalidRecord))
			assert.Equal(t, c.field, fe.Field)
			assert.Contains(t, fe.Reason, c.reason)
		})
	}
	_, err := n.Normalize([]byte(`{"id":"x","time":1,"actor":"a"}`), Source{}, testReceived, "")
	assert.EqualError(t, err, `field "action": missing`)
}

func TestSecretCorrelation(t *testing.T) {
	n := newNormalizer(t)
	lines := readLines(t, "control-plane-audit.ndjson")
	get := func(id string) map[string]any {
		for _, l := range lines {
			if bytes.Contains(l, []byte(`"id": "`+id+`"`)) {
				ev, err := n.Normalize(l, testSource, testReceived, "")
				require.NoError(t, err)
				var m map[string]any
				require.NoError(t, json.Unmarshal(ev.Body, &m))
				return m
			}
		}
		t.Fatalf("no %s", id)
		return nil
	}
	a := get("evt_0023")["changes"].(map[string]any)["after"].(map[string]any)["value"].(string)
	b := get("evt_0024")["changes"].(map[string]any)["before"].(map[string]any)["value"].(string)
	c := get("evt_0024")["changes"].(map[string]any)["after"].(map[string]any)["value"].(string)
	assert.True(t, strings.HasPrefix(a, RedactedPrefix))
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	// Another key gives another hmac.
	n2 := newNormalizer(t, func(o *Options) { o.RedactKey = bytes.Repeat([]byte{7}, 32) })
	ev, err := n2.Normalize(lines[22], testSource, testReceived, "")
	require.NoError(t, err)
	assert.NotContains(t, string(ev.Body), a)
}

func TestRedaction(t *testing.T) {
	n := newNormalizer(t, func(o *Options) {
		o.RedactPaths = []string{"changes.after.conn.*", "attributes.list.1", "org_id"}
	})
	raw := `{"time":"2026-01-01T00:00:00Z","action":"gateway.update","org_id":"o1",
	  "actor":{"type":"api_token","id":"tok_1","Authorization":"Bearer abc"},
	  "target":{"type":"api_token","id":"t"},
	  "changes":{"before":"upstream:\n  Client-Secret: s3cret\n  max_tokens: 5\n","after":{"conn":{"a":"x1","b":{"c":"x2"}},"max_tokens":100,"token_count":3,"secret_id":"sid","value":"plain"}},
	  "list":["keep","drop"],"cookie":{"session":"zzz"},"PASSWORD":"pw"}`
	ev, err := n.Normalize([]byte(raw), Source{}, testReceived, "")
	require.NoError(t, err)
	assertJCS(t, ev.Body)
	body := string(ev.Body)
	for _, s := range []string{"Bearer abc", "s3cret", `"x1"`, `"x2"`, `"zzz"`, `"pw"`, `"drop"`, `"o1"`} {
		assert.NotContains(t, body, s)
	}
	for _, s := range []string{`"max_tokens":100`, `"token_count":3`, `"secret_id":"sid"`, `"value":"plain"`, `"type":"api_token"`, `"keep"`, `"max_tokens":5`} {
		assert.Contains(t, body, s)
	}
	assert.Contains(t, body, `"conn":{"a":"hmac-sha256:`)
}

func TestInvalidUTF8(t *testing.T) {
	bad := [][]byte{
		[]byte("{\"time\":\"2026-01-01T00:00:00Z\",\"action\":\"a.b\",\"actor\":{\"id\":\"u\",\"name\":\"x\xff\xfey\"}}"),
		[]byte(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":{"id":"u","name":"x\ud800y"}}`),
		[]byte(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":{"id":"u","name":"x\udc00\ud800"}}`),
	}
	rej := newNormalizer(t)
	esc := newNormalizer(t, func(o *Options) { o.InvalidUTF8 = UTF8Escape })
	for i, raw := range bad {
		_, err := rej.Normalize(raw, Source{}, testReceived, "")
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "case %d", i)
		assert.Equal(t, "actor.name", fe.Field)
		assert.Equal(t, "invalid UTF-8", fe.Reason)

		ev, err := esc.Normalize(raw, Source{}, testReceived, "")
		require.NoError(t, err)
		assertJCS(t, ev.Body)
		assert.Contains(t, string(ev.Body), `"name":"`+InvalidUTF8Prefix)
	}
	ev, err := esc.Normalize(bad[0], Source{}, testReceived, "")
	require.NoError(t, err)
	assert.Contains(t, string(ev.Body), `"name":"kt:invalid-utf8:base64:eP/+eQ=="`)
	// A valid surrogate pair is fine.
	ev, err = rej.Normalize([]byte(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":{"id":"u","name":"\ud83d\ude00"}}`), Source{}, testReceived, "")
	require.NoError(t, err)
	assert.Contains(t, string(ev.Body), "😀")
}

func nested(depth int) []byte {
	inner := strings.Repeat(`{"a":`, depth-1) + "1" + strings.Repeat("}", depth-1)
	return []byte(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u","x":` + inner + `}`)
}

func TestDepth(t *testing.T) {
	n := newNormalizer(t)
	_, err := n.Normalize(nested(32), Source{}, testReceived, "") // 32 levels
	require.NoError(t, err)
	_, err = n.Normalize(nested(33), Source{}, testReceived, "")
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	assert.Contains(t, fe.Reason, "nested deeper than 32")
	assert.True(t, strings.HasPrefix(fe.Field, "x.a.a"), fe.Field)

	_, err = n.Normalize(nested(100), Source{}, testReceived, "")
	require.True(t, errors.As(err, &fe))
	_, err = n.Normalize(bytes.Repeat([]byte("["), 1_000_000), Source{}, testReceived, "")
	require.True(t, errors.As(err, &fe))
}

func TestHugeField(t *testing.T) {
	n := newNormalizer(t)
	big := strings.Repeat("A", 10<<20)
	for _, raw := range []string{
		`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u","blob":"` + big + `"}`,
		`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u","blob":"\n` + big + `"}`,
	} {
		_, err := n.Normalize([]byte(raw), Source{}, testReceived, "")
		var fe *FieldError
		require.True(t, errors.As(err, &fe))
		assert.Equal(t, "blob", fe.Field)
		assert.Contains(t, fe.Reason, "longer than 1048576 bytes")
		assert.Less(t, len(err.Error()), 200)
	}
}

func TestBigNumbers(t *testing.T) {
	n := newNormalizer(t)
	raw := `{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u",
	  "n":[9007199254740993, 9223372036854775807, 1e400, -1e400, 1e-400, 0.1, 1.0, 1E2, -0, 123456789012345678, 1.5e300, 100000000000000000000000, 0.000001]}`
	ev, err := n.Normalize([]byte(raw), Source{}, testReceived, "")
	require.NoError(t, err)
	assertJCS(t, ev.Body)
	b := string(ev.Body)
	assert.Contains(t, b, `"n":["9007199254740993","9223372036854775807","1e400","-1e400","1e-400",0.1,1,100,0,"123456789012345678",1.5e+300,1e+23,0.000001]`)
	assert.Contains(t, b, `"kt_numbers_as_strings":["attributes.n.0","attributes.n.1","attributes.n.2","attributes.n.3","attributes.n.4","attributes.n.9"]`)
}

func TestDuplicateKeys(t *testing.T) {
	n := newNormalizer(t)
	raw := `{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":{"id":"u","id":"v"},"action":"c.d",
	  "x":{"k":1,"k":2,"k":{"password":"hunter2"}},"token":"t1","token":"t2"}`
	ev, err := n.Normalize([]byte(raw), Source{}, testReceived, "")
	require.NoError(t, err)
	assertJCS(t, ev.Body)
	b := string(ev.Body)
	assert.Equal(t, "a.b", ev.Action)
	assert.NotContains(t, b, "hunter2")
	assert.NotContains(t, b, `"t2"`)
	var m struct {
		Attributes struct {
			X   map[string]any `json:"x"`
			Dup []struct {
				Path  string `json:"path"`
				Value any    `json:"value"`
			} `json:"kt_duplicate_keys"`
		} `json:"attributes"`
		Actor map[string]any `json:"actor"`
	}
	require.NoError(t, json.Unmarshal(ev.Body, &m))
	assert.Equal(t, "u", m.Actor["id"])
	assert.Equal(t, map[string]any{"k": float64(1)}, m.Attributes.X)
	var paths []string
	for _, d := range m.Attributes.Dup {
		paths = append(paths, d.Path)
	}
	assert.ElementsMatch(t, []string{"actor.id", "attributes.x.k", "attributes.x.k", "token", "action"}, paths)
	// More than 16 members: the map path.
	var sb strings.Builder
	sb.WriteString(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u","o":{`)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&sb, `"k%d":%d,`, i%30, i)
	}
	sb.WriteString(`"end":true}}`)
	ev, err = n.Normalize([]byte(sb.String()), Source{}, testReceived, "")
	require.NoError(t, err)
	assertJCS(t, ev.Body)
	assert.Equal(t, 10, strings.Count(string(ev.Body), `"path":"attributes.o.k`))
}

func TestFieldsAndDefaults(t *testing.T) {
	n := newNormalizer(t)
	raw := `{"timestamp":1767225600123,"time":null,"action":"custom.thing","actor":{"id":"u"},"outcome":"denied",
	  "ip":"10.0.0.1","source_ip":"10.0.0.2","user_agent":"ua","request":{"ip":"10.0.0.3","path":"/x"},
	  "role":"top","attributes":{"role":"attr"},"seq":5,"hash":"h","received_at":"r","source":"s","@timestamp":"2020-01-01T00:00:00Z"}`
	ev, err := n.Normalize([]byte(raw), Source{Kind: "webhook", Name: "console"}, testReceived, "hook:3")
	require.NoError(t, err)
	assertJCS(t, ev.Body)
	var m map[string]any
	require.NoError(t, json.Unmarshal(ev.Body, &m))
	assert.Equal(t, "hook:3", ev.ID)
	assert.Equal(t, "other", m["category"])
	assert.Equal(t, "failure", m["outcome"])
	assert.Equal(t, "2026-01-01T00:00:00.123000Z", m["time"])
	assert.Equal(t, map[string]any{"id": "u", "type": "user", "ip": "10.0.0.3", "user_agent": "ua"}, m["actor"])
	assert.Equal(t, map[string]any{"kind": "webhook", "name": "console"}, m["source"])
	attrs := m["attributes"].(map[string]any)
	assert.Equal(t, "attr", attrs["role"])
	assert.Equal(t, "top", attrs["role_2"])
	assert.Equal(t, map[string]any{"path": "/x"}, attrs["request"])
	for _, k := range []string{"ip", "source_ip", "seq", "hash", "received_at", "source", "@timestamp", "time"} {
		assert.Contains(t, attrs, k)
	}

	for _, c := range []struct{ in, want string }{
		{`"2026-01-01T01:00:00.123456789+01:00"`, "2026-01-01T00:00:00.123456Z"},
		{`"2026-01-01 00:00:00Z"`, "2026-01-01T00:00:00.000000Z"},
		{`1767225600`, "2026-01-01T00:00:00.000000Z"},
		{`1767225600.5`, "2026-01-01T00:00:00.500000Z"},
		{`"1767225600000"`, "2026-01-01T00:00:00.000000Z"},
	} {
		ev, err := n.Normalize([]byte(`{"time":`+c.in+`,"action":"a.b","actor":"u"}`), Source{}, testReceived, "")
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, ev.Time.Format(TimeLayout))
		assert.Contains(t, string(ev.Body), `"time":"`+c.want+`"`)
	}
	for _, c := range []struct{ in, field string }{
		{`{"time":"yesterday","action":"a.b","actor":"u"}`, "time"},
		{`{"@timestamp":"2026-13-01T00:00:00Z","action":"a.b","actor":"u"}`, "@timestamp"},
		{`{"action":"a.b","actor":"u"}`, "time"},
		{`{"time":1,"action":"a.b","actor":{"type":"user"}}`, "actor.id"},
		{`{"time":1,"action":"a b","actor":"u"}`, "action"},
		{`{"time":1,"action":"a.b","actor":"u","changes":"x"}`, "changes"},
		{`{"time":1,"action":"a.b","actor":"u","org_id":{}}`, "org_id"},
		{`{"time":1,"action":"a.b","actor":"u","category":7}`, "category"},
		{`{"time":1,"action":"a.b","actor":{"id":"u","type":["user"]}}`, "actor.type"},
		{`{"time":1,"action":"a.b","actor":"u","outcome":{}}`, "outcome"},
		{`{"time":1,"action":"a.b","actor":{"id":"u","password":"p"},"x":tru}`, "x"},
	} {
		_, err := n.Normalize([]byte(c.in), Source{}, testReceived, "")
		var fe *FieldError
		require.True(t, errors.As(err, &fe), c.in)
		assert.Equal(t, c.field, fe.Field, c.in)
	}
}

func TestDigestAndID(t *testing.T) {
	n := newNormalizer(t)
	raw := []byte(`{"time":"2026-01-01T00:00:00Z","action":"a.b","actor":"u"}`)
	a, err := n.Normalize(raw, Source{Kind: "webhook"}, testReceived, "h:0")
	require.NoError(t, err)
	b, err := n.Normalize(raw, Source{Kind: "webhook"}, testReceived.Add(time.Hour), "h:0")
	require.NoError(t, err)
	assert.NotEqual(t, a.Body, b.Body)
	assert.Equal(t, a.Digest, b.Digest)
	// The same line read again from the rotated file, at another offset.
	f1, err := n.Normalize(raw, Source{Kind: "file", Name: "cp", File: "/l/audit.log", Offset: 10}, testReceived, "h:0")
	require.NoError(t, err)
	f2, err := n.Normalize(raw, Source{Kind: "file", Name: "cp", File: "/l/audit.log.1", Offset: 10}, testReceived.Add(time.Minute), "h:0")
	require.NoError(t, err)
	assert.NotEqual(t, f1.Body, f2.Body)
	assert.Equal(t, a.Digest, f1.Digest)
	assert.Equal(t, f1.Digest, f2.Digest)
	// Any change to what the event says changes the digest.
	d, err := n.Normalize([]byte(`{"time":"2026-01-01T00:00:00Z","action":"a.c","actor":"u"}`), Source{Kind: "webhook"}, testReceived, "h:0")
	require.NoError(t, err)
	assert.NotEqual(t, a.Digest, d.Digest)
	c, err := n.Normalize(raw, Source{Kind: "webhook"}, testReceived, "")
	require.NoError(t, err)
	assert.NotEqual(t, a.Digest, c.Digest)
	assert.Len(t, c.ID, 36)
	assert.Equal(t, byte('7'), c.ID[14], "UUIDv7")
	assert.NotEqual(t, NewID(), NewID())
}

func TestOptions(t *testing.T) {
	o := NewDefaultOptions()
	assert.Error(t, o.Validate())
	o.RedactKey = testKey
	assert.NoError(t, o.Validate())
	for _, bad := range []func(*Options){
		func(o *Options) { o.InvalidUTF8 = "drop" },
		func(o *Options) { o.MaxDepth = -1 },
		func(o *Options) { o.MaxFieldBytes = -1 },
		func(o *Options) { o.RedactPaths = []string{"a..b"} },
		func(o *Options) { o.RedactKey = testKey[:31] },
	} {
		c := o
		bad(&c)
		assert.Error(t, c.Validate())
		_, err := New(c)
		assert.Error(t, err)
	}
	n, err := New(Options{RedactKey: testKey})
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxDepth, n.opts.MaxDepth)
}

func TestConcurrent(t *testing.T) {
	n := newNormalizer(t)
	lines := readLines(t, "control-plane-audit.ndjson")
	want := make([][]byte, len(lines))
	for i, l := range lines {
		ev, err := n.Normalize(l, testSource, testReceived, "f")
		require.NoError(t, err)
		want[i] = ev.Body
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				for i, l := range lines {
					ev, err := n.Normalize(l, testSource, testReceived, "f")
					if assert.NoError(t, err) && !bytes.Equal(want[i], ev.Body) {
						t.Errorf("line %d differs", i)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestCompareKeys(t *testing.T) {
	// RFC 8785 §3.2.3 example order.
	keys := []string{"\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"}
	sortMembers(func() []member {
		ms := make([]member, len(keys))
		for i, k := range keys {
			ms[i].key = k
		}
		sortMembers(ms)
		for i := range ms {
			keys[i] = ms[i].key
		}
		return ms
	}())
	assert.Equal(t, []string{"\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"}, keys)
}

func TestIngestEvent(t *testing.T) {
	// The benchmark's event: canonical, and the same on every call (the
	// pooled buffers must not leak between calls).
	n := newNormalizer(t)
	src := Source{Kind: "webhook", Name: "bench"}
	first, err := n.Normalize([]byte(ingestEvent), src, testReceived, "")
	require.NoError(t, err)
	assertJCS(t, first.Body)
	assert.Equal(t, "bench-0-000000000001", first.ID)
	assert.Equal(t, "config.update", first.Action)
	for i := 0; i < 3; i++ {
		_, err := n.Normalize([]byte(benchEvent), src, testReceived, "")
		require.NoError(t, err)
		ev, err := n.Normalize([]byte(ingestEvent), src, testReceived, "")
		require.NoError(t, err)
		assert.Equal(t, string(first.Body), string(ev.Body))
		assert.Equal(t, first.Digest, ev.Digest)
	}
}
