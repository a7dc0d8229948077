package splunkhec

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/jsonenc"
	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
	"github.com/keeptrusts/kt/sinks/splunkhec/hectest"
)

// newTestLedger returns the records of a ledger of n entries (the genesis
// entry included) followed by the checkpoint record that covers them.
// Entries are about 1.2 KB, like the control plane's audit events with
// their ledger fields.
func newTestLedger(tb testing.TB, n int) sinktest.Records { return sinktest.NewRecords(tb, n, nil) }

// verifyEvents checks what HEC holds the way `kt verify` checks NDJSON
// exported from a SIEM: no finding but warnings.
func verifyEvents(t *testing.T, l sinktest.Records, events []hectest.Event) {
	t.Helper()
	lines := make([][]byte, len(events))
	for i, ev := range events {
		lines[i] = ev.Event
	}
	sinktest.Verify(t, l.Keys, lines)
}

// receiver is the conformance suite's adapter: a hectest server, failing
// with 503 code 9 "Server is busy", refusing events by kt_id; with ack,
// the token and the sink have indexer acknowledgement on.
type receiver struct {
	srv *hectest.Server
	ack bool
}

func (r receiver) Spec(t *testing.T) sinks.Spec {
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	c.Endpoint, c.Token = r.srv.URL(), r.srv.Token
	c.Ack, c.AckPollInterval, c.AckTimeout = r.ack, 5*time.Millisecond, 10*time.Second
	return sinks.SpecOf(c, c.Delivery, New)
}

func (r receiver) Stored(*testing.T) [][]byte {
	var lines [][]byte
	for _, ev := range r.srv.Events() {
		lines = append(lines, ev.Event)
	}
	return lines
}

func (r receiver) FailNext(n int)              { r.srv.FailNext(n, hectest.ServerBusy) }
func (r receiver) RefuseItems(ids ...string)   { r.srv.RefuseIDs(ids...) }
func (r receiver) RefuseBatches(ids ...string) { r.srv.RefuseRequestsWith(ids...) }

func TestConformance(t *testing.T) {
	for _, ack := range []bool{false, true} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Receiver {
				return receiver{hectest.New(t, hectest.Options{Ack: ack}), ack}
			})
		})
	}
}

func newTransport(t testing.TB, srv *hectest.Server, mod func(*Config)) *Transport {
	t.Helper()
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	c.Endpoint, c.Token = srv.URL(), srv.Token
	c.Host, c.Index = "cp-1", "audit"
	c.AckPollInterval, c.AckTimeout = 10*time.Millisecond, 2*time.Second
	if mod != nil {
		mod(&c)
	}
	return sinktest.NewTransport(t, New, c)
}

func epoch(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

func TestSend(t *testing.T) {
	l := newTestLedger(t, 40)
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			srv := hectest.New(t, hectest.Options{})
			tr := newTransport(t, srv, func(c *Config) { c.Gzip = gz })
			require.NoError(t, tr.Send(t.Context(), l.Recs))

			events := srv.Events()
			require.Len(t, events, len(l.Recs))
			for i, ev := range events {
				r := l.Recs[i]
				assert.Equal(t, epoch(r.EventTime()), ev.Time, "time: epoch seconds with milliseconds")
				assert.Regexp(t, `^\d{10}\.\d{3}$`, ev.Time)
				assert.Equal(t, "cp-1", ev.Host)
				assert.Equal(t, "kt", ev.Source)
				assert.Equal(t, "keeptrusts:audit", ev.Sourcetype)
				assert.Equal(t, "audit", ev.Index)
				assert.Equal(t, string(r.Line), string(ev.Event), "the record, verbatim")
				assert.Equal(t, r.ID, ev.ID())
				assert.Equal(t, fmt.Sprint(r.Seq), ev.Field("kt_seq"))
				assert.Equal(t, r.Kind.String(), ev.Field("kt_record"))
				assert.Len(t, ev.Fields, 3)
			}
			assert.Equal(t, "checkpoint", events[len(events)-1].Field("kt_record"))
			verifyEvents(t, l, events)

			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			req := reqs[0]
			assert.Equal(t, "/services/collector/event", req.Path)
			assert.Equal(t, "Splunk "+srv.Token, req.Header.Get("Authorization"))
			assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
			assert.Empty(t, req.Header.Get("X-Splunk-Request-Channel"), "no channel without ack")
			if gz {
				assert.Equal(t, "gzip", req.Header.Get("Content-Encoding"))
				assert.Less(t, req.WireBytes, len(req.Body)/2)
			} else {
				assert.Empty(t, req.Header.Get("Content-Encoding"))
				assert.Equal(t, req.WireBytes, len(req.Body))
			}
			// One envelope per line, no array, no commas between them.
			lines := bytes.Split(bytes.TrimSuffix(req.Body, []byte("\n")), []byte("\n"))
			require.Len(t, lines, len(l.Recs))
			for _, line := range lines {
				assert.True(t, json.Valid(line), "%s", line)
			}
		})
	}
}

