// Package benchkit holds what the benchmark commands share: the ~1 KB audit
// event they send, readings of a process's CPU time and of kt's signing
// rate, and the run-and-clean-up frame of a command (Main, AtExit).
package benchkit

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keeptrusts/kt/ledger"
)

// Template returns the benchmark event: an administrative config.update
// with before/after documents, about 1 KB; every "__ID__" in it (the id and
// the request id) is to be replaced by a unique id.
func Template() []byte {
	b, _ := json.Marshal(map[string]any{
		"id":     "__ID__",
		"time":   "2026-03-01T10:00:00.123456Z",
		"action": "config.update",
		"actor":  map[string]any{"type": "user", "id": "usr_01H8A", "name": "alice@acme.example", "ip": "203.0.113.84", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		"target": map[string]any{"type": "config", "id": "cfg_gateway_prod", "name": "gateway-prod.yaml"},
		"org_id": "org_acme", "request_id": "req___ID__", "correlation_id": "corr_release_7",
		"changes": map[string]any{
			"before": map[string]any{"version": 3, "routes": []any{map[string]any{"name": "default", "model": "gpt-4o", "rate_limit": map[string]any{"rpm": 600, "burst": 50}}}},
			"after":  map[string]any{"version": 4, "routes": []any{map[string]any{"name": "default", "model": "gpt-4o", "rate_limit": map[string]any{"rpm": 900, "burst": 80}}, map[string]any{"name": "batch", "model": "claude-3-haiku"}}},
		},
		"region": "eu-west-1", "cluster": "prod-7", "ticket": "CHG-2291", "comment": strings.Repeat("rollout of the new rate limits; ", 6),
	})
	return b
}

// ProcCPU returns the user+system CPU time of a process, all its threads.
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// KTSignRate measures ledger.Signer.SignHash on one core for d.
func KTSignRate(d time.Duration) float64 {
	skey, _, _ := ledger.GenerateKey(rand.Reader, "bench")
	s, _ := ledger.NewSigner(skey)
	var h ledger.Hash
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 100; i++ {
			h[0]++
			s.SignHash(h)
		}
		count += 100
	}
	return float64(count) / time.Since(start).Seconds()
}
