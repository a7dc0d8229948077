package pipeline

// Tests of the rules of the hardening work, one case per example a hostile
// tester found, each with more cases of its rule. They use only Normalize
// and Options fields that predate the rules, so that they run (and fail)
// against the code before them too.

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// event builds a record with the required fields and the given extra
// members (raw JSON text, without braces).
func event(extra string) []byte {
	s := `{"time":"2026-01-01T00:00:00Z","action":"gateway.update","actor":{"id":"u1"}`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

func normalizeBody(t *testing.T, n *Normalizer, raw []byte) string {
	t.Helper()
	ev, err := n.Normalize(raw, Source{Kind: "webhook", Name: "w"}, testReceived, "")
	require.NoError(t, err, "%s", raw)
	assertJCS(t, ev.Body)
	return string(ev.Body)
}

func fieldErr(t *testing.T, err error) *FieldError {
	t.Helper()
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "want a *FieldError, got %v", err)
	return fe
}

// Every limit on a field is a validation error naming the field, never an
// error the ledger reports later.
func TestHardeningIDLimit(t *testing.T) {
	n := newNormalizer(t)
	long := strings.Repeat("i", 70000)
	for _, c := range []struct {
		name     string
		raw      []byte
		fallback string
	}{
		{"input id", event(`"id":"` + long + `"`), ""},
		{"input id just over the default", event(`"id":"` + strings.Repeat("i", 1025) + `"`), ""},
		{"fallback id from the source", event(""), long},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := n.Normalize(c.raw, testSource, testReceived, c.fallback)
			fe := fieldErr(t, err)
			assert.Equal(t, "id", fe.Field)
			assert.Contains(t, fe.Reason, "longer than 1024 bytes")
			assert.Less(t, len(err.Error()), 200)
		})
	}
	ev, err := n.Normalize(event(`"id":"`+strings.Repeat("i", 1024)+`"`), testSource, testReceived, "")
	require.NoError(t, err)
	assert.Len(t, ev.ID, 1024)
}

func TestHardeningNameLimits(t *testing.T) {
	n := newNormalizer(t)
	long := strings.Repeat("a", 257)
	for _, c := range []struct{ raw, field string }{
		{`{"time":1,"action":"a.` + long + `","actor":"u"}`, "action"},
		{`{"time":1,"action":"a.b","actor":"u","category":"` + long + `"}`, "category"},
		{`{"time":1,"action":"a.b","actor":{"id":"u","type":"` + long + `"}}`, "actor.type"},
		{`{"time":1,"action":"a.b","actor":"u","outcome":"` + long + `"}`, "outcome"},
		{`{"time":1,"action":"a.b","actor":"u","target":{"type":"` + long + `"}}`, "target.type"},
		{`{"time":1,"action":"a.b","actor":"u","category":"data\naccess"}`, "category"},
		{`{"time":1,"action":"a.b","actor":{"id":"u","type":"bot\u0000"}}`, "actor.type"},
		{`{"time":1,"action":"a.b","actor":"u","outcome":"partial\u2028"}`, "outcome"},
	} {
		_, err := n.Normalize([]byte(c.raw), Source{}, testReceived, "")
		assert.Equal(t, c.field, fieldErr(t, err).Field, c.raw)
	}
}