func TestSendMetadata(t *testing.T) {
	l := newTestLedger(t, 3)
	srv := hectest.New(t, hectest.Options{})
	tr := newTransport(t, srv, func(c *Config) { c.Index, c.Source, c.Host, c.Sourcetype = "", "", "", "kt:x" })
	recs := slices.Clone(l.Recs[:2])
	// An unreadable time: now.
	recs[1].Line = bytes.Replace(recs[1].Line, []byte(`"time":"`), []byte(`"time":"x`), 1)
	recs[1].Time = time.Time{}
	require.True(t, recs[1].EventTime().IsZero())
	before := time.Now()
	require.NoError(t, tr.Send(t.Context(), recs))
	req := srv.Requests()[0]
	for line := range bytes.Lines(req.Body) {
		var env map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(line, &env))
		for _, key := range []string{"index", "host", "source"} {
			assert.NotContains(t, env, key, "an empty %s is left out", key)
		}
	}
	events := srv.Events()
	require.Len(t, events, 2)
	assert.Equal(t, "kt:x", events[0].Sourcetype)
	var ts float64
	_, err := fmt.Sscan(events[1].Time, &ts)
	require.NoError(t, err)
	assert.InDelta(t, float64(before.UnixMilli())/1000, ts, 5)
}

func TestWorkedExample(t *testing.T) {
	rec, key := sinktest.WorkedExample(t)
	c := NewDefaultConfig()
	c.Host, c.Index = "cp-1", "audit"
	got := appendEnvelope(nil, appendMeta(nil, c), rec, time.Now())
	assert.Equal(t, sinktest.DocExample(t, "splunkhec.go"), string(got), "the envelope of the package doc")

	// The event is the entry verbatim, still signed by the example key.
	var env struct{ Event json.RawMessage }
	require.NoError(t, json.Unmarshal(got, &env))
	sinktest.CheckSigned(t, env.Event, key)
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "evt_1", `a"b\c`, "tab\tnl\ncr\r\x01\x1f", "é✓😀", "bad\xffutf8", "<&>"} {
		got := jsonenc.AppendAnyString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%s", got)
		want := strings.ToValidUTF8(s, "\uFFFD")
		assert.Equal(t, want, back)
	}
}

func TestUnsendableLine(t *testing.T) {
	l := newTestLedger(t, 8)
	recs := append([]sinks.Record(nil), l.Recs[:8]...)
	recs[2].Line = []byte(`{"seq":2,"truncated`)
	recs[4].Line = []byte(`{"a":1}{"event":"injected"}`)
	srv := hectest.New(t, hectest.Options{})
	srv.RefuseIDs(recs[6].ID)
	tr := newTransport(t, srv, nil)

	err := tr.Send(t.Context(), recs)
	var items sinks.ItemErrors
	require.ErrorAs(t, err, &items)
	require.Len(t, items, 4)
	for i, want := range []struct {
		index     int
		permanent bool
	}{{2, true}, {4, true}, {6, true}, {7, false}} {
		assert.Equal(t, want.index, items[i].Index)
		assert.Equal(t, want.permanent, sinks.IsPermanent(items[i].Err), "%v", items[i].Err)
	}
	assert.Contains(t, items[0].Err.Error(), "not one JSON object")
	var ids []string
	for _, ev := range srv.Events() {
		ids = append(ids, ev.ID())
	}
	assert.Equal(t, []string{recs[0].ID, recs[1].ID, recs[3].ID, recs[5].ID}, ids)

	// Nothing sendable: no request.
	n := srv.RequestCount()
	err = tr.Send(t.Context(), recs[2:3])
	require.ErrorAs(t, err, &items)
	assert.True(t, sinks.IsPermanent(items[0].Err))
	assert.Equal(t, n, srv.RequestCount())
}

