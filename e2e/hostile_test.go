package e2e

// The hostile-input suite: what an attacker, or a producer that gets things
// wrong, sends to the real agent, and what kt must answer. Each test names
// the rule it checks; docs/RELIABILITY.md ("Attacks tried and what kt
// answers") lists them.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// event returns a valid event with id, changed by edit.
func event(id string, edit func(ev map[string]any)) []byte {
	ev := map[string]any{
		"id": id, "time": "2026-03-01T10:00:00Z", "action": "config.update",
		"actor":  map[string]any{"type": "user", "id": "usr_1", "name": "alice@acme.example"},
		"target": map[string]any{"type": "gateway", "id": "gw_1"},
	}
	if edit != nil {
		edit(ev)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// grepTree returns the files under dir (and the extra texts, by name) that
// contain any of needles.
func grepTree(t *testing.T, dir string, needles []string, extra map[string]string) []string {
	t.Helper()
	var hits []string
	check := func(name string, b []byte) {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				hits = append(hits, fmt.Sprintf("%s holds %q", name, n))
			}
		}
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check(p, b)
		return nil
	}))
	for name, s := range extra {
		check(name, []byte(s))
	}
	return hits
}

// TestIntegrationHostileWebhook: records a producer must not be able to
// write, and records it must be able to write however it words them.
func TestIntegrationHostileWebhook(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, ""))
	ctx := context.Background()
	send := func(body []byte, hdr map[string]string) *postResult {
		t.Helper()
		r, err := post(ctx, a.webhook, body, hdr)
		require.NoError(t, err)
		return r
	}

	t.Run("the ledger's own record types are refused", func(t *testing.T) {
		for i, c := range []struct {
			edit  func(ev map[string]any)
			field string
		}{
			{func(ev map[string]any) { ev["action"] = "ledger.checkpoint" }, "action"},
			{func(ev map[string]any) { ev["action"] = "ledger.genesis" }, "action"},
			{func(ev map[string]any) { ev["action"] = "Ledger.Checkpoint" }, "action"},
			{func(ev map[string]any) { ev["action"] = "ledger.damage" }, "action"},
			{func(ev map[string]any) { ev["category"] = "ledger" }, "category"},
		} {
			r := send(event(fmt.Sprintf("forged-%d", i), c.edit), nil)
			assert.Equal(t, 400, r.Code, r.Body)
			if assert.NotEmpty(t, r.Errors, r.Body) {
				assert.Equal(t, c.field, r.Errors[0].Field, r.Body)
				assert.Contains(t, r.Errors[0].Error, "reserved", r.Body)
			}
		}
		// Content that merely looks like a checkpoint is an event like any
		// other: kept, and harmless to kt verify.
		r := send(event("looks-like-a-checkpoint", func(ev map[string]any) {
			ev["source"] = map[string]any{"kind": "ledger", "name": "kt"}
			ev["attributes"] = map[string]any{"checkpoint": "kt/forged\n1\nAAAA\n\n— kt forged\n", "tree_size": 1}
		}), nil)
		assert.Equal(t, 202, r.Code, r.Body)
	})

	t.Run("a limit on a field is a 400 naming it, never retry later", func(t *testing.T) {
		r := send(event(strings.Repeat("i", 70000), nil), nil)
		assert.Equal(t, 400, r.Code, r.Body)
		if assert.NotEmpty(t, r.Errors, r.Body) {
			assert.Equal(t, "id", r.Errors[0].Field)
		}
		r = send(event("", func(ev map[string]any) { delete(ev, "id") }), map[string]string{"Idempotency-Key": strings.Repeat("k", 8000)})
		assert.Equal(t, 400, r.Code, r.Body)
		assert.Contains(t, r.Body, "Idempotency-Key")
		r = send(event("long-action", func(ev map[string]any) { ev["action"] = "config." + strings.Repeat("a", 5000) }), nil)
		assert.Equal(t, 400, r.Code, r.Body)
		r = send(event("after-the-refusals", nil), nil)
		assert.Equal(t, 202, r.Code, "a good request after refused ones: %s", r.Body)
	})

	t.Run("a producer's wording is recorded, not refused", func(t *testing.T) {
		for i, edit := range []func(ev map[string]any){
			func(ev map[string]any) { ev["category"] = "credentials" },
			func(ev map[string]any) { ev["category"] = "authorization" },
			func(ev map[string]any) { ev["category"] = "data_access" },
			func(ev map[string]any) { ev["category"] = "integration" },
			func(ev map[string]any) { ev["actor"].(map[string]any)["type"] = "api_key" },
			func(ev map[string]any) { ev["actor"].(map[string]any)["type"] = "service_account" },
			func(ev map[string]any) { ev["actor"].(map[string]any)["type"] = "robot" },
			func(ev map[string]any) { ev["outcome"] = "partial" },
			func(ev map[string]any) { ev["target"].(map[string]any)["id"] = 42 },
		} {
			r := send(event(fmt.Sprintf("vocab-%d", i), edit), nil)
			assert.Equal(t, 202, r.Code, "case %d: %s", i, r.Body)
		}
	})

	t.Run("encodings producers send", func(t *testing.T) {
		r := send(append([]byte("\xef\xbb\xbf"), event("bom", nil)...), nil)
		assert.Equal(t, 202, r.Code, "a UTF-8 BOM: %s", r.Body)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(event("gzipped", nil))
		require.NoError(t, zw.Close())
		r = send(gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
		assert.Equal(t, 202, r.Code, "gzip: %s", r.Body)
	})

	t.Run("a conflict inside one request names both lines", func(t *testing.T) {
		body := "[" + string(event("twice", nil)) + "," + string(event("twice", func(ev map[string]any) { ev["outcome"] = "failure" })) + "]"
		r := send([]byte(body), nil)
		assert.Equal(t, 409, r.Code, r.Body)
		assert.Contains(t, r.Body, "line 1")
		assert.Contains(t, r.Body, "line 2")
		assert.NotContains(t, r.Body, "seq 0")
	})

	secrets := []string{
		"SECRET-XAPIKEY-1", "SECRET-XAUTH-2", "SECRET-ACCESSTOKEN-3", "SECRET-AUTHTOKEN-4",
		"SECRET-SAK-5", "SECRET-PWD-6", "SECRET-DSN-7", "SECRET-YAML-8", "SECRET-URL-9",
		"SECRET-BEARER-10", "AKIAIOSFODNN7EXAMPLE", "SECRET-PEM-11",
	}
	t.Run("secrets are redacted whatever they are called", func(t *testing.T) {
		r := send(event("secrets", func(ev map[string]any) {
			ev["request"] = map[string]any{"headers": map[string]any{
				"x-api-key": secrets[0], "X-Auth-Token": secrets[1], "Authorization": "Bearer " + secrets[9],
			}}
			ev["accessToken"] = secrets[2]
			ev["auth_token"] = secrets[3]
			ev["aws"] = map[string]any{"secretAccessKey": secrets[4], "accessKeyId": secrets[10]}
			ev["db"] = map[string]any{"pwd": secrets[5], "dsn": "postgres://app:" + secrets[6] + "@db.internal:5432/audit"}
			ev["webhook_url"] = "https://bot:" + secrets[8] + "@hooks.example/x"
			ev["tls"] = map[string]any{"material": "-----BEGIN PRIVATE KEY-----\nMIIE" + secrets[11] + "\n-----END PRIVATE KEY-----\n"}
			ev["changes"] = map[string]any{"before": "a: 1\n", "after": "password: " + secrets[7] + "\n  bad: [indent\n"}
		}), nil)
		require.Equal(t, 202, r.Code, r.Body)
	})

	a.Stop()
	code, out, stderr := runKT(t, "verify", "--data-dir", dataDir)
	assert.Equal(t, 0, code, "kt verify after hostile input:\n%s%s", out, stderr)
	assert.Empty(t, grepTree(t, dataDir, secrets, map[string]string{"agent log": a.Logs()}))
}