// The ledger's own record types can be written only by the ledger.
func TestHardeningReservedLedger(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range []struct{ raw, field string }{
		{`{"time":1,"action":"ledger.checkpoint","actor":"u"}`, "action"},
		{`{"time":1,"action":"ledger.genesis","actor":"u"}`, "action"},
		{`{"time":1,"action":"Ledger.Key_Rotation","actor":"u"}`, "action"},
		{`{"time":1,"action":"LEDGER","actor":"u"}`, "action"},
		{`{"time":1,"action":"config.update","actor":"u","category":"ledger"}`, "category"},
		{`{"time":1,"action":"config.update","actor":"u","category":"Ledger"}`, "category"},
	} {
		_, err := n.Normalize([]byte(c.raw), testSource, testReceived, "")
		fe := fieldErr(t, err)
		assert.Equal(t, c.field, fe.Field, c.raw)
		assert.Contains(t, fe.Reason, "reserved", c.raw)
	}
	// Look-alikes that are not the ledger's are accepted.
	for _, a := range []string{"ledgers.sync", "billing.ledger.close", "ledger_entry.create"} {
		_, err := n.Normalize([]byte(`{"time":1,"actor":"u","action":"`+a+`"}`), testSource, testReceived, "")
		assert.NoError(t, err, a)
	}
	// Input "source" (the ledger's marker) never becomes the event's.
	body := normalizeBody(t, n, event(`"source":{"kind":"ledger","name":"kt"}`))
	var m struct {
		Source     map[string]any `json:"source"`
		Attributes map[string]any `json:"attributes"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	assert.Equal(t, map[string]any{"kind": "webhook", "name": "w"}, m.Source)
	assert.Equal(t, map[string]any{"kind": "ledger", "name": "kt"}, m.Attributes["source"])
	ev, err := n.Normalize(event(`"source":{"kind":"ledger","name":"kt"}`), Source{}, testReceived, "")
	require.NoError(t, err)
	var top map[string]any
	require.NoError(t, json.Unmarshal(ev.Body, &top))
	assert.NotContains(t, top, "source")
	assert.Equal(t, map[string]any{"kind": "ledger", "name": "kt"}, lookup(top, "attributes.source"))
}

// Secrets never reach the ledger: the examples of the report, each
// stored in clear before.
func TestHardeningSecretExamples(t *testing.T) {
	n := newNormalizer(t)
	const s = "S3cr3t-value-0042"
	for _, c := range []struct{ name, extra string }{
		{"x-api-key", `"headers":{"x-api-key":"` + s + `"}`},
		{"X-Auth-Token", `"headers":{"X-Auth-Token":"` + s + `"}`},
		{"accessToken", `"accessToken":"` + s + `"`},
		{"auth_token", `"auth_token":"` + s + `"`},
		{"secretAccessKey", `"changes":{"after":{"aws":{"secretAccessKey":"` + s + `"}}}`},
		{"pwd", `"db":{"pwd":"` + s + `"}`},
		{"dsn URL", `"dsn":"postgres://app:` + s + `@db.internal:5432/app?sslmode=require"`},
		{"dsn key=value", `"dsn":"host=db.internal user=app password=` + s + ` dbname=app"`},
		{"dsn ADO.NET", `"connection":"Server=tcp:db,1433;Initial Catalog=app;User ID=sa;Password=` + s + `;Encrypt=true"`},
		{"dsn JDBC", `"url":"jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=` + s + `;"`},
		{"dsn JDBC query", `"url":"jdbc:mysql://db:3306/app?user=app&password=` + s + `&useSSL=true"`},
		{"dsn ODBC braces", `"odbc":"Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={` + s + `;x};"`},
		{"mongodb+srv", `"uri":"mongodb+srv://app:` + s + `@cluster0.example.net/?retryWrites=true"`},
		{"unparseable YAML", `"changes":{"after":"upstream:\n  url: https://api.example.net\n\ttoken: ` + s + `\n  bad: [\n"}`},
		{"unparseable JSON", `"changes":{"before":"{\"password\": \"` + s + `\", "}`},
		{"unparseable one-line YAML", `"changes":{"after":"token: ` + s + `: x"}`},
		{"Bearer in a log line", `"message":"GET /v1 Authorization: Bearer ` + s + `"`},
		{"PEM key in free text", `"note":"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow` + s + `\n-----END RSA PRIVATE KEY-----\nend"`},
		{"password in a note", `"note":"password: ` + s + `"`},
		{"query parameter", `"request_url":"https://api.example.net/v1?access_token=` + s + `&page=2"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := normalizeBody(t, n, event(c.extra))
			assert.NotContains(t, body, s)
			assert.NotContains(t, body, "S3cr3t")
			assert.Contains(t, body, RedactedPrefix)
		})
	}
}

// The rest of a string with a secret inside stays readable.
func TestHardeningPartialRedaction(t *testing.T) {
	n := newNormalizer(t)
	body := normalizeBody(t, n, event(`"dsn":"postgres://app:pw0042@db.internal:5432/app?sslmode=require"`))
	assert.Regexp(t, `"dsn":"postgres://app:hmac-sha256:[0-9a-f]{64}@db\.internal:5432/app\?sslmode=require"`, body)
	body = normalizeBody(t, n, event(`"conn":"host=db password=pw0042 dbname=app"`))
	assert.Regexp(t, `"conn":"host=db password=hmac-sha256:[0-9a-f]{64} dbname=app"`, body)
}