func TestPartialRefusal(t *testing.T) {
	l := newTestLedger(t, 10)
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			srv := hectest.New(t, hectest.Options{})
			srv.RefuseIDs(l.Recs[3].ID)
			tr := newTransport(t, srv, func(c *Config) { c.Gzip = gz })
			err := tr.Send(t.Context(), l.Recs[:8])
			var items sinks.ItemErrors
			require.ErrorAs(t, err, &items)
			require.Len(t, items, 5)
			assert.Equal(t, 3, items[0].Index)
			assert.True(t, sinks.IsPermanent(items[0].Err))
			assert.Contains(t, items[0].Err.Error(), `Splunk code 6 "Invalid data format"`)
			for i, it := range items[1:] {
				assert.Equal(t, 4+i, it.Index)
				assert.False(t, sinks.IsPermanent(it.Err))
			}
			assert.Len(t, srv.Events(), 3, "the events before the refused one are indexed")
		})
	}
}

func TestRetryAfter(t *testing.T) {
	l := newTestLedger(t, 3)
	srv := hectest.New(t, hectest.Options{})
	tr := newTransport(t, srv, nil)
	for _, f := range []struct {
		fail hectest.Failure
		hint time.Duration
	}{
		{hectest.Failure{Status: 503, Code: 9, Text: "Server is busy", RetryAfter: "7"}, 7 * time.Second},
		{hectest.ServerBusy, 0},
		{hectest.QueuesFull, 0},
		{hectest.Failure{Status: 429, Raw: "slow down", RetryAfter: "3"}, 3 * time.Second},
	} {
		srv.FailNext(1, f.fail)
		err := tr.Send(t.Context(), l.Recs)
		require.Error(t, err)
		assert.False(t, sinks.IsPermanent(err))
		assert.Equal(t, f.hint, sinks.RetryAfterHint(err))
		assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", f.fail.Status))
	}
	require.NoError(t, tr.Send(t.Context(), l.Recs))
	assert.Len(t, srv.Events(), len(l.Recs))
}

func TestAuthFailures(t *testing.T) {
	l := newTestLedger(t, 2)
	srv := hectest.New(t, hectest.Options{})
	tr := newTransport(t, srv, func(c *Config) { c.Token = "wrong" })
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err), "never park on credentials")
	assert.Contains(t, err.Error(), `HTTP 403: Splunk code 4 "Invalid token"`)

	srv.DisableToken(true)
	tr = newTransport(t, srv, nil)
	err = tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), `HTTP 403: Splunk code 1 "Token disabled"`)

	srv.DisableToken(false)
	require.NoError(t, tr.Send(t.Context(), l.Recs))
}

func TestTooLarge(t *testing.T) {
	l := newTestLedger(t, 20)
	srv := hectest.New(t, hectest.Options{MaxContentLength: 4000})
	tr := newTransport(t, srv, func(c *Config) { c.Gzip = false })
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.True(t, sinks.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "HTTP 413")
	require.NoError(t, tr.Send(t.Context(), l.Recs[1:3]), "a smaller batch goes through")
}

