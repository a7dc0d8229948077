package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
)

// refText is the reference reading of a string field: a JSON string, or
// the text of a number; other values read as "".
type refText string

func (s *refText) UnmarshalJSON(b []byte) error {
	switch {
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = refText(v)
	case b[0] == '-' || '0' <= b[0] && b[0] <= '9':
		*s = refText(b)
	default:
		*s = ""
	}
	return nil
}

// reference is what Parse must give, by encoding/json: the line decoded
// into a map (exact member names, the last of duplicates), each field
// read from it.
func reference(line []byte) (Event, error) {
	var e Event
	m, err := object(line)
	if err != nil || m == nil {
		return e, err
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var t refText
		if v, ok := m[k]; ok {
			_ = json.Unmarshal(v, &t)
		}
		return string(t)
	}
	tm := func(k string) time.Time {
		v, ok := m[k]
		if !ok || v[0] != '"' {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, str(m, k))
		if err != nil {
			return time.Time{}
		}
		return t
	}
	if v, ok := m["seq"]; ok {
		_ = json.Unmarshal(v, &e.Seq)
	}
	e.PrevHash, e.Hash, e.Sig, e.KeyID = str(m, "prev_hash"), str(m, "hash"), str(m, "sig"), str(m, "key_id")
	e.ID, e.Time, e.ReceivedAt = str(m, "id"), tm("time"), tm("received_at")
	e.Category, e.Action, e.Outcome, e.Reason = str(m, "category"), str(m, "action"), str(m, "outcome"), str(m, "reason")
	e.OrgID, e.RequestID, e.CorrelationID = str(m, "org_id"), str(m, "request_id"), str(m, "correlation_id")
	if a, _ := object(m["actor"]); a != nil {
		e.Actor = Actor{str(a, "type"), str(a, "id"), str(a, "name"), str(a, "ip"), str(a, "user_agent")}
	}
	if t, _ := object(m["target"]); t != nil {
		e.Target = Target{str(t, "type"), str(t, "id"), str(t, "name")}
	}
	if c, _ := object(m["changes"]); c != nil {
		e.Changes = Changes{c["before"], c["after"]}
	}
	e.Attributes = m["attributes"]
	if s, _ := object(m["source"]); s != nil {
		e.Source = Source{Name: str(s, "name"), Kind: str(s, "kind"), File: str(s, "file")}
		if v, ok := s["offset"]; ok {
			_ = json.Unmarshal(v, &e.Source.Offset)
		}
	}
	return e, nil
}

