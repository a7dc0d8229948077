package query

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/listener"
	"github.com/keeptrusts/kt/internal/listener/certtest"
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
	}, Status: func() Status { return Status{Ledger: LedgerStatus{Entries: 3}} }})
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
	var st Status
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	assert.Equal(t, uint64(3), st.Ledger.Entries, "the document Status gives")
}

func TestBearerSchemeAnyCase(t *testing.T) {
	s := start(t, Options{Listen: "127.0.0.1:0", Token: "tok", Registry: prometheus.NewRegistry(), Ready: func() string { return "" }})
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		code, _ := getAuth(t, "http://"+s.Addr()+"/metrics", scheme+" tok")
		assert.Equal(t, 200, code, scheme)
	}
	code, _ := getAuth(t, "http://"+s.Addr()+"/metrics", "Basic tok")
	assert.Equal(t, 401, code)
}

func TestRoutes(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	ack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "acknowledged %s", b)
	})
	lc := listener.NewDefaultConfig()
	lc.MaxBodyBytes = 1024
	s := start(t, Options{Listen: "127.0.0.1:0", Token: "tok", Listener: lc, Registry: prometheus.NewRegistry(), Ready: func() string { return "" },
		Routes: map[string]http.Handler{"POST /v1/damage/ack": ack}, Logger: log})
	url := "http://" + s.Addr() + "/v1/damage/ack"
	post := func(auth, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := post("", "seq 7")
	assert.Equal(t, 401, code, "extra routes need the token")
	code, body := post("Bearer tok", "seq 7")
	assert.Equal(t, 200, code)
	assert.Equal(t, "acknowledged seq 7", body)
	code, body = post("Bearer tok", strings.Repeat("x", 2048))
	assert.Equal(t, 413, code, "the listener's limits apply to extra routes: %s", body)

	mu.Lock()
	assert.Contains(t, logs.String(), `"msg":"request refused: not authenticated","listener":"query api"`)
	mu.Unlock()

	_, err := New(Options{Listen: "127.0.0.1:0", Registry: prometheus.NewRegistry(), Ready: func() string { return "" },
		Routes: map[string]http.Handler{"GET /metrics": ack}})
	require.Error(t, err, "a route that conflicts with a built-in one")
	assert.Contains(t, err.Error(), `route "GET /metrics"`)
}

func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	cert, key := ca.Server(t, dir, "server")
	mtls, err := listener.LoadTLS(cert, key, ca.File, 0)
	require.NoError(t, err)
	lc := listener.NewDefaultConfig()
	lc.TLS = mtls
	s := start(t, Options{Listen: "127.0.0.1:0", Listener: lc, Registry: prometheus.NewRegistry(), Ready: func() string { return "" },
		Status: func() Status { return Status{Ledger: LedgerStatus{Entries: 1}} }})
	url := "https://" + s.Addr() + "/v1/status"
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}).Get(url)
	require.Error(t, err, "no client certificate, no answer")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.ClientCert(t, dir, "ops")}}}}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestDecode(t *testing.T) {
	t.Setenv("KT_QUERY_TOKEN", "tok")
	cases := []struct{ name, src, want string }{
		{"loopback, no token", `listen = "127.0.0.1:8781"`, ""},
		{"exposed, token", "listen = \"0.0.0.0:8781\"\ntoken = env(\"KT_QUERY_TOKEN\")", ""},
		{"exposed, said so", "listen = \"0.0.0.0:8781\"\nallow_unauthenticated = true", ""},
		{"exposed, nothing", `listen = "0.0.0.0:8781"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"empty token", "listen = \"127.0.0.1:8781\"\ntoken = \"\"", "t.hcl:2:9: Empty token"},
		{"unset token", "listen = \"0.0.0.0:8781\"\ntoken = env(\"KT_UNSET_FOR_TEST\")", "t.hcl:2:9: Error in function call"},
		{"no listen", `token = "x"`, "Missing required argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := hclparse.NewParser().ParseHCL([]byte(tc.src), "t.hcl")
			require.False(t, diags.HasErrors())
			c, diags := Decode(f.Body, hclconf.EvalContext("."))
			if tc.want == "" {
				require.False(t, diags.HasErrors(), diags.Error())
				return
			}
			require.True(t, diags.HasErrors())
			var got []string
			for _, d := range diags {
				got = append(got, fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
			}
			assert.Contains(t, strings.Join(got, "\n"), tc.want)
			assert.Len(t, got, 1, "one mistake, one diagnostic: %q", got)
			_ = c
		})
	}
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := New(o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func getAuth(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