func TestNetworkDown(t *testing.T) {
	l := newTestLedger(t, 3)
	srv := hectest.New(t, hectest.Options{})
	tr := newTransport(t, srv, nil)
	require.NoError(t, tr.Send(t.Context(), l.Recs[:1]))

	srv.Down()
	// The first Send may still find the kept-alive connection, and read
	// EOF on it; either way it is retryable.
	err := tr.Send(t.Context(), l.Recs[1:])
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	err = tr.Send(t.Context(), l.Recs[1:])
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "connection refused")

	require.NoError(t, srv.Up())
	require.NoError(t, tr.Send(t.Context(), l.Recs[1:]))
	assert.Len(t, srv.Events(), len(l.Recs))
}

func TestTimeout(t *testing.T) {
	l := newTestLedger(t, 2)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := NewDefaultConfig()
	c.Endpoint, c.Token = srv.URL, "tok"
	c.Delivery.Timeout = 100 * time.Millisecond
	tr, err := New(c, nil)
	require.NoError(t, err)

	err = tr.Send(t.Context(), l.Recs) // no deadline: Delivery.Timeout applies
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = tr.Send(ctx, l.Recs)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, sinks.IsPermanent(err))
}

// TestStatusClasses runs Send against a scripted server: HTTP status and
// HEC reply → error class.
func TestStatusClasses(t *testing.T) {
	const (
		ok        = "ok"
		retry     = "retryable"
		permanent = "permanent"
		items     = "items"
	)
	type item struct {
		index     int
		permanent bool
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		header map[string]string
		class  string
		hint   time.Duration // RetryAfterHint; -1: between 5s and 11s (an HTTP date)
		text   string        // part of the error
		items  []item
	}{
		{"success", 200, `{"text":"Success","code":0}`, nil, ok, 0, "", nil},
		{"success with an ackId, ack off", 200, `{"text":"Success","code":0,"ackId":3}`, nil, ok, 0, "", nil},
		{"200 from something else", 200, `<html>Welcome to nginx!</html>`, nil, retry, 0, "is endpoint a Splunk HEC?", nil},
		{"200 empty", 200, ``, nil, retry, 0, "empty reply", nil},
		{"200 code 17", 200, `{"text":"HEC is healthy","code":17}`, nil, retry, 0, "not a HEC success reply", nil},
		{"bad event 2", 400, `{"text":"Invalid data format","code":6,"invalid-event-number":2}`, nil, items, 0, "", []item{{2, true}, {3, false}}},
		{"bad event 0", 400, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`, nil, items, 0, "", []item{{0, true}, {1, false}, {2, false}, {3, false}}},
		{"bad last event", 400, `{"text":"Invalid data format","code":6,"invalid-event-number":3}`, nil, items, 0, "", []item{{3, true}}},
		{"event required", 400, `{"text":"Event field is required","code":12,"invalid-event-number":1}`, nil, items, 0, "", []item{{1, true}, {2, false}, {3, false}}},
		{"event blank", 400, `{"text":"Event field cannot be blank","code":13,"invalid-event-number":1}`, nil, items, 0, "", []item{{1, true}, {2, false}, {3, false}}},
		{"indexed fields", 400, `{"text":"Error in handling indexed fields","code":15,"invalid-event-number":3}`, nil, items, 0, "", []item{{3, true}}},
		{"event number out of range", 400, `{"text":"Invalid data format","code":6,"invalid-event-number":9}`, nil, permanent, 0, "code 6", nil},
		{"invalid data format", 400, `{"text":"Invalid data format","code":6}`, nil, permanent, 0, `Splunk code 6 "Invalid data format"`, nil},
		{"no data", 400, `{"text":"No data","code":5}`, nil, permanent, 0, "code 5", nil},
		{"400 page", 400, `<html>Bad Request</html>`, nil, permanent, 0, "Bad Request", nil},
		{"incorrect index", 400, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`, nil, retry, 0, "fix index", nil},
		{"channel missing", 400, `{"text":"Data channel is missing","code":10}`, nil, retry, 0, "set ack = true", nil},
		{"invalid channel", 400, `{"text":"Invalid data channel","code":11}`, nil, retry, 0, "channel", nil},
		{"ack disabled", 400, `{"text":"ACK is disabled","code":14}`, nil, retry, 0, "set ack = false", nil},
		{"token required", 401, `{"text":"Token is required","code":2}`, nil, retry, 0, `HTTP 401: Splunk code 2 "Token is required"`, nil},
		{"invalid authorization", 401, `{"text":"Invalid authorization","code":3}`, nil, retry, 0, "code 3", nil},
		{"invalid token", 403, `{"text":"Invalid token","code":4}`, nil, retry, 0, `HTTP 403: Splunk code 4 "Invalid token"`, nil},
		{"token disabled", 403, `{"text":"Token disabled","code":1}`, nil, retry, 0, "Token disabled", nil},
		{"too large", 413, `Content-Length of 5000000 too large (maximum is 1000000)`, nil, permanent, 0, "HTTP 413", nil},
		{"429", 429, `Too Many Requests`, map[string]string{"Retry-After": "5"}, retry, 5 * time.Second, "HTTP 429", nil},
		{"429 without Retry-After", 429, ``, nil, retry, 0, "HTTP 429", nil},
		{"server busy", 503, `{"text":"Server is busy","code":9}`, map[string]string{"Retry-After": "2"}, retry, 2 * time.Second, `Splunk code 9 "Server is busy"`, nil},
		{"503 date", 503, `{"text":"Server is busy","code":9}`, map[string]string{"Retry-After": time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)}, retry, -1, "code 9", nil},
		{"503 bad Retry-After", 503, `{"text":"Server is busy","code":9}`, map[string]string{"Retry-After": "soon"}, retry, 0, "code 9", nil},
		{"internal error", 500, `{"text":"Internal server error","code":8}`, nil, retry, 0, "code 8", nil},
		{"bad gateway", 502, `<html>502 Bad Gateway</html>`, nil, retry, 0, "502 Bad Gateway", nil},
		{"gateway timeout with Retry-After", 504, ``, map[string]string{"Retry-After": "1"}, retry, time.Second, "HTTP 504", nil},
		{"redirect", 301, ``, map[string]string{"Location": "https://other.example/"}, retry, 0, "redirects", nil},
		{"not found", 404, `{"text":"The requested URL was not found on this server.","code":404}`, nil, retry, 0, "check endpoint", nil},
		{"method not allowed", 405, ``, nil, retry, 0, "check endpoint", nil},
		{"request timeout", 408, ``, nil, retry, 0, "HTTP 408", nil},
		{"conflict", 409, ``, nil, permanent, 0, "HTTP 409", nil},
		{"unprocessable", 422, `nope`, nil, permanent, 0, "HTTP 422", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := NewDefaultConfig()
			c.Delivery.Name = "soc"
			c.Endpoint, c.Token, c.Index = srv.URL, "tok", "audit"
			tr, err := New(c, nil)
			require.NoError(t, err)
			defer tr.Close()

			err = tr.Send(t.Context(), newTestLedger(t, 4).Recs[:4])
			if tc.class == ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "splunk_hec soc: ")
			var its sinks.ItemErrors
			if tc.class == items {
				require.ErrorAs(t, err, &its)
				var got []item
				for _, it := range its {
					got = append(got, item{it.Index, sinks.IsPermanent(it.Err)})
				}
				assert.Equal(t, tc.items, got)
				return
			}
			assert.NotErrorAs(t, err, &its)
			assert.Contains(t, err.Error(), tc.text)
			assert.Equal(t, tc.class == permanent, sinks.IsPermanent(err), "%v", err)
			if tc.hint >= 0 {
				assert.Equal(t, tc.hint, sinks.RetryAfterHint(err))
			} else {
				assert.InDelta(t, 8*time.Second, sinks.RetryAfterHint(err), float64(3*time.Second))
			}
		})
	}
}