// TestIntegrationUnsafeFiles: the agent refuses to run on a data dir others
// can write to, or with a private key others can read.
func TestIntegrationUnsafeFiles(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeConfig(t, dataDir, "")
	a := startAgent(t, cfg)
	a.Stop()

	require.NoError(t, os.Chmod(dataDir, 0o777))
	code, _, stderr := runKT(t, "agent", "--config", cfg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "chmod go-w "+dataDir)
	require.NoError(t, os.Chmod(dataDir, 0o700))

	key := filepath.Join(dataDir, "signing.key")
	require.NoError(t, os.Chmod(key, 0o640))
	code, _, stderr = runKT(t, "agent", "--config", cfg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "chmod 600 "+key)
	require.NoError(t, os.Chmod(key, 0o600))

	a = startAgent(t, cfg)
	a.Stop()
}

// TestIntegrationKeygenName: kt keygen names its key as the agent does.
func TestIntegrationKeygenName(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	key := filepath.Join(t.TempDir(), "signing.key")
	code, _, stderr := runKT(t, "keygen", "--out", key)
	require.Equal(t, 0, code, stderr)
	pub, err := os.ReadFile(key + ".pub")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(pub), "kt-"+host+"+"), string(pub))
}

// waitFor polls f until it is true or d passes.
func waitFor(d time.Duration, f func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if f() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return f()
}

