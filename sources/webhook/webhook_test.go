package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

func TestSplit(t *testing.T) {
	src := pipeline.Source{Kind: "webhook", Name: "w"}
	bom := "\xEF\xBB\xBF"
	cases := []struct {
		name  string
		body  string
		lines []int
		data  []string
	}{
		{"one object", `{"a":1}`, []int{1}, []string{`{"a":1}`}},
		{"pretty object", "{\n  \"a\": 1,\n  \"b\": 2\n}\n", []int{1}, []string{"{\n  \"a\": 1,\n  \"b\": 2\n}"}},
		{"array", `[{"a":1}, {"b":2}]`, []int{1, 2}, []string{`{"a":1}`, `{"b":2}`}},
		{"ndjson with blank lines", "{\"a\":1}\n\n{\"b\":2}\r\n", []int{1, 3}, []string{`{"a":1}`, `{"b":2}`}},
		{"ndjson keeps bad lines for the pipeline to name", "{\"a\":1}\nnot json\n", []int{1, 2}, []string{`{"a":1}`, `not json`}},
		{"ndjson lines with a byte order mark", bom + "{\"a\":1}\n" + bom + "{\"b\":2}\r\n", []int{1, 2}, []string{`{"a":1}`, `{"b":2}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raws, errs := split([]byte(tc.body), src, "")
			require.Empty(t, errs)
			require.Len(t, raws, len(tc.lines))
			for i, r := range raws {
				assert.Equal(t, tc.lines[i], r.Line)
				assert.Equal(t, tc.data[i], string(r.Data))
				assert.Empty(t, r.FallbackID)
			}
		})
	}
	raws, _ := split([]byte("{\"a\":1}\n{\"b\":2}"), src, "msg_1")
	assert.Equal(t, "msg_1:0", raws[0].FallbackID)
	assert.Equal(t, "msg_1:1", raws[1].FallbackID)

	_, errs := split([]byte(`[{"a":1}, {"b":`), src, "")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error, "invalid JSON")
}

// scripted is an Emitter that answers with a fixed error (or, with dedupe,
// like the ledger: an event id seen before is a duplicate) and records
// what it was given.
type scripted struct {
	mu     sync.Mutex
	err    error
	block  bool // wait for the context to end
	dedupe bool
	seen   map[string]bool
	got    [][]sources.Raw
}

func (f *scripted) Emit(ctx context.Context, b []sources.Raw) (sources.Result, error) {
	f.mu.Lock()
	f.got = append(f.got, b)
	block, err := f.block, f.err
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return sources.Result{}, ctx.Err()
	}
	if err != nil {
		return sources.Result{}, err
	}
	if !f.dedupe {
		return sources.Result{Accepted: len(b), FirstSeq: 5, LastSeq: 5 + uint64(len(b)) - 1}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	var res sources.Result
	for _, r := range b {
		id := r.FallbackID
		var ev struct{ ID string }
		if json.Unmarshal(r.Data, &ev) == nil && ev.ID != "" {
			id = ev.ID
		}
		if id != "" && f.seen[id] {
			res.Duplicates++
			continue
		}
		f.seen[id] = true
		res.Accepted++
	}
	return res, nil
}

func (f *scripted) fallbackIDs(call int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.got[call] {
		out = append(out, r.FallbackID)
	}
	return out
}

// run starts a webhook on 127.0.0.1:0 until the test ends.
func run(t *testing.T, cfg Config, em sources.Emitter, log *slog.Logger) *Source {
	t.Helper()
	cfg.Name, cfg.Listen = "w", "127.0.0.1:0"
	s, err := New(cfg, em, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

type answer struct {
	code int
	hdr  http.Header
	body string
	json struct {
		Accepted   int           `json:"accepted"`
		Duplicates int           `json:"duplicates"`
		Error      string        `json:"error"`
		Errors     []recordError `json:"errors"`
	}
}

func send(t *testing.T, s *Source, body io.Reader, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/v1/events", body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{code: resp.StatusCode, hdr: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.json)
	return a
}

// TestAnswers checks the one place that maps what the emitter did to the
// HTTP answer: only what can succeed later is told to retry.
func TestAnswers(t *testing.T) {
	fieldErr := func(line int, field string) sources.RecordError {
		return sources.RecordError{Index: line - 1, Line: line, Field: field, Err: &pipeline.FieldError{Field: field, Reason: "too long"}}
	}
	cases := []struct {
		name       string
		err        error
		code       int
		retryAfter string
		class      int
		mentions   []string
		refused    uint64
	}{
		{"accepted", nil, 202, "", Accepted, []string{`"accepted":2`}, 0},
		{"records that can never be accepted", sources.RecordErrors{fieldErr(1, "id"), fieldErr(2, "actor")}, 400, "", BadRequest,
			[]string{`{"line":1,"field":"id"`, `{"line":2,"field":"actor"`, "can never be accepted"}, 2},
		{"conflict with the ledger", &sources.ConflictError{Line: 2, ID: "e1", Seq: 7}, 409, "", Conflict, []string{`event id \"e1\" is already in the ledger at seq 7`}, 2},
		{"conflict inside the batch", &sources.ConflictError{Line: 2, ID: "e1", EarlierLine: 1}, 409, "", Conflict, []string{`line 2: event id \"e1\" is also on line 1 of the same batch`}, 2},
		{"busy", fmt.Errorf("%w: full", sources.ErrBusy), 503, "1", Busy, []string{"retry later"}, 0},
		{"ledger closed", fmt.Errorf("%w: %v", sources.ErrUnavailable, "queue: closed"), 503, "5", Busy, []string{"kt is stopping or restarting"}, 0},
		{"ledger broken", fmt.Errorf("%w: queue: fsync failed: input/output error", sources.ErrUnavailable), 503, "5", Busy, []string{"kt is stopping or restarting"}, 0},
		{"internal", fmt.Errorf("disk on fire"), 500, "", Failed, []string{"internal error, nothing acknowledged"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			em := &scripted{err: tc.err}
			s := run(t, NewDefaultConfig(), em, nil)
			a := send(t, s, strings.NewReader("{\"a\":1}\n{\"b\":2}"), nil)
			assert.Equal(t, tc.code, a.code, a.body)
			assert.Equal(t, tc.retryAfter, a.hdr.Get("Retry-After"))
			for _, m := range tc.mentions {
				assert.Contains(t, a.body, m)
			}
			assert.NotContains(t, a.body, "disk on fire", "internal errors are not echoed")
			require.Len(t, em.got, 1)
			assert.Len(t, em.got[0], 2)
			assert.Equal(t, uint64(1), s.Count(tc.class))
			st := s.Stats()
			assert.Equal(t, tc.refused, st.Refused)
			if tc.err == nil {
				assert.Equal(t, uint64(2), st.Accepted)
			}
			assert.Zero(t, st.Backlog)

			resp, err := http.Get("http://" + s.Addr() + "/v1/events")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		})
	}
}

// TestAnswerNotDurableInTime: a request whose events are not durable
// before write_timeout is answered 503 (retry later) rather than left
// without an answer.
func TestAnswerNotDurableInTime(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.ReadTimeout, cfg.WriteTimeout = 500*time.Millisecond, time.Second
	em := &scripted{block: true}
	s := run(t, cfg, em, nil)
	a := send(t, s, strings.NewReader(`{"a":1}`), nil)
	assert.Equal(t, http.StatusServiceUnavailable, a.code, a.body)
	assert.Equal(t, "1", a.hdr.Get("Retry-After"))
	assert.Contains(t, a.body, "not durable within write_timeout")
}

func TestStats(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.MaxBodyBytes = 4096
	em := &scripted{dedupe: true}
	s := run(t, cfg, em, nil)
	assert.True(t, s.Stats().LastProgress.IsZero())
	ev := func(id string) string { return `{"id":"` + id + `"}` }
	assert.Equal(t, 202, send(t, s, strings.NewReader(ev("a")+"\n"+ev("b")+"\n"+ev("c")), nil).code)
	assert.Equal(t, 202, send(t, s, strings.NewReader(ev("a")+"\n"+ev("d")), nil).code)
	assert.Equal(t, 413, send(t, s, strings.NewReader(strings.Repeat("x", 5000)), nil).code)
	assert.Equal(t, 400, send(t, s, strings.NewReader(`[{"a":1},`), nil).code)
	st := s.Stats()
	assert.Equal(t, uint64(4), st.Accepted, "events, not requests")
	assert.Equal(t, uint64(1), st.Duplicates)
	assert.Equal(t, uint64(2), st.Refused)
	assert.False(t, st.LastProgress.IsZero())
	assert.Equal(t, uint64(2), s.Count(Accepted), "Count still counts requests")
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return out.Bytes()
}

func TestBodies(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.MaxBodyBytes = 1 << 20
	bom := "\xEF\xBB\xBF"
	ndjson := []byte("{\"id\":\"a\"}\n{\"id\":\"b\"}\n")
	gz := map[string]string{"Content-Encoding": "gzip"}
	cases := []struct {
		name    string
		body    []byte
		hdr     map[string]string
		code    int
		class   int
		mention string
		records int
	}{
		{"gzip", gzipped(t, ndjson), gz, 202, Accepted, "", 2},
		{"gzip with a byte order mark", gzipped(t, []byte(bom+string(ndjson))), gz, 202, Accepted, "", 2},
		{"byte order mark", []byte(bom + `{"id":"a"}`), nil, 202, Accepted, "", 1},
		{"byte order mark before an array", []byte(bom + `[{"id":"a"},{"id":"b"}]`), nil, 202, Accepted, "", 2},
		{"zip bomb", gzipped(t, make([]byte, 64<<20)), gz, 413, TooLarge, "max_body_bytes", 0},
		{"over the limit by Content-Length", make([]byte, 2<<20), nil, 413, TooLarge, "Content-Length", 0},
		{"not gzip", ndjson, gz, 400, BadRequest, "not valid gzip", 0},
		{"brotli", ndjson, map[string]string{"Content-Encoding": "br"}, 415, Unsupported, `Content-Encoding \"br\" is not supported`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			em := &scripted{}
			s := run(t, cfg, em, nil)
			a := send(t, s, bytes.NewReader(tc.body), tc.hdr)
			assert.Equal(t, tc.code, a.code, a.body)
			assert.Contains(t, a.body, tc.mention)
			assert.Equal(t, uint64(1), s.Count(tc.class))
			if tc.records == 0 {
				assert.Empty(t, em.got)
				assert.Equal(t, uint64(1), s.Stats().Refused)
				return
			}
			require.Len(t, em.got, 1)
			assert.Len(t, em.got[0], tc.records)
			assert.Equal(t, `{"id":"a"}`, string(em.got[0][0].Data))
		})
	}
}

func TestAuth(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	cfg := NewDefaultConfig()
	cfg.Token = "s3cret-token"
	s := run(t, cfg, &scripted{}, log)
	cases := []struct {
		auth string
		code int
	}{
		{"Bearer s3cret-token", 202},
		{"bearer s3cret-token", 202},
		{"BEARER s3cret-token", 202},
		{"Bearer wrong-token", 401},
		{"Basic s3cret-token", 401},
		{"", 401},
	}
	for _, tc := range cases {
		a := send(t, s, strings.NewReader(`{"id":"a"}`), map[string]string{"Authorization": tc.auth})
		assert.Equal(t, tc.code, a.code, "%q: %s", tc.auth, a.body)
	}
	assert.Equal(t, uint64(3), s.Count(Unauthorized))
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	assert.Contains(t, out, `"msg":"request refused: not authenticated","listener":"webhook w","remote":"127.0.0.1:`)
	assert.Contains(t, out, `"reason":"missing or wrong bearer token"`)
	assert.NotContains(t, out, "wrong-token", "the presented token is never logged")
	assert.Equal(t, 1, strings.Count(out, "request refused"), "at most one line a second")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestReplay sends captured signed requests again, as they were and with
// their unsigned headers changed: a replay never makes a new event.
func TestReplay(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	cfg := NewDefaultConfig()
	cfg.HMACSecret = secret
	body := []byte("{\"action\":\"auth.login\",\"actor\":\"bob\"}\n{\"action\":\"auth.logout\",\"actor\":\"bob\"}")

	t.Run("github", func(t *testing.T) {
		em := &scripted{dedupe: true}
		s := run(t, cfg, em, nil)
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		captured := map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil)), "X-GitHub-Delivery": "d-1"}
		a := send(t, s, bytes.NewReader(body), captured)
		require.Equal(t, 202, a.code, a.body)
		assert.Equal(t, 2, a.json.Accepted)
		sum := sha256.Sum256(body)
		base := "gh-" + hex.EncodeToString(sum[:])[:32]
		assert.Equal(t, []string{base + ":0", base + ":1"}, em.fallbackIDs(0))
		for i, changed := range []map[string]string{
			{},
			{"X-GitHub-Delivery": "d-2"},
			{"X-GitHub-Delivery": "d-3", "Idempotency-Key": "k-1", "webhook-id": "msg_x"},
		} {
			hdr := map[string]string{}
			for k, v := range captured {
				hdr[k] = v
			}
			for k, v := range changed {
				hdr[k] = v
			}
			a := send(t, s, bytes.NewReader(body), hdr)
			require.Equal(t, 202, a.code, a.body)
			assert.Equal(t, 0, a.json.Accepted, "replay %d", i)
			assert.Equal(t, 2, a.json.Duplicates, "replay %d", i)
			assert.Equal(t, []string{base + ":0", base + ":1"}, em.fallbackIDs(i+1))
		}
	})

	t.Run("standard webhooks", func(t *testing.T) {
		em := &scripted{dedupe: true}
		s := run(t, cfg, em, nil)
		now := time.Now()
		s.now = func() time.Time { return now }
		ts := strconv.FormatInt(now.Unix(), 10)
		m := hmac.New(sha256.New, secret)
		fmt.Fprintf(m, "msg_1.%s.%s", ts, body)
		captured := map[string]string{"webhook-id": "msg_1", "webhook-timestamp": ts, "webhook-signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}
		a := send(t, s, bytes.NewReader(body), captured)
		require.Equal(t, 202, a.code, a.body)
		assert.Equal(t, 2, a.json.Accepted)
		// Replayed inside the window, as captured or with an unsigned
		// Idempotency-Key added: duplicates.
		now = now.Add(4 * time.Minute)
		for _, extra := range []map[string]string{{}, {"Idempotency-Key": "other"}} {
			hdr := map[string]string{}
			for k, v := range captured {
				hdr[k] = v
			}
			for k, v := range extra {
				hdr[k] = v
			}
			a = send(t, s, bytes.NewReader(body), hdr)
			require.Equal(t, 202, a.code, a.body)
			assert.Equal(t, 0, a.json.Accepted)
			assert.Equal(t, 2, a.json.Duplicates)
		}
		// Changing the signed webhook-id breaks the signature.
		hdr := map[string]string{}
		for k, v := range captured {
			hdr[k] = v
		}
		hdr["webhook-id"] = "msg_2"
		assert.Equal(t, 401, send(t, s, bytes.NewReader(body), hdr).code)
		// Replayed outside the window: refused.
		now = now.Add(2 * time.Minute)
		a = send(t, s, bytes.NewReader(body), captured)
		assert.Equal(t, 401, a.code)
		assert.Contains(t, a.body, "outside the replay window")
		assert.Len(t, em.got, 3, "nothing refused reached the ledger")
	})
}

// TestIDHeaderBounded: a header that would become part of event ids is
// bounded, and one too long is refused for good (400 naming it).
func TestIDHeaderBounded(t *testing.T) {
	em := &scripted{}
	s := run(t, NewDefaultConfig(), em, nil)
	for _, h := range []string{"webhook-id", "Idempotency-Key"} {
		a := send(t, s, strings.NewReader(`{"a":1}`), map[string]string{h: strings.Repeat("k", 60<<10)})
		assert.Equal(t, http.StatusBadRequest, a.code, a.body)
		assert.Contains(t, a.body, "header "+h+" is 61440 bytes")
	}
	a := send(t, s, strings.NewReader(`{"a":1}`), map[string]string{"Idempotency-Key": strings.Repeat("k", MaxIDHeaderBytes)})
	assert.Equal(t, http.StatusAccepted, a.code, a.body)
	require.Len(t, em.got, 1)
	assert.Equal(t, strings.Repeat("k", MaxIDHeaderBytes)+":0", em.got[0][0].FallbackID)
}

// TestSignedBodyWithBOM: the signature is checked over the body as the
// producer sent it, byte order mark included; the mark is then dropped.
func TestSignedBodyWithBOM(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	cfg := NewDefaultConfig()
	cfg.HMACSecret = secret
	em := &scripted{}
	s := run(t, cfg, em, nil)
	body := []byte("\xEF\xBB\xBF{\"id\":\"a\"}")
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	a := send(t, s, bytes.NewReader(body), map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil))})
	require.Equal(t, 202, a.code, a.body)
	require.Len(t, em.got, 1)
	assert.Equal(t, `{"id":"a"}`, string(em.got[0][0].Data))
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":2}]`, "{\"a\":1}\n\xEF\xBB\xBF{\"b\":2}\n", "[1,", "\n\n", "\xEF\xBB\xBF"} {
		f.Add([]byte(s))
	}
	src := pipeline.Source{Kind: "webhook", Name: "w"}
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, errs := split(body, src, "base")
		if len(errs) > 0 {
			require.Empty(t, raws)
			return
		}
		prev := 0
		for i, r := range raws {
			require.Greater(t, r.Line, prev, "lines increase")
			prev = r.Line
			require.NotEmpty(t, r.Data)
			require.Equal(t, "base:"+strconv.Itoa(i), r.FallbackID)
		}
	})
}
