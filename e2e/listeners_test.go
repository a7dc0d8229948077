package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/listener/certtest"
)

// listenerConfig writes a config whose webhook and query_api blocks get
// the extra attributes given, and returns its path.
func listenerConfig(t *testing.T, dataDir, webhookExtra, queryExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
data_dir = %q
source "webhook" "test" {
  listen = "127.0.0.1:0"
  %s
}
sink "file" "out" {
  path = %q
}
query_api {
  listen = "127.0.0.1:0"
  %s
}
`, dataDir, webhookExtra, filepath.Join(dataDir, "out", "audit.ndjson"), queryExtra)
	p := filepath.Join(t.TempDir(), "kt.hcl")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

func lnEvent(id string) string {
	return `{"id":"` + id + `","time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"alice"}`
}

// TestIntegrationListenerRefusals: what can never be accepted is refused
// for good (400 naming what is wrong), never "retry later", and what
// comes after it is accepted.
func TestIntegrationListenerRefusals(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, ""))
	ctx := context.Background()

	r, err := post(ctx, a.webhook, []byte(lnEvent(strings.Repeat("i", 70000))), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, r.Code, "an id the ledger can never hold is refused for good: %.300s", r.Body)
	if assert.NotEmpty(t, r.Errors, "%.300s", r.Body) {
		assert.Equal(t, 1, r.Errors[0].Line)
		assert.Equal(t, "id", r.Errors[0].Field)
	}
	assert.Less(t, len(r.Body), 4096, "the refusal does not echo the id")

	for _, h := range []string{"webhook-id", "Idempotency-Key"} {
		r, err = post(ctx, a.webhook, []byte(`{"time":"2026-01-01T00:00:00Z","action":"auth.login","actor":"alice"}`),
			map[string]string{h: strings.Repeat("k", 60<<10)})
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, r.Code, "%.300s", r.Body)
		assert.Contains(t, r.Body, "header "+h)
	}

	r, err = post(ctx, a.webhook, []byte(lnEvent("after-refusals")), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, r.Code, r.Body)
	assert.Equal(t, 1, r.Accepted)
	a.Stop()
}

