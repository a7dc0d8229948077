package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/listener/certtest"
)

// start runs a Server for h on 127.0.0.1:0 until the test ends.
func start(t *testing.T, cfg Config, h http.Handler, log *slog.Logger) *Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, h, Options{Name: "test", Logger: log, ShutdownTimeout: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// echo answers 200 with the number of body bytes it read, or the
// answer BodyError gives.
func echo(s **Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(r)
		if err != nil {
			code, msg := (*s).BodyError(err)
			http.Error(w, msg, code)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	})
}

// rawRequest writes head (and no body) on a new connection and returns
// the answer's status line and whether the server then closed the
// connection.
func rawRequest(t *testing.T, addr, head string) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	// A failure detector only: without the fix the server waits for the
	// body and this read fails.
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, head)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer before the body was sent")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.Status, errors.Is(err, io.EOF)
}

func TestContentLengthRefusedBeforeReading(t *testing.T) {
	var reached atomic.Bool
	s := start(t, Config{MaxBodyBytes: 1 << 20}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(true)
	}), nil)
	for _, expect := range []string{"", "Expect: 100-continue\r\n"} {
		// Headers only: the 50 MB body is never sent.
		status, closed := rawRequest(t, s.Addr(), "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n"+expect+"\r\n")
		assert.Equal(t, "413 Request Entity Too Large", status)
		assert.True(t, closed, "the connection is closed after a 413")
	}
	assert.False(t, reached.Load(), "the handler never runs")
	assert.Zero(t, s.Budget().Peak(), "nothing was reserved")

	status, closed := rawRequest(t, s.Addr(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Encoding: br\r\n\r\n0123456789")
	assert.Equal(t, "415 Unsupported Media Type", status)
	assert.True(t, closed)
}

func post(t *testing.T, url string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return out.Bytes()
}

// onlyReader hides a reader's other methods, so the client sends it
// chunked.
type onlyReader struct{ io.Reader }

func TestBodies(t *testing.T) {
	var s *Server
	s = start(t, Config{MaxBodyBytes: 1 << 20}, echo(&s), nil)
	url := "http://" + s.Addr() + "/"
	small := bytes.Repeat([]byte("a"), 1000)
	cases := []struct {
		name string
		body io.Reader
		hdr  map[string]string
		code int
		want string
	}{
		{"plain", bytes.NewReader(small), nil, 200, "1000"},
		{"chunked", onlyReader{bytes.NewReader(small)}, nil, 200, "1000"},
		{"gzip", bytes.NewReader(gz(t, small)), map[string]string{"Content-Encoding": "gzip"}, 200, "1000"},
		{"gzip chunked", onlyReader{bytes.NewReader(gz(t, small))}, map[string]string{"Content-Encoding": "GZIP"}, 200, "1000"},
		{"identity", bytes.NewReader(small), map[string]string{"Content-Encoding": "identity"}, 200, "1000"},
		{"chunked over the limit", onlyReader{bytes.NewReader(make([]byte, 2<<20))}, nil, 413, "max_body_bytes (1048576 bytes"},
		{"zip bomb", bytes.NewReader(gz(t, make([]byte, 64<<20))), map[string]string{"Content-Encoding": "gzip"}, 413, "once decompressed"},
		{"not gzip", strings.NewReader("plain text"), map[string]string{"Content-Encoding": "gzip"}, 400, "not valid gzip"},
		{"truncated gzip", bytes.NewReader(gz(t, small)[:20]), map[string]string{"Content-Encoding": "gzip"}, 400, "not valid gzip"},
		{"brotli", bytes.NewReader(small), map[string]string{"Content-Encoding": "br"}, 415, `Content-Encoding "br" is not supported`},
		{"two codings", bytes.NewReader(small), map[string]string{"Content-Encoding": "gzip, gzip"}, 415, `"gzip, gzip"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, url, tc.body, tc.hdr)
			assert.Equal(t, tc.code, code, body)
			assert.Contains(t, body, tc.want)
		})
	}
	assert.LessOrEqual(t, s.Budget().Peak(), int64(1<<20))
	assert.Zero(t, s.Budget().InUse(), "every reservation is given back")
}

// TestInflightBudget holds requests in their handler and checks, on the
// budget's own accounting, that no more than max_inflight_bytes of bodies
// are in flight at once and that the requests over it get 503 +
// Retry-After without being read.
func TestInflightBudget(t *testing.T) {
	release := make(chan struct{})
	var entered atomic.Int32
	var s *Server
	s = start(t, Config{MaxBodyBytes: 512 << 10, MaxInflightBytes: 1 << 20, InflightWait: 50 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := ReadBody(r)
			if err != nil {
				code, msg := s.BodyError(err)
				http.Error(w, msg, code)
				return
			}
			entered.Add(1)
			<-release
			fmt.Fprintf(w, "%d", len(b))
		}), nil)
	url := "http://" + s.Addr() + "/"

	type answer struct {
		code       int
		retryAfter string
	}
	const n = 6
	answers := make(chan answer, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(make([]byte, 400<<10)))
			if !assert.NoError(t, err) {
				answers <- answer{}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
		})
	}
	// 400 KiB each: two fit in 1 MiB; the other four cannot get their
	// share while the two are held, and are answered 503.
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	var busy int
	for busy < n-2 {
		var a answer
		select {
		case a = <-answers:
		case <-time.After(10 * time.Second): // a failure detector only
			t.Fatalf("%d requests entered the handler; the ones over max_inflight_bytes were not refused", entered.Load())
		}
		require.Equal(t, http.StatusServiceUnavailable, a.code)
		assert.Equal(t, "1", a.retryAfter)
		busy++
	}
	assert.Equal(t, int32(2), entered.Load())
	assert.Equal(t, int64(800<<10), s.Budget().InUse())
	unblock()
	wg.Wait()
	close(answers)
	for a := range answers {
		assert.Equal(t, http.StatusOK, a.code)
	}
	assert.LessOrEqual(t, s.Budget().Peak(), s.Budget().Max())
	assert.Zero(t, s.Budget().InUse())
}

// TestInflightBudgetChunked: a chunked body grows its reservation as it
// is read, and is refused 503 when the budget has no more room.
func TestInflightBudgetChunked(t *testing.T) {
	hold := make(chan struct{})
	var s *Server
	s = start(t, Config{MaxBodyBytes: 1 << 20, MaxInflightBytes: 1 << 20, InflightWait: 50 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := ReadBody(r)
			if err != nil {
				code, msg := s.BodyError(err)
				http.Error(w, msg, code)
				return
			}
			if r.URL.Path == "/hold" {
				<-hold
			}
			fmt.Fprintf(w, "%d", len(b))
		}), nil)
	base := "http://" + s.Addr()
	// A 700 KiB body with Content-Length is held in its handler.
	done := make(chan int)
	go func() {
		code, _ := post(t, base+"/hold", bytes.NewReader(make([]byte, 700<<10)), nil)
		done <- code
	}()
	require.Eventually(t, func() bool { return s.Budget().InUse() == 700<<10 }, 10*time.Second, time.Millisecond)
	// A chunked 600 KiB body cannot get its share of what is left.
	code, body := post(t, base+"/", onlyReader{bytes.NewReader(make([]byte, 600<<10))}, nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, body, "max_inflight_bytes")
	// A small chunked one fits.
	code, body = post(t, base+"/", onlyReader{bytes.NewReader(make([]byte, 100<<10))}, nil)
	assert.Equal(t, http.StatusOK, code, body)
	close(hold)
	assert.Equal(t, http.StatusOK, <-done)
	assert.LessOrEqual(t, s.Budget().Peak(), s.Budget().Max())
	assert.Zero(t, s.Budget().InUse())
}

func TestReadTimeout(t *testing.T) {
	got := make(chan error, 1)
	var s *Server
	s = start(t, Config{ReadTimeout: 300 * time.Millisecond, WriteTimeout: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := ReadBody(r)
		got <- err
		if err != nil {
			code, msg := s.BodyError(err)
			http.Error(w, msg, code)
		}
	}), nil)
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	// A failure detector only: the server must close first.
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	require.NoError(t, err)
	var rerr error
	select {
	case rerr = <-got:
	case <-time.After(10 * time.Second): // a failure detector only
		t.Fatal("the slow body was not cut by read_timeout")
	}
	require.Error(t, rerr)
	assert.ErrorIs(t, rerr, os.ErrDeadlineExceeded)
	code, msg := s.BodyError(rerr)
	assert.Equal(t, http.StatusRequestTimeout, code)
	assert.Contains(t, msg, "read_timeout")
	_, err = io.Copy(io.Discard, c)
	assert.NoError(t, err, "the server closed the slow connection")
}

func TestHeaderLimit(t *testing.T) {
	var s *Server
	s = start(t, Config{MaxHeaderBytes: 4096}, echo(&s), nil)
	status, _ := rawRequest(t, s.Addr(), "POST / HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("p", 16<<10)+"\r\nContent-Length: 0\r\n\r\n")
	assert.Equal(t, "431 Request Header Fields Too Large", status)
}

// TestMaxConnections holds max_connections keep-alive connections open
// and checks that one more is not served until one of them closes, and
// that no more were ever open at once.
func TestMaxConnections(t *testing.T) {
	const limit = 3
	var s *Server
	s = start(t, Config{MaxConnections: limit}, echo(&s), nil)
	addr := s.Addr()
	var held []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr) // the kernel queues it
	require.NoError(t, err)
	defer extra.Close()
	_, err = io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	answered := make(chan error, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a connection over max_connections was served while %d were open (err %v)", limit, err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	require.NoError(t, <-answered, "served once a connection closed")
	_, peak := s.Conns()
	assert.LessOrEqual(t, peak, int64(limit))
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	other := certtest.NewCA(t, dir, "other-ca")
	cert, key := ca.Server(t, dir, "server")
	mtls, err := LoadTLS(cert, key, ca.File, 0)
	require.NoError(t, err)
	var logs bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	var s *Server
	s = start(t, Config{TLS: mtls}, echo(&s), lg)
	url := "https://" + s.Addr() + "/"
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}}}
	}
	cases := []struct {
		name   string
		client *http.Client
		ok     bool
	}{
		{"no client certificate", client(), false},
		{"certificate of another CA", client(other.ClientCert(t, dir, "stranger")), false},
		{"good certificate", client(ca.ClientCert(t, dir, "producer")), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Post(url, "text/plain", strings.NewReader("hello"))
			if !tc.ok {
				require.Error(t, err, "the handshake must fail")
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "5", string(b))
		})
	}
	// A plain-HTTP client gets no service either.
	resp, err := http.Get("http://" + s.Addr() + "/")
	if err == nil {
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		resp.Body.Close()
	}
	// TLS 1.1 is refused.
	_, err = tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11})
	assert.Error(t, err)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "TLS handshake")
	}, 10*time.Second, 10*time.Millisecond, "a refused handshake is logged")
	mu.Lock()
	assert.Contains(t, logs.String(), "request refused: not authenticated")
	mu.Unlock()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBearerOK(t *testing.T) {
	cases := map[string]bool{
		"Bearer s3cret":   true,
		"bearer s3cret":   true,
		"BEARER s3cret":   true,
		"Bearer  s3cret ": true,
		"Bearer wrong":    false,
		"Basic s3cret":    false,
		"Bearers3cret":    false,
		"s3cret":          false,
		"":                false,
	}
	for h, want := range cases {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		assert.Equal(t, want, BearerOK(r, "s3cret"), "%q", h)
	}
}

func TestDeniedRateLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	l := &rateLog{log: slog.New(slog.NewJSONHandler(&buf, nil)), name: "webhook w", now: func() time.Time { return now }}
	for range 5 {
		l.denied("10.0.0.1:5555", "missing or wrong bearer token")
	}
	now = now.Add(300 * time.Millisecond)
	l.denied("10.0.0.2:5555", "missing or wrong bearer token")
	now = now.Add(time.Second)
	l.denied("10.0.0.3:5555", "webhook-signature does not match the body")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, buf.String())
	assert.Contains(t, lines[0], `"listener":"webhook w","remote":"10.0.0.1:5555","reason":"missing or wrong bearer token","suppressed":0`)
	assert.Contains(t, lines[1], `"remote":"10.0.0.3:5555","reason":"webhook-signature does not match the body","suppressed":5`)
	assert.Contains(t, lines[1], `"level":"WARN"`)
}