// statusJSON runs `kt status -o json` against the agent.
func statusJSON(t *testing.T, a *agentProc) (int, map[string]any, string) {
	t.Helper()
	code, out, stderr := runKT(t, "status", "--api", a.api, "-o", "json")
	var st map[string]any
	if code != 2 {
		require.NoError(t, json.Unmarshal([]byte(out), &st), out+stderr)
	}
	return code, st, out + stderr
}

// getText returns the status code and body of a GET.
func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestIntegrationHostileFileSource: lines that can never be taken go to the
// dead letters and never hold back the lines after them; a flood of them is
// cheap and every one is accounted for; nothing secret is kept.
func TestIntegrationHostileFileSource(t *testing.T) {
	dataDir := t.TempDir()
	src := filepath.Join(t.TempDir(), "audit.log")
	var b bytes.Buffer
	good := 0
	addGood := func(prefix string) {
		b.WriteString(prefix)
		b.Write(event(fmt.Sprintf("good-%d", good), nil))
		b.WriteByte('\n')
		good++
	}
	addGood("\xef\xbb\xbf") // a BOM at the start of the file
	addGood("")
	b.Write(event(strings.Repeat("x", 70000), nil)) // an id no ledger can hold
	b.WriteByte('\n')
	addGood("")
	const flood = 2000
	for i := range flood {
		fmt.Fprintf(&b, "not json %d password=SECRET-DL-%d\n", i, i)
	}
	b.Write(event("forged", func(ev map[string]any) { ev["action"] = "ledger.checkpoint" }))
	b.WriteByte('\n')
	for range 50 {
		addGood("")
	}
	require.NoError(t, os.WriteFile(src, b.Bytes(), 0o644))
	a := startAgent(t, writeFileSourceConfig(t, dataDir, []string{src}, ""))
	refused := 1 + flood + 1
	require.True(t, waitFor(30*time.Second, func() bool {
		_, st, _ := statusJSON(t, a)
		srcs, _ := st["sources"].([]any)
		if len(srcs) == 0 {
			return false
		}
		s := srcs[0].(map[string]any)
		return s["accepted"] == float64(good) && s["refused"] == float64(refused)
	}), "every good line taken in, every bad one refused:\n%s", a.Logs())
	code, st, out := statusJSON(t, a)
	assert.Equal(t, 0, code, "refused input is counted, not a problem: %s", out)
	assert.Empty(t, st["problems"])
	a.Stop()

	var ids []string
	for _, e := range scanLedger(t, dataDir) {
		ids = append(ids, e.id)
	}
	assert.Len(t, ids, good)
	dl := deadLetters(t, dataDir)
	require.Len(t, dl, refused, "every refused line has its dead-letter record")
	withText := 0
	for _, d := range dl {
		assert.NotEmpty(t, d["sha256"])
		assert.NotEmpty(t, d["reason"])
		if d["text"] != nil {
			withText++
		}
	}
	assert.Greater(t, withText, 0, "a sample of the texts is kept")
	assert.Contains(t, fmt.Sprint(dl[0]["reason"]), "id")
	var secrets []string
	for i := range flood {
		secrets = append(secrets, fmt.Sprintf("SECRET-DL-%d\n", i), fmt.Sprintf("SECRET-DL-%d\"", i))
	}
	assert.Empty(t, grepTree(t, dataDir, secrets, map[string]string{"agent log": a.Logs()}))
	code, _, stderr := runKT(t, "verify", "--data-dir", dataDir)
	assert.Equal(t, 0, code, stderr)
}

// TestIntegrationStallVisible: a sink that cannot deliver is named in
// kt status (exit 1), /readyz (503) and kt_stalled once health.stall_after
// passes; an idle one is not.
func TestIntegrationStallVisible(t *testing.T) {
	dataDir := t.TempDir()
	cfg := fmt.Sprintf(`
data_dir = %q
health {
  stall_after = "2s"
}
source "webhook" "w" {
  listen = "127.0.0.1:0"
}
sink "file" "local" {
  path = %q
}
sink "splunk_hec" "down" {
  endpoint = "http://127.0.0.1:1"
  token    = "t"
  retry {
    max = "1s"
  }
}
query_api {
  listen = "127.0.0.1:0"
}
`, dataDir, filepath.Join(dataDir, "out", "audit.ndjson"))
	p := filepath.Join(t.TempDir(), "kt.hcl")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	a := startAgent(t, p)
	r, err := post(context.Background(), a.webhook, event("stall-1", nil), nil)
	require.NoError(t, err)
	require.Equal(t, 202, r.Code, r.Body)
	require.True(t, waitFor(15*time.Second, func() bool {
		code, body := getText(t, a.api+"/readyz")
		return code == 503 && strings.Contains(body, "sink down: stalled")
	}), "readyz names the stalled sink")
	time.Sleep(3 * time.Second) // past stall_after again: the idle source and the sink that delivers stay fine
	_, body := getText(t, a.api+"/readyz")
	assert.NotContains(t, body, "local")
	assert.NotContains(t, body, "source")
	code, _, out := statusJSON(t, a)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, `"kind": "sink"`)
	assert.Contains(t, out, `"name": "down"`)
	code, table, _ := runKT(t, "status", "--api", a.api)
	assert.Equal(t, 1, code)
	assert.Contains(t, table, "sink down: stalled: no progress for")
	assert.NotContains(t, table, "sink local")
	v, err := metricValue(a.api, `kt_stalled{kind="sink",name="down"}`)
	require.NoError(t, err)
	assert.Equal(t, 1.0, v)
	v, err = metricValue(a.api, "kt_problems")
	require.NoError(t, err)
	assert.Equal(t, 1.0, v)
	a.Stop()
}

