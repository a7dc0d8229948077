package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var secretMarkers = []string{"THIS-MUST-NEVER-BE-STORED", "THISMUSTNEVERBESTORED", "hunter2"}

// TestIntegrationEndToEnd posts the sample events to a real kt agent, then
// reads them back from the file sink and the ledger, and verifies both.
func TestIntegrationEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, ""))
	ctx := context.Background()

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(a.api + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}

	lines := sampleLines(t)
	// One object, then an array, then NDJSON.
	r, err := post(ctx, a.webhook, lines[0], nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	assert.Equal(t, 1, r.Accepted)
	assert.Equal(t, uint64(1), r.FirstSeq, "seq 0 is the genesis entry")

	arr := append([]byte("["), bytes.Join(lines[1:10], []byte(","))...)
	arr = append(arr, ']')
	r, err = post(ctx, a.webhook, arr, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	assert.Equal(t, 9, r.Accepted)
	assert.Equal(t, uint64(2), r.FirstSeq)
	assert.Equal(t, uint64(10), r.LastSeq)

	r, err = post(ctx, a.webhook, bytes.Join(lines[10:], []byte("\n")), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	assert.Equal(t, len(lines)-10, r.Accepted)

	// A retry of the same request writes nothing new.
	r, err = post(ctx, a.webhook, arr, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	assert.Equal(t, 0, r.Accepted)
	assert.Equal(t, 9, r.Duplicates)

	resp, err := http.Get(a.api + "/metrics")
	require.NoError(t, err)
	var mb bytes.Buffer
	_, _ = mb.ReadFrom(resp.Body)
	resp.Body.Close()
	assert.Contains(t, mb.String(), "kt_ledger_entries ")
	assert.Contains(t, mb.String(), `kt_webhook_requests_total{result="accepted",source="test"} 4`)

	a.Stop()

	// The sink output holds every event once, in seq order, with ledger fields.
	out := readNDJSON(t, filepath.Join(dataDir, "out", "audit.ndjson"))
	ids := map[string]int{}
	lastSeq := -1.0
	checkpoints := 0
	for _, m := range out {
		if rec, ok := m["record"]; ok {
			if rec == "checkpoint" {
				checkpoints++
			}
			continue
		}
		seq := m["seq"].(float64)
		assert.Greater(t, seq, lastSeq, "seq order")
		lastSeq = seq
		for _, k := range []string{"hash", "prev_hash", "sig", "key_id", "time", "received_at", "category", "actor", "action", "source"} {
			assert.Contains(t, m, k, "seq %v", seq)
		}
		ids[m["id"].(string)]++
	}
	assert.Positive(t, checkpoints)
	for i := 1; i <= 34; i++ {
		id := fmt.Sprintf("evt_%04d", i)
		if i == 33 {
			continue // the samples' event without an id gets a generated one
		}
		assert.Equal(t, 1, ids[id], id)
	}
	// The final checkpoint entry is the last entry.
	var lastEntry map[string]any
	for _, m := range out {
		if _, ok := m["record"]; !ok {
			lastEntry = m
		}
	}
	assert.Equal(t, "ledger.checkpoint", lastEntry["action"])

	// Redaction: no secret anywhere on disk or in the logs.
	require.NoError(t, filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, s := range secretMarkers {
			assert.False(t, bytes.Contains(b, []byte(s)), "%s holds %q", p, s)
		}
		return nil
	}))
	for _, s := range secretMarkers {
		assert.NotContains(t, a.Logs(), s)
	}

	// Both copies verify.
	code, stdout, stderr := runKT(t, "verify", "--data-dir", dataDir, "--trust", filepath.Join(dataDir, "signing.key.pub"))
	assert.Equal(t, 0, code, stdout+stderr)
	code, stdout, stderr = runKT(t, "verify", "--trust", filepath.Join(dataDir, "signing.key.pub"), filepath.Join(dataDir, "out", "audit.ndjson"))
	assert.Equal(t, 0, code, stdout+stderr)

	// A restart resumes the chain and the sink without doubling anything.
	a = startAgent(t, writeConfig(t, dataDir, ""))
	r, err = post(ctx, a.webhook, []byte(`{"id":"evt_after_restart","time":"2026-02-01T00:00:00Z","action":"auth.login","actor":"zed"}`), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	a.Stop()
	out = readNDJSON(t, filepath.Join(dataDir, "out", "audit.ndjson"))
	seen := map[float64]bool{}
	for _, m := range out {
		if _, ok := m["record"]; ok {
			continue
		}
		seq := m["seq"].(float64)
		assert.False(t, seen[seq], "seq %v twice in the sink output", seq)
		seen[seq] = true
	}
	code, stdout, stderr = runKT(t, "verify", "--data-dir", dataDir, filepath.Join(dataDir, "out", "audit.ndjson"))
	assert.Equal(t, 0, code, stdout+stderr)
	assert.Contains(t, stderr, "no --trust")
}
