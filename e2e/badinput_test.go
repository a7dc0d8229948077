package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ledgerEntries(t *testing.T, a *agentProc) int {
	t.Helper()
	resp, err := http.Get(a.api + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^kt_ledger_entries (\d+)`).FindSubmatch(b)
	require.NotNil(t, m, "no kt_ledger_entries in /metrics")
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return n
}

// TestIntegrationBadInput sends what is not an audit event: each request
// gets a clear 4xx naming what is wrong, and nothing of it is written.
func TestIntegrationBadInput(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, `max_body_bytes = 16777216`))
	ctx := context.Background()
	before := ledgerEntries(t, a)

	good := `{"id":"ok1","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"alice"}`
	deep := strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100)
	big := `{"id":"big","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"alice","note":"` + strings.Repeat("x", 10<<20) + `"}`
	badSamples, err := readFileLines("testdata/control-plane-audit-bad.ndjson")
	require.NoError(t, err)

	cases := []struct {
		name      string
		body      string
		code      int
		mentions  []string
		errorLine int
	}{
		{"malformed JSON", `{"id":"x","action":`, 400, []string{"JSON"}, 1},
		{"invalid UTF-8", `{"id":"u","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"a","note":"caf` + "\xe9" + `"}`, 400, []string{"note", "UTF-8"}, 1},
		{"100-deep nesting", `{"id":"d","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"a","deep":` + deep + `}`, 400, []string{"deep"}, 1},
		{"10 MB field", big, 400, []string{"note"}, 1},
		{"missing actor", `{"id":"m","time":"2026-01-01T00:00:00Z","action":"auth.login"}`, 400, []string{"actor"}, 1},
		{"one bad record spoils the request", good + "\n" + `{"id":"m2","time":"2026-01-01T00:00:00Z","actor":"a"}`, 400, []string{"action"}, 2},
		{"the bad samples", strings.Join(badSamples, "\n"), 400, []string{"line 1"}, 1},
		{"over the body limit", `{"pad":"` + strings.Repeat("y", 17<<20) + `"}`, 413, []string{"max_body_bytes"}, 0},
		{"empty body", ``, 400, []string{"no events"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := post(ctx, a.webhook, []byte(tc.body), nil)
			require.NoError(t, err)
			assert.Equal(t, tc.code, r.Code, r.Body)
			for _, m := range tc.mentions {
				assert.Contains(t, r.Body, m)
			}
			if tc.errorLine > 0 {
				require.NotEmpty(t, r.Errors, r.Body)
				assert.Equal(t, tc.errorLine, r.Errors[0].Line, r.Body)
			}
			assert.Less(t, len(r.Body), 64<<10, "the error must not echo the input")
		})
	}
	// Each bad sample line is named with its own line and field.
	r, err := post(ctx, a.webhook, []byte(strings.Join(badSamples, "\n")), nil)
	require.NoError(t, err)
	require.Len(t, r.Errors, len(badSamples), r.Body)
	fields := map[int]string{}
	for _, e := range r.Errors {
		fields[e.Line] = e.Field
	}
	assert.Equal(t, "action", fields[3], r.Body)
	assert.Equal(t, "time", fields[4], r.Body)
	assert.Equal(t, "actor", fields[6], r.Body)

	assert.Equal(t, before, ledgerEntries(t, a), "a refused request must write nothing")
	r, err = post(ctx, a.webhook, []byte(good), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, r.Code, r.Body)
	a.Stop()
}

func readFileLines(p string) ([]string, error) {
	b, err := readFile(p)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n"), nil
}

// TestIntegrationWebhookAuth checks the bearer token and both HMAC schemes.
func TestIntegrationWebhookAuth(t *testing.T) {
	dataDir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789abcdef")
	a := startAgent(t, writeConfig(t, dataDir, `token = env("T_TOKEN")
  hmac_secret = env("T_HMAC")`), "T_TOKEN=s3cret-token", "T_HMAC=whsec_"+base64.StdEncoding.EncodeToString(secret))
	ctx := context.Background()
	body := []byte(`{"id":"auth1","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"alice"}`)
	std := func(id string, ts int64, b []byte) map[string]string {
		m := hmac.New(sha256.New, secret)
		fmt.Fprintf(m, "%s.%d.%s", id, ts, b)
		return map[string]string{"Authorization": "Bearer s3cret-token", "webhook-id": id,
			"webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}
	}
	gh := func(b []byte) map[string]string {
		m := hmac.New(sha256.New, secret)
		m.Write(b)
		return map[string]string{"Authorization": "Bearer s3cret-token", "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil))}
	}
	now := time.Now().Unix()
	cases := []struct {
		name string
		hdr  map[string]string
		body []byte
		code int
	}{
		{"no token", map[string]string{}, body, 401},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, body, 401},
		{"token but no signature", map[string]string{"Authorization": "Bearer s3cret-token"}, body, 401},
		{"standard webhooks", std("msg_1", now, body), body, 202},
		{"standard webhooks, other body", std("msg_2", now, body), []byte(strings.Replace(string(body), "alice", "mallory", 1)), 401},
		{"standard webhooks, replayed an hour later", std("msg_3", now-3600, body), body, 401},
		{"github", gh(body), body, 202},
		{"github, wrong signature", gh([]byte("other")), body, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := post(ctx, a.webhook, tc.body, tc.hdr)
			require.NoError(t, err)
			assert.Equal(t, tc.code, r.Code, r.Body)
		})
	}
	// A retried signed request without event ids dedupes on webhook-id.
	noID := []byte(`{"time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"bob"}`)
	for i := 0; i < 2; i++ {
		r, err := post(ctx, a.webhook, noID, std("msg_retry", now, noID))
		require.NoError(t, err)
		require.Equal(t, 202, r.Code, r.Body)
		assert.Equal(t, 1-i, r.Accepted, "attempt %d", i)
	}
	a.Stop()
	assert.NotContains(t, a.Logs(), "s3cret-token")
}
