package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/queue"
)

// TestIntegrationCrash posts continuously from several clients while the
// agent is killed with SIGKILL and restarted, again and again. Every event
// that got a 202 must be in the ledger exactly once, and kt verify must pass.
// Clients retry a batch with the same ids until it is accepted, as a
// producer should, so the test also proves that retries never double.
func TestIntegrationCrash(t *testing.T) {
	dataDir := t.TempDir()
	config := writeConfig(t, dataDir, "")
	var url atomic.Value
	a := startAgent(t, config)
	url.Store(a.webhook)

	const clients = 3
	const batch = 50
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		attempts atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; !stop.Load(); b++ {
				ids := make([]string, batch)
				var body []byte
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-c%d-b%d-e%d", c, b, i)
					ev, _ := json.Marshal(map[string]any{
						"id": ids[i], "time": "2026-03-01T10:00:00Z", "action": "config.update",
						"actor":   map[string]any{"type": "user", "id": fmt.Sprintf("usr_%d", c)},
						"target":  map[string]any{"type": "config", "id": "cfg_1"},
						"changes": map[string]any{"before": map[string]any{"n": b}, "after": map[string]any{"n": b + 1}},
					})
					body = append(append(body, ev...), '\n')
				}
				// Retry the same batch until it is acknowledged (or the test ends).
				for !stop.Load() {
					attempts.Add(1)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					r, err := post(ctx, url.Load().(string), body, nil)
					cancel()
					if err == nil && r.Code == http.StatusAccepted {
						mu.Lock()
						for _, id := range ids {
							acked[id] = true
						}
						mu.Unlock()
						break
					}
					if err == nil && r.Code != http.StatusServiceUnavailable {
						t.Errorf("unexpected answer %d: %s", r.Code, r.Body)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	const kills = 5
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(400+rand.IntN(600)) * time.Millisecond)
		a.Kill()
		a = startAgent(t, config)
		url.Store(a.webhook)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	a.Stop()

	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(acked), 10*batch, "the clients got too few events through to prove anything")
	t.Logf("%d events acknowledged over %d kills, %d POST attempts", len(acked), kills, attempts.Load())

	count := map[string]int{}
	var seqs []uint64
	damage, err := queue.Scan(layout.Ledger(dataDir), func(r queue.Item) error {
		if r.Kind != queue.ItemEntry {
			return nil
		}
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Line, &m); err != nil {
			return err
		}
		count[m.ID]++
		seqs = append(seqs, r.Seq)
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, damage, "a torn tail is cut at restart; nothing else may be damaged")
	for i, s := range seqs {
		require.Equal(t, uint64(i), s, "seqs are dense")
	}
	for id := range acked {
		assert.Equal(t, 1, count[id], "acknowledged event %s must be in the ledger exactly once", id)
	}
	for id, n := range count {
		assert.Equal(t, 1, n, "event %s is in the ledger %d times", id, n)
	}

	code, stdout, stderr := runKT(t, "verify", "--data-dir", dataDir, "--trust", filepath.Join(dataDir, "signing.key.pub"),
		"--anchors", filepath.Join(dataDir, "out", "audit.ndjson"), filepath.Join(dataDir, "out", "audit.ndjson"))
	assert.Equal(t, 0, code, stdout+stderr)
}
