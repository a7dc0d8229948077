package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/queue"
)

// TestIntegrationDiskFull puts the data dir on a small tmpfs and fills it:
// the webhook answers 503 with Retry-After and acknowledges nothing it could
// not make durable; once space is back, ingest resumes and the ledger
// verifies with every acknowledged event in it.
func TestIntegrationDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root)")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, 0) })
	dataDir := filepath.Join(mnt, "kt")
	a := startAgent(t, writeConfig(t, dataDir, ""))

	// Leave about 400 KB free.
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(mnt, &st))
	free := int64(st.Bavail) * st.Bsize
	filler := filepath.Join(mnt, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, free-400<<10), 0o600))

	acked := map[string]bool{}
	got503 := false
	pad := strings.Repeat("p", 900)
	for b := 0; b < 200 && !got503; b++ {
		var body []byte
		ids := make([]string, 20)
		for i := range ids {
			ids[i] = fmt.Sprintf("full-%d-%d", b, i)
			ev, _ := json.Marshal(map[string]any{"id": ids[i], "time": "2026-01-01T00:00:00Z", "action": "config.update", "actor": "alice", "pad": pad})
			body = append(append(body, ev...), '\n')
		}
		r, err := post(context.Background(), a.webhook, body, nil)
		require.NoError(t, err)
		switch r.Code {
		case http.StatusAccepted:
			for _, id := range ids {
				acked[id] = true
			}
		case http.StatusServiceUnavailable:
			got503 = true
			assert.Contains(t, r.Body, "retry later")
		default:
			t.Fatalf("unexpected answer %d: %s", r.Code, r.Body)
		}
	}
	require.True(t, got503, "the disk never filled")
	require.NotEmpty(t, acked)

	// Space comes back: the same agent takes events again.
	require.NoError(t, os.Remove(filler))
	r, err := post(context.Background(), a.webhook, []byte(`{"id":"after-full","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"bob"}`), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	acked["after-full"] = true
	a.Stop()

	count := map[string]int{}
	_, err = queue.Scan(layout.Ledger(dataDir), func(rec queue.Item) error {
		if rec.Kind == queue.ItemEntry {
			var m struct{ ID string }
			require.NoError(t, json.Unmarshal(rec.Line, &m))
			count[m.ID]++
		}
		return nil
	})
	require.NoError(t, err)
	for id := range acked {
		assert.Equal(t, 1, count[id], id)
	}
	code, stdout, stderr := runKT(t, "verify", "--data-dir", dataDir, "--trust", filepath.Join(dataDir, "signing.key.pub"))
	assert.Equal(t, 0, code, stdout+stderr)
}
