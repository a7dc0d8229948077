package query

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_test_gauge", Help: "test"}, func() float64 { return 7 }))
	var ready atomic.Bool
	s, err := New(Options{Listen: "127.0.0.1:0", Token: "tok", Registry: reg, Ready: func() string {
		if ready.Load() {
			return ""
		}
		return "starting"
	}, Status: func() any { return map[string]int{"entries": 3} }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	base := "http://" + s.Addr()

	code, body := get(t, base+"/healthz", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok\n", body)
	code, body = get(t, base+"/readyz", "")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "starting")
	ready.Store(true)
	code, _ = get(t, base+"/readyz", "")
	assert.Equal(t, 200, code)

	code, _ = get(t, base+"/metrics", "")
	assert.Equal(t, 401, code, "metrics need the token")
	code, _ = get(t, base+"/metrics", "wrong")
	assert.Equal(t, 401, code)
	code, body = get(t, base+"/metrics", "tok")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "kt_test_gauge 7")

	code, _ = get(t, base+"/v1/status", "")
	assert.Equal(t, 401, code, "status needs the token")
	code, body = get(t, base+"/v1/status", "tok")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"entries":3}`, body)
}