func TestAck(t *testing.T) {
	l := newTestLedger(t, 10)
	srv := hectest.New(t, hectest.Options{Ack: true})
	srv.DelayAcks(80 * time.Millisecond)
	tr := newTransport(t, srv, func(c *Config) { c.Ack = true })
	require.NoError(t, tr.Send(t.Context(), l.Recs))
	require.NoError(t, tr.Send(t.Context(), l.Recs[:2]))

	assert.Len(t, srv.Events(), len(l.Recs)+2)
	assert.Zero(t, srv.PendingAcks())
	var events, polls int
	for _, r := range srv.Requests() {
		assert.Equal(t, tr.Channel(), r.Header.Get("X-Splunk-Request-Channel"), "%s", r.Path)
		assert.Equal(t, "Splunk "+srv.Token, r.Header.Get("Authorization"))
		assert.Equal(t, 200, r.Status, "%s: %s", r.Path, r.Reply)
		switch r.Path {
		case "/services/collector/event":
			events++
		case "/services/collector/ack":
			polls++
			assert.Equal(t, "channel="+tr.Channel(), r.Query)
			assert.JSONEq(t, fmt.Sprintf(`{"acks":[%d]}`, events-1), string(r.Body))
		}
	}
	assert.Equal(t, 2, events)
	assert.GreaterOrEqual(t, polls, 4, "acks are delayed 80ms, polled every 10ms")
	for _, ev := range srv.Events() {
		assert.Equal(t, tr.Channel(), ev.Channel)
	}
}