// object decodes a JSON object into its members; nil if v is not an
// object.
func object(v json.RawMessage) (map[string]json.RawMessage, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// hostileLines are well-formed lines that are not what kt writes.
var hostileLines = []string{
	`{"action":"a\u00e9\"b","actor":{"id":123,"ip":"10.0.0.1","name":"x\\y","type":"user","user_agent":"UA"},"changes":{"time":"no","actor":{"id":"inner"}},"id":"e1","outcome":true,"seq":3,"target":"bare","time":"2026-01-01T00:00:00.000000000Z"}`,
	`{"actor":null,"category":["x"],"org_id":-1.5e3,"reason":"","target":{"id":{"n":1},"type":"team"}}`,
	`{"action":"first","action":"second"}`,
	`{}`,
	`{"actor":{"type":"robot","id":"r2"},"category":"weather","outcome":"partial","new_member":{"deep":[1,2,3]},"seq":18446744073709551615}`,
	`{"seq":18446744073709551616,"source":{"offset":-9223372036854775808,"kind":"file"},"changes":{"before":null,"after":"text"}}`,
	`{"seq":-1,"source":{"offset":1e3},"time":"2026-02-30T00:00:00.000000Z","received_at":"2026-01-01T01:00:00+01:00"}`,
	`{"time":"2026-01-01T00:00:00.000000z","received_at":20260101,"hash":null,"sig":false}`,
	" {\n  \"act\\u0069on\" : \"spaced\" ,\n  \"actor\" : { \"id\" : \"a\" } ,\n  \"attributes\" : { \"k\" : [ 1 , 2 ] }\n}\n",
	`{"time":"2024-02-29T23:59:59.999999Z","received_at":"2023-02-29T00:00:00.000000Z","changes":{"before":{"a":1},"after":{"a":2},"before":{"a":0}}}`,
}

func TestParseMatchesReference(t *testing.T) {
	lines := hostileLines
	for _, l := range entryLines(t) {
		lines = append(lines, string(l))
	}
	for _, l := range lines {
		want, err := reference([]byte(l))
		require.NoError(t, err, "%s", l)
		got, err := Parse([]byte(l))
		require.NoError(t, err, "%s", l)
		assert.Equal(t, want, got, "%s", l)
	}
}

func TestParseKeepsVocabulary(t *testing.T) {
	e, err := Parse([]byte(hostileLines[4]))
	require.NoError(t, err)
	assert.Equal(t, Actor{Type: "robot", ID: "r2"}, e.Actor)
	assert.Equal(t, "weather", e.Category)
	assert.Equal(t, "partial", e.Outcome)
	assert.Equal(t, uint64(1<<64-1), e.Seq)

	e, err = Parse([]byte(hostileLines[0]))
	require.NoError(t, err)
	assert.Equal(t, "123", e.Actor.ID, "a number reads as its text")
	assert.Equal(t, `x\y`, e.Actor.Name)
	assert.Equal(t, "a\u00e9\"b", e.Action)
	assert.Empty(t, e.Outcome, "a boolean is not a string")
	assert.Equal(t, Target{}, e.Target, "a bare string is not a target object")
	assert.Nil(t, e.Changes.Before)

	e, err = Parse([]byte(hostileLines[8]))
	require.NoError(t, err)
	assert.Equal(t, "spaced", e.Action, "an escaped member name")
	assert.Equal(t, `{ "k" : [ 1 , 2 ] }`, string(e.Attributes))
}

func TestParseRefuses(t *testing.T) {
	for _, l := range []string{
		``, `[]`, `"x"`, `{"seq":2,"truncated`, `{"a":1}{"event":"injected"}`, `{"action":"x"`,
		`{"action":"bad \x escape"}`, `{"actor":{"id":"bad \u12"}}`, `{"time":"\q"}`, `{"actor":{"id":1,}}`,
		`{"changes":{"before":[}}`,
	} {
		_, err := Parse([]byte(l))
		assert.ErrorIs(t, err, ErrMalformed, "%s", l)
	}
}

func TestParseOwnsItsMemory(t *testing.T) {
	line := []byte(`{"action":"a","attributes":{"k":"v"},"changes":{"after":{"x":2},"before":{"x":1}},"id":"e"}`)
	e, err := Parse(line)
	require.NoError(t, err)
	for i := range line {
		line[i] = 'X'
	}
	assert.Equal(t, "a", e.Action)
	assert.Equal(t, "e", e.ID)
	assert.JSONEq(t, `{"k":"v"}`, string(e.Attributes))
	assert.JSONEq(t, `{"x":1}`, string(e.Changes.Before))
}

func TestTimeOf(t *testing.T) {
	line := []byte(`{"a":{"time":"x","received_at":"y"},"received_at":"2026-01-02T03:04:05.500000Z","time":"2026-01-02T03:04:05.000000000Z"}`)
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), TimeOf(line))
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC), ReceivedAtOf(line))
	assert.True(t, TimeOf([]byte(`{"time":"yesterday"}`)).IsZero())
	assert.True(t, TimeOf([]byte(`{"time":1700000000}`)).IsZero())
	assert.True(t, ReceivedAtOf([]byte(`{"time":"2026-01-02T03:04:05.000000Z"}`)).IsZero())
	assert.True(t, TimeOf([]byte(`not json`)).IsZero())
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2025-03-01T12:00:01.000000Z", "2024-02-29T23:59:59.999999Z", "2023-02-29T00:00:00.000000Z",
		"2025-04-31T00:00:00.000000Z", "2025-13-01T00:00:00.000000Z", "2025-00-01T00:00:00.000000Z",
		"2025-01-01T24:00:00.000000Z", "2025-01-01T00:60:00.000000Z", "2025-01-01T00:00:60.000000Z",
		"0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "2025-01-01T00:00:00.00000aZ",
		"2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123456789Z", "2025-01-01T01:00:00.000000+01:00",
		"2025-01-01 00:00:00.000000Z", "2025-01-01T00:00:00.000000z", "", "x",
	} {
		checkTime(t, s)
	}
}

// checkTime checks parseTimeText against time.Parse.
func checkTime(t *testing.T, s string) {
	want, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		want = time.Time{}
	}
	got := parseTimeText([]byte(s))
	assert.True(t, reflect.DeepEqual(want, got), "%q: %v, want %v", s, got, want)
}

func FuzzParseTime(f *testing.F) {
	f.Add("2025-03-01T12:00:01.000000Z")
	f.Add("2024-02-29T23:59:59.999999Z")
	f.Add("2025-01-01T01:00:00.5+01:00")
	f.Fuzz(func(t *testing.T, s string) { checkTime(t, s) })
}