// Every sample secret is absent from the normalized bodies.
func TestHardeningSharedSamples(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/samples/*.ndjson")
	files = append(files, filepath.Join("testdata", "control-plane-audit.ndjson"))
	n := newNormalizer(t)
	seen := 0
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ev, err := n.Normalize(sc.Bytes(), testSource, testReceived, "")
			if err != nil {
				continue // the bad samples
			}
			seen++
			for _, s := range forbidden {
				assert.NotContains(t, string(ev.Body), s, "%s: %s", name, sc.Bytes())
			}
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	assert.Greater(t, seen, 30)
}

// Well-formed audit records are not refused for their vocabulary.
func TestHardeningVocabulary(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range []struct {
		name, raw string
		want      map[string]any // dotted path -> value
	}{
		{"category credentials", `"category":"credentials"`, map[string]any{"category": "secret", "attributes.kt_category_input": "credentials"}},
		{"category authorization", `"category":"authorization"`, map[string]any{"category": "policy", "attributes.kt_category_input": "authorization"}},
		{"category data_access kept", `"category":"data_access"`, map[string]any{"category": "data_access"}},
		{"category integration kept", `"category":"integration"`, map[string]any{"category": "integration"}},
		{"category case", `"category":"Configuration"`, map[string]any{"category": "configuration", "attributes.kt_category_input": "Configuration"}},
		{"actor api_key", `"actor":{"id":"k1","type":"api_key"}`, map[string]any{"actor.type": "api_token", "attributes.kt_actor_type_input": "api_key"}},
		{"actor service_account", `"actor":{"id":"sa","type":"service_account"}`, map[string]any{"actor.type": "system", "attributes.kt_actor_type_input": "service_account"}},
		{"actor robot kept", `"actor":{"id":"r","type":"robot"}`, map[string]any{"actor.type": "robot"}},
		{"outcome partial kept", `"outcome":"partial"`, map[string]any{"outcome": "partial"}},
		{"outcome denied", `"outcome":"denied"`, map[string]any{"outcome": "failure", "attributes.kt_outcome_input": "denied"}},
		{"numeric ids", `"actor":{"id":42},"target":{"type":"repo","id":7},"org_id":1001,"request_id":5,"correlation_id":6`,
			map[string]any{"actor.id": "42", "target.id": "7", "org_id": "1001", "request_id": "5", "correlation_id": "6"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := `{"time":"2026-01-01T00:00:00Z","action":"thing.do","actor":{"id":"u"},` + c.raw + `}`
			raw = strings.Replace(raw, `"actor":{"id":"u"},"actor"`, `"actor"`, 1)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(normalizeBody(t, n, []byte(raw))), &m))
			for path, want := range c.want {
				assert.Equal(t, want, lookup(m, path), path)
			}
		})
	}
	// A structured reason is kept, as an attribute.
	body := normalizeBody(t, n, event(`"outcome":"failure","reason":{"code":403,"text":"no"}`))
	assert.Contains(t, body, `"attributes":{"reason":{"code":403,"text":"no"}}`)
	// Numeric ids are marked like other numbers kept as strings.
	body = normalizeBody(t, n, event(`"org_id":1001`))
	assert.Contains(t, body, `"kt_numbers_as_strings":["org_id"]`)
}

func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// A UTF-8 byte order mark before a record is dropped.
func TestHardeningBOM(t *testing.T) {
	n := newNormalizer(t)
	raw := append([]byte{0xEF, 0xBB, 0xBF}, event(`"id":"e1"`)...)
	a, err := n.Normalize(raw, testSource, testReceived, "")
	require.NoError(t, err)
	b, err := n.Normalize(event(`"id":"e1"`), testSource, testReceived, "")
	require.NoError(t, err)
	assert.Equal(t, string(b.Body), string(a.Body))
	// Only at the start: elsewhere it is invalid JSON, as before.
	_, err = n.Normalize(append(event(""), 0xEF, 0xBB, 0xBF), testSource, testReceived, "")
	fieldErr(t, err)
}