func TestAckTimeout(t *testing.T) {
	l := newTestLedger(t, 5)
	srv := hectest.New(t, hectest.Options{Ack: true})
	srv.DropAcks(1)
	tr := newTransport(t, srv, func(c *Config) { c.Ack, c.AckTimeout = true, 150*time.Millisecond })
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "ackId 0 on channel "+tr.Channel()+" not acknowledged within ack_timeout (150ms)")

	// The Engine sends the batch again: HEC then holds it twice, and
	// deduplicating on kt_id gives the ledger back.
	require.NoError(t, tr.Send(t.Context(), l.Recs))
	events := srv.Events()
	require.Len(t, events, 2*len(l.Recs))
	seen := map[string]bool{}
	var unique []hectest.Event
	for _, ev := range events {
		if !seen[ev.ID()] {
			seen[ev.ID()] = true
			unique = append(unique, ev)
		}
	}
	assert.Len(t, unique, len(l.Recs))
	verifyEvents(t, l, events)
}

func TestAckContextDone(t *testing.T) {
	l := newTestLedger(t, 2)
	srv := hectest.New(t, hectest.Options{Ack: true})
	srv.DropAcks(1)
	tr := newTransport(t, srv, func(c *Config) { c.Ack = true })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := tr.Send(ctx, l.Recs)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, sinks.IsPermanent(err))
}

func TestAckMismatch(t *testing.T) {
	l := newTestLedger(t, 2)

	// The token has ack on, the sink off: HEC wants a channel.
	srv := hectest.New(t, hectest.Options{Ack: true})
	tr := newTransport(t, srv, nil)
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err), "a config mismatch parks nothing")
	assert.Contains(t, err.Error(), "set ack = true")

	// The sink has ack on, the token off: a warning, once, and 200 counts.
	srv = hectest.New(t, hectest.Options{})
	var logs syncBuffer
	c := NewDefaultConfig()
	c.Endpoint, c.Token, c.Ack = srv.URL(), srv.Token, true
	c.AckTimeout = 10 * time.Second
	tr, err = New(c, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, tr.Send(t.Context(), l.Recs))
	require.NoError(t, tr.Send(t.Context(), l.Recs))
	assert.Equal(t, 1, strings.Count(logs.String(), "without an ackId"), logs.String())
	assert.Equal(t, 2, srv.RequestCount(), "no ack polls")
}

func TestConcurrentSends(t *testing.T) {
	l := newTestLedger(t, 200)
	srv := hectest.New(t, hectest.Options{Ack: true})
	srv.DelayAcks(20 * time.Millisecond)
	tr := newTransport(t, srv, func(c *Config) { c.Ack, c.Delivery.InFlight = true, 4 })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			assert.NoError(t, tr.Send(t.Context(), l.Recs[i*50:(i+1)*50]))
		})
	}
	wg.Wait()
	assert.Len(t, srv.Events(), 200)
	assert.Zero(t, srv.PendingAcks())
}