// TestIntegrationListenerEncodings: gzip bodies and byte order marks are
// taken; a zip bomb and unknown codings are refused.
func TestIntegrationListenerEncodings(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, `max_body_bytes = 1048576`))
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		_, err := zw.Write(b)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		return out.Bytes()
	}
	bom := "\xEF\xBB\xBF"
	cases := []struct {
		name     string
		body     []byte
		encoding string
		code     int
		accepted int
		mention  string
	}{
		{"gzip NDJSON", gz([]byte(lnEvent("gz-1") + "\n" + lnEvent("gz-2"))), "gzip", 202, 2, ""},
		{"byte order mark", []byte(bom + lnEvent("bom-1")), "", 202, 1, ""},
		{"byte order mark on every NDJSON line", []byte(bom + lnEvent("bom-2") + "\n" + bom + lnEvent("bom-3")), "", 202, 2, ""},
		{"zip bomb", gz(make([]byte, 64<<20)), "gzip", 413, 0, "max_body_bytes"},
		{"brotli", []byte(lnEvent("br-1")), "br", 415, 0, `\"br\"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.encoding != "" {
				hdr["Content-Encoding"] = tc.encoding
			}
			r, err := post(context.Background(), a.webhook, tc.body, hdr)
			require.NoError(t, err)
			assert.Equal(t, tc.code, r.Code, r.Body)
			assert.Equal(t, tc.accepted, r.Accepted)
			assert.Contains(t, r.Body, tc.mention)
		})
	}
	// kt status counts events, not requests.
	resp, err := http.Get(a.api + "/v1/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Sources []struct {
			Name     string `json:"name"`
			Accepted uint64 `json:"accepted"`
		} `json:"sources"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Len(t, st.Sources, 1)
	assert.Equal(t, uint64(5), st.Sources[0].Accepted, "5 events in 3 requests")
	a.Stop()
}

// TestIntegrationListenerReplay replays captured signed requests, as they
// were and with their unsigned headers changed: nothing new is written.
func TestIntegrationListenerReplay(t *testing.T) {
	dataDir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789abcdef")
	a := startAgent(t, listenerConfig(t, dataDir, `hmac_secret = env("T_HMAC")`, `token = env("T_API")`),
		"T_HMAC=whsec_"+base64.StdEncoding.EncodeToString(secret), "T_API=api-s3cret")
	ctx := context.Background()
	body := []byte(`{"time":"2026-01-01T00:00:00Z","action":"repo.push","actor":"bob"}` + "\n" +
		`{"time":"2026-01-01T00:00:01Z","action":"repo.tag","actor":"bob"}`)

	m := hmac.New(sha256.New, secret)
	m.Write(body)
	gh := map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil)), "X-GitHub-Delivery": "72d3162e-0001"}
	r, err := post(ctx, a.webhook, body, gh)
	require.NoError(t, err)
	require.Equal(t, 202, r.Code, r.Body)
	assert.Equal(t, 2, r.Accepted)
	before := ledgerEntriesAuth(t, a, "api-s3cret")
	for _, delivery := range []string{"72d3162e-0001", "72d3162e-0002", ""} {
		hdr := map[string]string{"X-Hub-Signature-256": gh["X-Hub-Signature-256"], "X-GitHub-Delivery": delivery, "Idempotency-Key": "k-" + delivery}
		r, err = post(ctx, a.webhook, body, hdr)
		require.NoError(t, err)
		require.Equal(t, 202, r.Code, r.Body)
		assert.Equal(t, 0, r.Accepted, "a GitHub replay (delivery %q) writes nothing", delivery)
		assert.Equal(t, 2, r.Duplicates)
	}

	ts := time.Now().Unix()
	std := func(id string, ts int64) map[string]string {
		m := hmac.New(sha256.New, secret)
		fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
		return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}
	}
	r, err = post(ctx, a.webhook, body, std("msg_replay", ts))
	require.NoError(t, err)
	require.Equal(t, 202, r.Code, r.Body)
	assert.Equal(t, 2, r.Accepted)
	for range 2 {
		r, err = post(ctx, a.webhook, body, std("msg_replay", ts))
		require.NoError(t, err)
		require.Equal(t, 202, r.Code, r.Body)
		assert.Equal(t, 0, r.Accepted, "a Standard Webhooks replay inside the window writes nothing")
		assert.Equal(t, 2, r.Duplicates)
	}
	r, err = post(ctx, a.webhook, body, std("msg_old", ts-3600))
	require.NoError(t, err)
	assert.Equal(t, 401, r.Code, "outside the window: %s", r.Body)
	assert.Equal(t, before+2, ledgerEntriesAuth(t, a, "api-s3cret"))

	// The query API takes the bearer scheme in any case.
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		code, _ := apiGet(t, a.api+"/metrics", scheme+" api-s3cret")
		assert.Equal(t, 200, code, scheme)
	}
	for range 5 {
		code, _ := apiGet(t, a.api+"/metrics", "Bearer wrong-guess")
		assert.Equal(t, 401, code)
	}
	a.Stop()
	logs := a.Logs()
	assert.Contains(t, logs, `"msg":"request refused: not authenticated","listener":"query api"`)
	assert.Contains(t, logs, `"msg":"request refused: not authenticated","listener":"webhook test"`)
	assert.NotContains(t, logs, "wrong-guess", "a presented token is never logged")
	assert.NotContains(t, logs, "api-s3cret")
}

func apiGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
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

func ledgerEntriesAuth(t *testing.T, a *agentProc, token string) int {
	t.Helper()
	code, body := apiGet(t, a.api+"/metrics", "Bearer "+token)
	require.Equal(t, 200, code)
	m := regexp.MustCompile(`(?m)^kt_ledger_entries (\d+)`).FindStringSubmatch(body)
	require.NotNil(t, m)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// TestIntegrationListenerExposure: a listener other hosts can reach needs
// authentication, or an explicit allow_unauthenticated.
func TestIntegrationListenerExposure(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
		return p
	}
	open := write("open.hcl", `source "webhook" "w" {
  listen = "0.0.0.0:8780"
}
query_api {
  listen = ":8781"
}
`)
	code, _, stderr := runKT(t, "config", "validate", open)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, open+":2:12: error: Listener exposed without authentication")
	assert.Contains(t, stderr, open+":5:12: error: Listener exposed without authentication")
	assert.Contains(t, stderr, "allow_unauthenticated = true")

	said := write("said.hcl", `source "webhook" "w" {
  listen = "0.0.0.0:8780"
  allow_unauthenticated = true
}
query_api {
  listen = ":8781"
  allow_unauthenticated = true
}
`)
	code, out, stderr := runKT(t, "config", "validate", said)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "valid")

	for _, f := range []string{"../configs/default.hcl", "../packaging/kt.hcl"} {
		code, _, stderr = runKT(t, "config", "validate", f)
		assert.Equal(t, 0, code, "%s: %s", f, stderr)
	}
}