// FuzzParse checks Parse against the reference decoding on every valid
// JSON object, and that it never panics on anything else.
func FuzzParse(f *testing.F) {
	for _, l := range hostileLines {
		f.Add([]byte(l))
	}
	f.Add([]byte(workedExampleLine))
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := Parse(line)
		if !json.Valid(line) || !utf8.Valid(line) {
			return
		}
		want, werr := reference(line)
		if werr != nil || len(bytes.TrimSpace(line)) == 0 || bytes.TrimSpace(line)[0] != '{' {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

// entryLines returns wire lines of real entries: the control plane
// samples through the pipeline's golden bodies, chained and signed by the
// example key.
func entryLines(tb testing.TB) [][]byte {
	s := exampleSigner(tb)
	f, err := os.Open("../pipeline/testdata/control-plane-audit.golden.ndjson")
	require.NoError(tb, err)
	defer f.Close()
	var lines [][]byte
	var prev ledger.Hash
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for seq := uint64(0); sc.Scan(); seq++ {
		e := &ledger.Entry{Seq: seq, PrevHash: prev, Body: bytes.Clone(sc.Bytes())}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		prev = e.Hash
		lines = append(lines, e.AppendLine(nil))
	}
	require.NoError(tb, sc.Err())
	require.NotEmpty(tb, lines)
	return lines
}

func exampleSigner(tb testing.TB) *ledger.Signer {
	b, err := os.ReadFile("../ledger/testdata/example.skey")
	require.NoError(tb, err)
	s, err := ledger.NewSigner(string(bytes.TrimSpace(b)))
	require.NoError(tb, err)
	return s
}

// stdlibEvent holds the same fields for encoding/json.
type stdlibEvent struct {
	Seq        uint64    `json:"seq"`
	PrevHash   refText   `json:"prev_hash"`
	Hash       refText   `json:"hash"`
	Sig        refText   `json:"sig"`
	KeyID      refText   `json:"key_id"`
	ID         refText   `json:"id"`
	Time       time.Time `json:"time"`
	ReceivedAt time.Time `json:"received_at"`
	Category   refText   `json:"category"`
	Action     refText   `json:"action"`
	Outcome    refText   `json:"outcome"`
	Reason     refText   `json:"reason"`
	Actor      struct {
		Type      refText `json:"type"`
		ID        refText `json:"id"`
		Name      refText `json:"name"`
		IP        refText `json:"ip"`
		UserAgent refText `json:"user_agent"`
	} `json:"actor"`
	Target struct {
		Type refText `json:"type"`
		ID   refText `json:"id"`
		Name refText `json:"name"`
	} `json:"target"`
	OrgID         refText         `json:"org_id"`
	RequestID     refText         `json:"request_id"`
	CorrelationID refText         `json:"correlation_id"`
	Changes       Changes         `json:"changes"`
	Attributes    json.RawMessage `json:"attributes"`
	Source        struct {
		Name   refText `json:"name"`
		Kind   refText `json:"kind"`
		File   refText `json:"file"`
		Offset int64   `json:"offset"`
	} `json:"source"`
}

// viaStdlib reads line with json.Unmarshal into stdlibEvent: what Parse
// is measured against.
func viaStdlib(line []byte) (Event, error) {
	var v stdlibEvent
	if err := json.Unmarshal(line, &v); err != nil {
		return Event{}, err
	}
	return Event{
		Seq: v.Seq, PrevHash: string(v.PrevHash), Hash: string(v.Hash), Sig: string(v.Sig), KeyID: string(v.KeyID),
		ID: string(v.ID), Time: v.Time, ReceivedAt: v.ReceivedAt,
		Category: string(v.Category), Action: string(v.Action), Outcome: string(v.Outcome), Reason: string(v.Reason),
		Actor:  Actor{string(v.Actor.Type), string(v.Actor.ID), string(v.Actor.Name), string(v.Actor.IP), string(v.Actor.UserAgent)},
		Target: Target{string(v.Target.Type), string(v.Target.ID), string(v.Target.Name)},
		OrgID:  string(v.OrgID), RequestID: string(v.RequestID), CorrelationID: string(v.CorrelationID),
		Changes: v.Changes, Attributes: v.Attributes,
		Source: Source{string(v.Source.Name), string(v.Source.Kind), string(v.Source.File), v.Source.Offset},
	}, nil
}

func TestViaStdlib(t *testing.T) {
	for _, l := range entryLines(t) {
		want, err := viaStdlib(l)
		require.NoError(t, err)
		got, err := Parse(l)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

// BenchmarkParse reads the entry lines of the control plane samples
// (about 600 bytes each) with Parse, and with json.Unmarshal into a
// struct of the same fields (encoding-json) for comparison.
func BenchmarkParse(b *testing.B) {
	lines := entryLines(b)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	for _, bc := range []struct {
		name  string
		parse func([]byte) (Event, error)
	}{{"walk", Parse}, {"encoding-json", viaStdlib}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(lines)))
			i := 0
			for b.Loop() {
				if _, err := bc.parse(lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