func TestTLS(t *testing.T) {
	l := newTestLedger(t, 2)
	srv := hectest.New(t, hectest.Options{TLS: true})

	tr := newTransport(t, srv, func(c *Config) { c.Delivery.TLS = &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12} })
	require.NoError(t, tr.Send(t.Context(), l.Recs))

	tr = newTransport(t, srv, nil) // system roots
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "certificate")

	var logs syncBuffer
	c := NewDefaultConfig()
	c.Endpoint, c.Token = srv.URL(), srv.Token
	c.Delivery.TLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the point of the test
	c.Delivery.InsecureSkipVerify = true
	tr, err = New(c, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "tls.insecure_skip_verify is on: the SIEM's certificate is not checked")
	require.NoError(t, tr.Send(t.Context(), l.Recs))
}

func TestNewNoNetwork(t *testing.T) {
	srv := hectest.New(t, hectest.Options{})
	tr := newTransport(t, srv, nil)
	assert.Zero(t, srv.RequestCount())
	assert.NoError(t, tr.Close())
	assert.NoError(t, tr.Close(), "Close twice")
	assert.Error(t, tr.Send(t.Context(), newTestLedger(t, 1).Recs))

	_, err := New(Config{}, nil)
	assert.Error(t, err, "New validates")
	var logs syncBuffer
	c := NewDefaultConfig()
	c.Endpoint, c.Token = "http://127.0.0.1:1", "tok"
	_, err = New(c, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "in clear")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkSend sends batches of 500 records of about 1.2 KB to hectest
// (which inflates and parses them: the figure is the round trip) and
// reports the bytes per event on the wire.
func BenchmarkSend(b *testing.B) {
	l := newTestLedger(b, 500)
	recs := l.Recs[:500]
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			srv := hectest.New(b, hectest.Options{})
			tr := newTransport(b, srv, func(c *Config) { c.Gzip = gz })
			var line int
			for _, r := range recs {
				line += len(r.Line)
			}
			b.SetBytes(int64(line))
			for b.Loop() {
				if err := tr.Send(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
				srv.Reset()
			}
			require.NoError(b, tr.Send(b.Context(), recs))
			req := srv.Requests()[0]
			b.ReportMetric(float64(line)/500, "line-B/event")
			b.ReportMetric(float64(len(req.Body))/500, "body-B/event")
			b.ReportMetric(float64(req.WireBytes)/500, "wire-B/event")
		})
	}
}

// BenchmarkEncode is the client's share of Send: envelopes and gzip.
func BenchmarkEncode(b *testing.B) {
	l := newTestLedger(b, 500)
	recs := l.Recs[:500]
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			c := NewDefaultConfig()
			c.Endpoint, c.Token, c.Gzip = "https://splunk.example:8088", "tok", gz
			tr, err := New(c, nil)
			require.NoError(b, err)
			now := time.Now()
			var n int
			for b.Loop() {
				body, _, _ := tr.encode(recs, now)
				n = len(body)
			}
			b.ReportMetric(float64(n)/500, "wire-B/event")
		})
	}
}

// BenchmarkCompress compares compress/gzip and klauspost/compress/gzip at
// BestSpeed on the body of a batch of 500 records: the reason for
// sinks.GzipLevel and its import.
func BenchmarkCompress(b *testing.B) {
	l := newTestLedger(b, 500)
	c := NewDefaultConfig()
	var plain []byte
	meta := appendMeta(nil, c)
	for _, r := range l.Recs[:500] {
		plain = appendEnvelope(plain, meta, r, time.Now())
	}
	type writer interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	std, _ := stdgzip.NewWriterLevel(io.Discard, stdgzip.BestSpeed)
	kp, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	for _, w := range []struct {
		name string
		w    writer
	}{{"stdlib", std}, {"klauspost", kp}} {
		b.Run(w.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				out.Reset()
				w.w.Reset(&out)
				_, _ = w.w.Write(plain)
				_ = w.w.Close()
			}
			b.ReportMetric(float64(out.Len())/500, "wire-B/event")
		})
	}
}