// TestIntegrationListenerTLS runs both listeners with mutual TLS and
// makes real handshakes; it also checks that bad key material is
// refused at validation with file:line:col.
func TestIntegrationListenerTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	stranger := certtest.NewCA(t, dir, "stranger-ca")
	cert, key := ca.Server(t, dir, "server")
	_, otherKey := ca.Server(t, dir, "other")
	tlsBlock := fmt.Sprintf("tls {\n    cert_file = %q\n    key_file = %q\n    client_ca_file = %q\n  }", cert, key, ca.File)

	bad := filepath.Join(dir, "bad.hcl")
	require.NoError(t, os.WriteFile(bad, []byte(fmt.Sprintf(`source "webhook" "w" {
  listen = "0.0.0.0:8780"
  tls {
    cert_file = %q
    key_file  = %q
  }
}
`, cert, otherKey)), 0o600))
	code, _, stderr := runKT(t, "config", "validate", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, bad+":5:17: error: Invalid tls file")
	assert.Contains(t, stderr, "does not go with")

	dataDir := t.TempDir()
	a := startAgent(t, listenerConfig(t, dataDir, tlsBlock, tlsBlock))
	webhook := strings.Replace(a.webhook, "http://", "https://", 1)
	api := strings.Replace(a.api, "http://", "https://", 1)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}}}
	}
	good := client(ca.ClientCert(t, dir, "producer"))
	cases := []struct {
		name   string
		client *http.Client
		ok     bool
	}{
		{"no client certificate", client(), false},
		{"certificate of another CA", client(stranger.ClientCert(t, dir, "intruder")), false},
		{"good certificate", good, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Post(webhook, "application/json", strings.NewReader(lnEvent(fmt.Sprintf("tls-%d", i))))
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusAccepted, resp.StatusCode)

			resp, err = tc.client.Get(api + "/metrics")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
	_, err := client().Get(api + "/metrics")
	assert.Error(t, err, "the query API wants a client certificate too")
	a.Stop()
	assert.Contains(t, a.Logs(), "TLS handshake")
}

// TestIntegrationListenerHostile attacks the webhook: bodies announced
// too large, slow bodies, silent connections. Each is cut without the
// agent reading what it does not need, and a good request still goes in.
func TestIntegrationListenerHostile(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, `read_timeout = "2s"
  write_timeout = "4s"
  read_header_timeout = "1s"`))
	addr := strings.TrimSuffix(strings.TrimPrefix(a.webhook, "http://"), "/v1/events")

	// 20 requests at once announce 50 MB bodies; none is sent, each is
	// answered 413 and its connection closed.
	var wg sync.WaitGroup
	statuses := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(15 * time.Second)) // a failure detector only
			_, err = io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: kt\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n")
			if !assert.NoError(t, err) {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if !assert.NoError(t, err, "answered before the body") {
				return
			}
			resp.Body.Close()
			statuses <- resp.Status
		})
	}
	wg.Wait()
	close(statuses)
	n := 0
	for s := range statuses {
		assert.Equal(t, "413 Request Entity Too Large", s)
		n++
	}
	assert.Equal(t, 20, n)

	// 200 slow bodies and 50 connections that never send a header are
	// closed by the server within the read timeouts.
	var closed, open sync.WaitGroup
	var mu sync.Mutex
	var notClosed []error
	for i := range 250 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		if i < 200 {
			_, err = io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: kt\r\nContent-Length: 100000\r\n\r\n{\"id\":")
			require.NoError(t, err)
		}
		open.Add(1)
		closed.Go(func() {
			open.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a failure detector only
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				notClosed = append(notClosed, err)
				mu.Unlock()
			}
		})
	}
	open.Wait()
	closed.Wait()
	assert.Empty(t, notClosed, "every slow connection is closed by the agent")

	r, err := post(context.Background(), a.webhook, []byte(lnEvent("after-the-attack")), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, r.Code, r.Body)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid)); err == nil {
		if m := regexp.MustCompile(`VmHWM:\s+(\d+ kB)`).FindSubmatch(b); m != nil {
			t.Logf("agent peak RSS (VmHWM) after the attack: %s", m[1])
		}
	}
	a.Stop()
}
