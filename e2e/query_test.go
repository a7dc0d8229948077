package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntegrationAuditLogListing: the control plane's sample events go in
// through the webhook; the listing (API and `kt audit-log`) answers each
// filter with exactly the ledger lines a reading of the file sink's copy
// finds, byte for byte; the index is rebuilt from the ledger alone after
// it is deleted.
func TestIntegrationAuditLogListing(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeConfig(t, dataDir, "")
	a := startAgent(t, cfg)
	samples := sampleLines(t)
	r, err := post(context.Background(), a.webhook, []byte(strings.Join(toStrings(samples), "\n")), nil)
	require.NoError(t, err)
	require.Equal(t, 202, r.Code, r.Body)
	total := int(r.LastSeq) + 1 // the genesis entry and every event
	waitIndexed(t, a.api, total)

	// The expected answers, from the ledger's lines in the file sink's copy.
	out := filepath.Join(dataDir, "out", "audit.ndjson")
	waitFor(10*time.Second, func() bool { return len(entryLines(t, out)) == total })
	lines := entryLines(t, out)
	require.Len(t, lines, total)
	want := func(keep func(ev map[string]any) bool) []string {
		var w []string
		for _, l := range lines {
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &ev))
			if keep(ev) {
				w = append(w, l)
			}
		}
		// Newest first: by time, then seq (the lines are in seq order,
		// and kt writes every time in one layout, so the text sorts).
		slices.Reverse(w)
		slices.SortStableFunc(w, func(x, y string) int { return strings.Compare(timeOf(y), timeOf(x)) })
		return w
	}
	str := func(ev map[string]any, obj, key string) string {
		m, _ := ev[obj].(map[string]any)
		s, _ := m[key].(string)
		return s
	}

	bob := want(func(ev map[string]any) bool {
		return str(ev, "actor", "id") == "bob@acme.example" || str(ev, "actor", "name") == "bob@acme.example"
	})
	require.NotEmpty(t, bob)
	code, stdout, stderr := runKT(t, "audit-log", "list", "--api", a.api, "--actor", "bob@acme.example", "-o", "ndjson")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, bob, splitLines(stdout), "the actor's events, newest first, each the ledger's line")

	auth := want(func(ev map[string]any) bool {
		act, _ := ev["action"].(string)
		return strings.HasPrefix(act, "auth.") && ev["time"].(string) < "2026-01-01T00:02:00"
	})
	require.NotEmpty(t, auth)
	code, stdout, stderr = runKT(t, "audit-log", "list", "--api", a.api, "-o", "ndjson",
		"action:auth.* created:*..2026-01-01T00:01:59.999999Z")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, auth, splitLines(stdout), "the search string")

	// Free text: the words of the action auth.password_change.
	pw := want(func(ev map[string]any) bool { return ev["action"] == "auth.password_change" })
	require.NotEmpty(t, pw)
	code, stdout, stderr = runKT(t, "audit-log", "list", "--api", a.api, "-o", "ndjson", `"password change"`)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, pw, splitLines(stdout), "free text")

	// Every event, page by page through the API, then the table.
	code, stdout, stderr = runKT(t, "audit-log", "list", "--api", a.api, "--all", "-o", "ndjson")
	require.Equal(t, 0, code, stderr)
	all := want(func(map[string]any) bool { return true })
	assert.Equal(t, all, splitLines(stdout))
	assert.NotContains(t, stdout, "hunter2-should-never-appear", "the listing holds what the ledger holds: redacted")
	code, stdout, _ = runKT(t, "audit-log", "list", "--api", a.api, "--limit", "3")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "TIME (UTC)")
	assert.Len(t, splitLines(stdout), 4, "a header and one page of 3")

	code, stdout, _ = runKT(t, "audit-log", "show", "--api", a.api, "evt_0004")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, `"id": "evt_0004"`)
	assert.Contains(t, stdout, `"sig": `)

	// The timeline of evt_0004: the same actor (usr_01H8C) and target within
	// the window, each row saying why.
	code, stdout, stderr = runKT(t, "audit-log", "timeline", "--api", a.api, "evt_0004", "--window", "1h")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "> this event")
	assert.Regexp(t, `(?m)^\S*actor\S*\s+2026-01-01`, stdout, "a related event of the same actor")

	// State at a time: the document of cfg_gateway_prod (YAML, which the
	// pipeline recorded parsed) as created (evt_0012), then as updated
	// (evt_0013).
	code, stdout, stderr = runKT(t, "audit-log", "state", "--api", a.api, "config/cfg_gateway_prod", "--at", "2026-01-01T00:07:00Z")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "from event evt_0012")
	assert.Contains(t, stdout, `"rpm": 600`)
	code, stdout, stderr = runKT(t, "audit-log", "state", "--api", a.api, "cfg_gateway_prod", "--at", "2026-01-01T00:08:00Z")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "from event evt_0013")
	code, stdout, _ = runKT(t, "audit-log", "state", "--api", a.api, "config/cfg_gateway_staging_old", "--at", "2026-01-02")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, ": deleted, from event evt_0015")
	code, stdout, _ = runKT(t, "audit-log", "state", "--api", a.api, "user/usr_01H8C", "--at", "2026-01-02")
	assert.Equal(t, 1, code, "a password change records no configuration")
	assert.Contains(t, stdout, "the record cannot say")

	// The diff of a configuration change recorded as YAML documents: by
	// field, the list of routes matched by name.
	code, stdout, stderr = runKT(t, "audit-log", "diff", "--api", a.api, "evt_0013")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^modified\s+routes\[name=default\]\.rate_limit\.rpm\s+600\s+1200\s*$`, stdout)
	assert.Regexp(t, `(?m)^removed\s+routes\[name=batch\]\s`, stdout)
	assert.NotContains(t, stdout, "\x1b[", "no colour when not on a terminal")
	code, stdout, _ = runKT(t, "audit-log", "diff", "--api", a.api, "evt_0013", "-o", "patch")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, `"path": "/routes/0/rate_limit/rpm"`)
	code, stdout, _ = runKT(t, "audit-log", "diff", "--api", a.api, "evt_0001")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "the event records no changes")

	// The proof of one event, checked offline with the public key alone;
	// one byte changed anywhere in it is caught.
	proofFile := filepath.Join(t.TempDir(), "evt_0007.proof")
	code, _, stderr = runKT(t, "audit-log", "proof", "--api", a.api, "evt_0007", "-o", proofFile)
	require.Equal(t, 0, code, stderr)
	pub := filepath.Join(dataDir, "signing.key.pub")
	code, stdout, stderr = runKT(t, "verify", "--proof", proofFile, "--trust", pub)
	require.Equal(t, 0, code, stdout+stderr)
	assert.Contains(t, stdout, `OK: entry seq 7 (event "evt_0007")`)
	doc, err := os.ReadFile(proofFile)
	require.NoError(t, err)
	for _, at := range []int{len("c2sp.org/tlog-proof@v1\nextra ") + 40, len(doc) / 2, len(doc) - 10} {
		bad := slices.Clone(doc)
		bad[at] ^= 0x01
		require.NoError(t, os.WriteFile(proofFile, bad, 0o600))
		code, stdout, _ = runKT(t, "verify", "--proof", proofFile, "--trust", pub)
		assert.Equal(t, 1, code, "byte %d changed: %s", at, stdout)
		assert.Contains(t, stdout, "FAILED")
	}
	code, body := getText(t, a.api+"/v1/proof/abc")
	assert.Equal(t, 400, code, body)
	assert.Contains(t, body, `"parameter": "seq"`)
	code, body = getText(t, a.api+"/v1/proof/999999")
	assert.Equal(t, 404, code, body)
	code, body = getText(t, a.api+"/v1/checkpoint")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "\n\n\u2014 ", "a signed note")
	code, _, stderr = runKT(t, "verify", "--proof", proofFile)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--proof needs --trust")

	// Bad input names what is wrong; no agent says so.
	code, _, stderr = runKT(t, "audit-log", "list", "--api", a.api, "--from", "yesterday")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `parameter "from"`)
	code, _, stderr = runKT(t, "audit-log", "list", "--api", a.api, "colour:red")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown key "colour"`)
	code, _, stderr = runKT(t, "audit-log", "show", "--api", a.api, "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no event with id")
	code, _, stderr = runKT(t, "audit-log", "list", "--api", "http://127.0.0.1:1")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "cannot reach the kt query API")

	// One process at a time on a data dir: kt reindex and a second agent
	// are refused while the agent runs.
	code, _, stderr = runKT(t, "reindex", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "stop the agent first")
	p, err := launchKT(cfg)
	require.NoError(t, err)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("a second agent on the same data dir did not exit")
	}
	assert.False(t, p.cmd.ProcessState.Success())
	assert.Contains(t, p.logs.String(), "is in use by another kt process")

	// The index is a view: rebuilt by kt reindex from the ledger alone, or
	// by the agent when it is deleted.
	a.Stop()
	code, stdout, stderr = runKT(t, "reindex", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("indexed %d entries", total+1), "and the shutdown's ledger.checkpoint entry")
	a = startAgent(t, cfg)
	code, stdout, stderr = runKT(t, "audit-log", "list", "--api", a.api, "--actor", "bob@acme.example", "-o", "ndjson")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, bob, splitLines(stdout))
	a.Stop()
	require.NoError(t, os.RemoveAll(filepath.Join(dataDir, "index")))
	a = startAgent(t, cfg)
	waitIndexed(t, a.api, total+1) // a stop with nothing new appends no second checkpoint entry
	code, stdout, stderr = runKT(t, "audit-log", "list", "--api", a.api, "--actor", "bob@acme.example", "-o", "ndjson")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, bob, splitLines(stdout))
	a.Stop()
}

// waitIndexed waits until the listing holds n events.
func waitIndexed(t *testing.T, api string, n int) {
	t.Helper()
	var got int
	ok := waitFor(20*time.Second, func() bool {
		resp, err := http.Get(api + "/v1/events?limit=1000")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var l struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.NewDecoder(resp.Body).Decode(&l) != nil {
			return false
		}
		got = len(l.Events)
		return got >= n
	})
	require.True(t, ok, "the index holds %d events, want %d", got, n)
}

// entryLines returns the entry lines (not checkpoint or heartbeat records)
// of a file sink's output.
func entryLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range splitLines(string(b)) {
		if strings.HasPrefix(l, `{"seq":`) {
			out = append(out, l)
		}
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// timeOf returns the "time" member of an entry line.
func timeOf(line string) string {
	var ev struct {
		Time string `json:"time"`
	}
	_ = json.Unmarshal([]byte(line), &ev)
	return ev.Time
}