// TestIntegrationDamageReported: damage found at start-up is reported
// until acknowledged, recorded in the ledger, and the lost event's id
// stays reserved.
func TestIntegrationDamageReported(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeConfig(t, dataDir, "")
	a := startAgent(t, cfg)
	for i := range 20 {
		r, err := post(context.Background(), a.webhook, event(fmt.Sprintf("d-%02d", i), nil), nil)
		require.NoError(t, err)
		require.Equal(t, 202, r.Code, r.Body)
	}
	a.Stop()

	// Bit rot in the body of one entry in the middle of the segment.
	segs, err := filepath.Glob(filepath.Join(dataDir, "ledger", "segments", "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	seg, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	at := bytes.Index(seg, []byte(`"id":"d-10"`))
	require.Greater(t, at, 0)
	seg[at+8] ^= 0x01
	require.NoError(t, os.WriteFile(segs[0], seg, 0o600))

	a = startAgent(t, cfg)
	assert.Contains(t, a.Logs(), "damage", "the damage is logged at start")
	code, st, out := statusJSON(t, a)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "damage")
	code, body := getText(t, a.api+"/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "damage")
	v, err := metricValue(a.api, "kt_ledger_damage_unacknowledged")
	require.NoError(t, err)
	assert.Equal(t, 1.0, v)
	dmg := st["ledger"].(map[string]any)["damage"].([]any)
	require.Len(t, dmg, 1)
	id := dmg[0].(map[string]any)["id"].(string)

	// The lost event's id cannot be taken by other content.
	r, err := post(context.Background(), a.webhook, event("d-10", func(ev map[string]any) { ev["action"] = "config.delete" }), nil)
	require.NoError(t, err)
	assert.Equal(t, 409, r.Code, r.Body)
	assert.Contains(t, r.Body, "lost")

	code, out, stderr := runKT(t, "damage", "list", "--api", a.api)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, id)
	code, out, stderr = runKT(t, "damage", "ack", id, "--by", "tester@example", "--api", a.api)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "acknowledged "+id)
	code, _, out = statusJSON(t, a)
	assert.Equal(t, 0, code, out)
	code, _ = getText(t, a.api+"/readyz")
	assert.Equal(t, 200, code)
	a.Stop()

	// The ledger holds both, and the sink shipped them.
	var actions []string
	for _, m := range readNDJSON(t, filepath.Join(dataDir, "out", "audit.ndjson")) {
		if act, _ := m["action"].(string); strings.HasPrefix(act, "ledger.damage") {
			actions = append(actions, act)
			if act == "ledger.damage_acknowledged" {
				assert.Contains(t, fmt.Sprint(m), "tester@example")
			}
		}
	}
	assert.Equal(t, []string{"ledger.damage", "ledger.damage_acknowledged"}, actions)

	// Acknowledged damage is no problem at the next start, and verify
	// still names it.
	a = startAgent(t, cfg)
	code, _, out = statusJSON(t, a)
	assert.Equal(t, 0, code, out)
	a.Stop()
	code, vout, _ := runKT(t, "verify", "--data-dir", dataDir)
	assert.Equal(t, 1, code)
	assert.Contains(t, vout, "DAMAGED")
}

// TestIntegrationVerifyNothing: an input without entries proves nothing
// and does not pass.
func TestIntegrationVerifyNothing(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.ndjson")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	code, out, stderr := runKT(t, "verify", empty)
	assert.Equal(t, 2, code, out+stderr)
	assert.Contains(t, out+stderr, "holds no ledger entries")
	assert.NotContains(t, out+stderr, "OK")
}
