package elasticsearch

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/jsonenc"
	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// newTestLedger returns the records of a ledger of n entries (the genesis
// entry included) and its checkpoint record. Entries are about 1.2 KB,
// like the control plane's audit events with their ledger fields.
// actorID, when not nil, names the actor of entry seq.
func newTestLedger(tb testing.TB, n int, actorID func(seq int) string) sinktest.Records {
	return sinktest.NewRecords(tb, n, actorID)
}

// goldenLedger signs the pipeline's normalized sample events with the
// ledger's example key: real kt lines, the same at every run.
func goldenLedger(t *testing.T) sinktest.Records {
	t.Helper()
	skey, err := os.ReadFile("../../ledger/testdata/example.skey")
	require.NoError(t, err)
	f, err := os.ReadFile("../../pipeline/testdata/control-plane-audit.golden.ndjson")
	require.NoError(t, err)
	var bodies [][]byte
	for line := range bytes.Lines(f) {
		bodies = append(bodies, bytes.TrimSpace(line))
	}
	return sinktest.SignRecords(t, strings.TrimSpace(string(skey)), time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), bodies)
}

// verifyLines checks lines the way `kt verify` checks NDJSON exported from
// a SIEM: no finding but warnings.
func verifyLines(t *testing.T, keys ledger.Keyring, lines [][]byte) {
	t.Helper()
	sinktest.Verify(t, keys, lines)
}

// request is one request the fake node got.
type request struct {
	Method, Path string
	Query        map[string]string
	Header       http.Header
	Body         []byte // decompressed
	WireBytes    int
}

// fakeES is a scripted Elasticsearch: it records requests and answers with
// reply, which by default takes every bulk item (201) and every template.
type fakeES struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []request
	reply func(r request) (status int, hdr http.Header, body string)
	// product is the X-Elastic-Product header; "" leaves it out.
	product string
}

func newFakeES(t *testing.T) *fakeES {
	f := &fakeES{product: "Elasticsearch"}
	f.reply = func(r request) (int, http.Header, string) {
		if strings.HasSuffix(r.Path, "/_bulk") {
			return 200, nil, bulkReplyBody(bulkStatuses(r.Body, 201))
		}
		return 200, nil, `{"acknowledged":true}`
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	wire, _ := io.ReadAll(r.Body)
	body := wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
	}
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		q[k] = v[0]
	}
	req := request{Method: r.Method, Path: r.URL.Path, Query: q, Header: r.Header.Clone(), Body: body, WireBytes: len(wire)}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	reply, product := f.reply, f.product
	f.mu.Unlock()
	status, hdr, out := reply(req)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	if product != "" {
		w.Header().Set("X-Elastic-Product", product)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

func (f *fakeES) setReply(fn func(r request) (int, http.Header, string)) {
	f.mu.Lock()
	f.reply = fn
	f.mu.Unlock()
}

func (f *fakeES) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// bulkStatuses returns one item per action line of a bulk body, each with
// status.
func bulkStatuses(body []byte, status int) []string {
	var items []string
	for i := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if i%2 == 0 {
			items = append(items, fmt.Sprintf(`{"create":{"status":%d}}`, status))
		}
	}
	return items
}

func bulkReplyBody(items []string) string {
	errs := false
	for _, it := range items {
		if !strings.Contains(it, `"status":201`) {
			errs = true
		}
	}
	return fmt.Sprintf(`{"errors":%v,"items":[%s]}`, errs, strings.Join(items, ","))
}

func newTransport(t testing.TB, addr string, mod func(*Config)) *Transport {
	t.Helper()
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	c.Addresses = []string{addr}
	if mod != nil {
		mod(&c)
	}
	return sinktest.NewTransport(t, New, c)
}

// splitBulk returns the action lines and documents of a bulk body.
func splitBulk(t *testing.T, body []byte) (actions, docs [][]byte) {
	t.Helper()
	require.True(t, bytes.HasSuffix(body, []byte("\n")), "a bulk body ends in a newline")
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	require.Zero(t, len(lines)%2)
	for i, l := range lines {
		require.True(t, json.Valid(l), "%s", l)
		if i%2 == 0 {
			actions = append(actions, l)
		} else {
			docs = append(docs, l)
		}
	}
	return actions, docs
}

// doc is what the tests read of a document.
type doc struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind, ID, Action, Outcome string
		Category                  []string
	}
	User struct{ ID, Name string }
	KT   struct {
		Kind     string
		Seq      *uint64
		Size     *uint64
		Hash     string
		Category string
		Record   string
	}
}

// receiver is the conformance suite's adapter: the scripted node, which
// stores the documents it takes (their kt.record) and fails or refuses on
// demand as a node does: 503 for a shard that is not active, a bulk item
// 400 document_parsing_exception for one refused document, a 400
// x_content_parse_exception for a body it cannot read. Real nodes are in
// TestIntegrationElasticsearch and the e2e test.
type receiver struct {
	srv *fakeES

	mu      sync.Mutex
	docs    [][]byte
	fail    int
	items   map[string]bool
	batches map[string]bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{srv: newFakeES(t), items: map[string]bool{}, batches: map[string]bool{}}
	r.srv.setReply(r.reply)
	return r
}

func (r *receiver) reply(req request) (int, http.Header, string) {
	if !strings.HasSuffix(req.Path, "/_bulk") {
		return 200, nil, `{"acknowledged":true}`
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return 503, nil, `{"error":{"root_cause":[],"type":"unavailable_shards_exception","reason":"primary shard is not active"},"status":503}`
	}
	lines := bytes.Split(bytes.TrimSuffix(req.Body, []byte("\n")), []byte("\n"))
	type item struct {
		id  string
		doc []byte
	}
	var its []item
	for i := 0; i+1 < len(lines); i += 2 {
		var a struct {
			Create struct {
				ID string `json:"_id"`
			}
		}
		var d struct{ KT struct{ Record string } }
		if json.Unmarshal(lines[i], &a) != nil || json.Unmarshal(lines[i+1], &d) != nil {
			return 400, nil, `{"error":{"root_cause":[],"type":"x_content_parse_exception","reason":"[1:1] Unexpected character"},"status":400}`
		}
		if r.batches[a.Create.ID] {
			return 400, nil, `{"error":{"root_cause":[],"type":"x_content_parse_exception","reason":"[1:2] Unexpected end-of-input"},"status":400}`
		}
		its = append(its, item{a.Create.ID, []byte(d.KT.Record)})
	}
	var out []string
	for _, it := range its {
		if r.items[it.id] {
			out = append(out, `{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:8] failed to parse field [user.id] of type [long]"}}}`)
			continue
		}
		r.docs = append(r.docs, it.doc)
		out = append(out, `{"create":{"status":201}}`)
	}
	return 200, nil, bulkReplyBody(out)
}

func (r *receiver) Spec(*testing.T) sinks.Spec {
	c := NewDefaultConfig()
	c.Delivery.Name = "siem"
	c.Addresses = []string{r.srv.URL}
	return sinks.SpecOf(c, c.Delivery, New)
}

func (r *receiver) Stored(*testing.T) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.docs)
}

func (r *receiver) FailNext(n int) { r.mu.Lock(); r.fail = n; r.mu.Unlock() }

func (r *receiver) RefuseItems(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.items[id] = true
	}
}

func (r *receiver) RefuseBatches(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.batches[id] = true
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Receiver { return newReceiver(t) })
}

func TestSend(t *testing.T) {
	l := newTestLedger(t, 40, nil)
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			srv := newFakeES(t)
			tr := newTransport(t, srv.URL, func(c *Config) { c.Gzip = gz })
			require.NoError(t, tr.Send(t.Context(), l.Recs))

			reqs := srv.requests()
			require.Len(t, reqs, 1, "no template request without install_template")
			req := reqs[0]
			assert.Equal(t, "POST", req.Method)
			assert.Equal(t, "/logs-keeptrusts.audit-default/_bulk", req.Path)
			assert.Equal(t, "true", req.Query["require_data_stream"])
			assert.Equal(t, "errors,items.*.status,items.*.error", req.Query["filter_path"])
			assert.NotContains(t, req.Query, "pipeline")
			assert.Equal(t, "application/x-ndjson", req.Header.Get("Content-Type"))
			assert.Empty(t, req.Header.Get("Authorization"))
			if gz {
				assert.Equal(t, "gzip", req.Header.Get("Content-Encoding"))
				assert.Less(t, req.WireBytes, len(req.Body)/3)
			} else {
				assert.Empty(t, req.Header.Get("Content-Encoding"))
				assert.Equal(t, len(req.Body), req.WireBytes)
			}

			acts, docs := splitBulk(t, req.Body)
			require.Len(t, docs, len(l.Recs))
			var lines [][]byte
			for i, r := range l.Recs {
				assert.Equal(t, fmt.Sprintf(`{"create":{"_id":%q}}`, r.ID), string(acts[i]))
				var d doc
				require.NoError(t, json.Unmarshal(docs[i], &d))
				assert.Equal(t, string(r.Line), d.KT.Record, "kt.record is the line, byte for byte")
				assert.Equal(t, r.EventTime().UTC().Format(ledger.TimeFormat), d.Timestamp)
				assert.Equal(t, r.ID, d.Event.ID)
				assert.Equal(t, r.Kind.String(), d.KT.Kind)
				if r.Kind == sinks.KindEntry {
					require.NotNil(t, d.KT.Seq)
					assert.Equal(t, r.Seq, *d.KT.Seq)
					assert.Equal(t, "event", d.Event.Kind)
				} else {
					require.NotNil(t, d.KT.Size)
					assert.Equal(t, r.Seq, *d.KT.Size)
					assert.Equal(t, "state", d.Event.Kind)
					assert.Equal(t, "kt.checkpoint", d.Event.Action)
				}
				lines = append(lines, []byte(d.KT.Record))
			}
			verifyLines(t, l.Keys, lines)
		})
	}
}

// TestWireBytes reports the bytes per event of the bulk body, plain and
// gzipped, for 500 records of about 1.2 KB (a default batch).
func TestWireBytes(t *testing.T) {
	l := newTestLedger(t, 500, nil)
	srv := newFakeES(t)
	var line int
	for _, r := range l.Recs {
		line += len(r.Line)
	}
	for _, gz := range []bool{false, true} {
		tr := newTransport(t, srv.URL, func(c *Config) { c.Gzip = gz })
		require.NoError(t, tr.Send(t.Context(), l.Recs))
	}
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	n := len(l.Recs)
	t.Logf("%d records: line %d B/record; bulk body %d B/record plain, %d B/record gzipped",
		n, line/n, reqs[0].WireBytes/n, reqs[1].WireBytes/n)
	assert.Less(t, reqs[0].WireBytes/n, 2*line/n+700, "the document is the line plus the ECS fields")
	assert.Less(t, reqs[1].WireBytes, reqs[0].WireBytes/3)
}

func TestWorkedExample(t *testing.T) {
	rec, key := sinktest.WorkedExample(t)
	got, err := appendAction(nil, rec)
	require.NoError(t, err)
	got, err = appendDoc(got, rec, time.Now())
	require.NoError(t, err)
	assert.Equal(t, sinktest.DocExample(t, "elasticsearch.go"), string(got), "the two lines of the package doc")

	// kt.record is the entry verbatim, still signed by the example key.
	_, docs := splitBulk(t, got)
	var d struct{ KT struct{ Record string } }
	require.NoError(t, json.Unmarshal(docs[0], &d))
	sinktest.CheckSigned(t, []byte(d.KT.Record), key)
}

// TestGolden checks the bulk body of real kt lines: the pipeline's
// normalized sample events, signed into a ledger, a checkpoint and a
// heartbeat. go test -run TestGolden -update rewrites the golden file.
func TestGolden(t *testing.T) {
	l := goldenLedger(t)
	cpLine := l.Recs[len(l.Recs)-1].Line
	var cp struct{ Checkpoint string }
	require.NoError(t, json.Unmarshal(cpLine, &cp))
	c, err := ledger.OpenCheckpoint([]byte(cp.Checkpoint), l.Keys)
	require.NoError(t, err)
	hbAt := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	recs := append(l.Recs, sinks.Record{Kind: sinks.KindHeartbeat, Seq: uint64(c.Size),
		ID: fmt.Sprintf("kt-heartbeat-L1-%d", hbAt.UnixNano()), Time: hbAt, Line: sinks.HeartbeatRecord(hbAt, c)})

	srv := newFakeES(t)
	tr := newTransport(t, srv.URL, func(c *Config) { c.Gzip = false })
	require.NoError(t, tr.Send(t.Context(), recs))
	got := srv.requests()[0].Body

	const golden = "testdata/bulk.golden.ndjson"
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go test -run TestGolden -update after a deliberate change")

	// Every document is ECS-shaped and carries its line.
	_, docs := splitBulk(t, got)
	require.Len(t, docs, len(recs))
	var lines [][]byte
	for i, raw := range docs {
		var d doc
		require.NoError(t, json.Unmarshal(raw, &d))
		assert.Equal(t, string(recs[i].Line), d.KT.Record)
		assert.Contains(t, []string{"success", "failure", "unknown", ""}, d.Event.Outcome)
		for _, c := range d.Event.Category {
			assert.Contains(t, []string{"authentication", "iam", "configuration"}, c, "an ECS allowed value")
		}
		lines = append(lines, []byte(d.KT.Record))
	}
	verifyLines(t, l.Keys, lines)
}

func TestDocumentFields(t *testing.T) {
	line := []byte(`{"seq":7,"prev_hash":"aa","hash":"bb","sig":"cc","key_id":"k+1","action":"member.invite",` +
		`"actor":{"id":42,"ip":"fe80::1%eth0","name":"a\"b","type":"api_token","user_agent":"ua"},"category":"escalation",` +
		`"id":"e7","outcome":"maybe","reason":"r","received_at":"bad","target":{"id":"u9","name":"Dave","type":"user"},` +
		`"time":"2026-01-01T00:00:00.000000Z"}`)
	rec := sinks.Record{Kind: sinks.KindEntry, Seq: 7, ID: "e7", Line: line} // Time zero: read from the line
	got, err := appendDoc(nil, rec, time.Now())
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(got, &m))
	assert.Equal(t, "2026-01-01T00:00:00.000000Z", m["@timestamp"])
	ev := m["event"].(map[string]any)
	assert.NotContains(t, ev, "category", "escalation has no ECS category")
	assert.Equal(t, "unknown", ev["outcome"])
	assert.Equal(t, "r", ev["reason"])
	assert.NotContains(t, ev, "created", "a received_at that is not a time is left out")
	assert.Equal(t, map[string]any{"id": "42", "name": `a"b`, "target": map[string]any{"id": "u9", "name": "Dave"}}, m["user"])
	assert.NotContains(t, m, "source", "a zoned address is not an ECS ip")
	kt := m["kt"].(map[string]any)
	assert.Equal(t, "escalation", kt["category"])
	assert.Equal(t, "api_token", kt["actor_type"])
	assert.Equal(t, string(line), kt["record"])

	// No time anywhere: now.
	now := time.Date(2026, 5, 5, 5, 5, 5, 0, time.UTC)
	got, err = appendDoc(nil, sinks.Record{Kind: sinks.KindEntry, ID: "x", Line: []byte(`{"action":"a.b","actor":"bob"}`)}, now)
	require.NoError(t, err)
	assert.Contains(t, string(got), `"@timestamp":"2026-05-05T05:05:05.000000Z"`)
	assert.NotContains(t, string(got), `"user"`, "a bare-string actor is not read")
}

func TestLongID(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	r := l.Recs[1]
	r.ID = strings.Repeat("x", 513)
	got, err := appendAction(nil, r)
	require.NoError(t, err)
	assert.Regexp(t, `^\{"create":\{"_id":"kt-sha256-[0-9a-f]{64}"\}\}\n$`, string(got))
	again, _ := appendAction(nil, r)
	assert.Equal(t, got, again, "the same for every copy")
	r.ID = strings.Repeat("x", 512)
	got, _ = appendAction(nil, r)
	assert.Contains(t, string(got), r.ID)
}

func TestUnsendableLine(t *testing.T) {
	l := newTestLedger(t, 8, nil)
	recs := append([]sinks.Record(nil), l.Recs[:8]...)
	recs[2].Line = []byte(`{"seq":2,"truncated`)
	recs[4].Line = []byte(`{"a":1}{"event":"injected"}`)
	recs[5].Line = []byte("{\"a\":\"\xff\"}")
	srv := newFakeES(t)
	tr := newTransport(t, srv.URL, nil)
	err := tr.Send(t.Context(), recs)
	var items sinks.ItemErrors
	require.ErrorAs(t, err, &items)
	require.Len(t, items, 3)
	for i, want := range []int{2, 4, 5} {
		assert.Equal(t, want, items[i].Index)
		assert.True(t, sinks.IsPermanent(items[i].Err))
	}
	assert.Contains(t, items[0].Err.Error(), "not one JSON object")
	assert.Contains(t, items[2].Err.Error(), "UTF-8")
	acts, _ := splitBulk(t, srv.requests()[0].Body)
	require.Len(t, acts, 5)
	for i, j := range []int{0, 1, 3, 6, 7} {
		assert.Contains(t, string(acts[i]), recs[j].ID)
	}

	// Nothing sendable: no request.
	err = tr.Send(t.Context(), recs[2:3])
	require.ErrorAs(t, err, &items)
	assert.True(t, sinks.IsPermanent(items[0].Err))
	assert.Len(t, srv.requests(), 1)
}

func TestBulkItems(t *testing.T) {
	l := newTestLedger(t, 12, nil)
	recs := l.Recs[:12]
	srv := newFakeES(t)
	items := []string{
		`{"create":{"status":201}}`,
		`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[evt]: version conflict, document already exists (current version [1])"}}}`,
		`{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of TimedRunnable"}}}`,
		`{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:8] failed to parse field [user.id] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"usr_x\""}}}}`,
		`{"create":{"status":500,"error":{"type":"null_pointer_exception","reason":"oops"}}}`,
		`{"create":{"status":400,"error":{"type":"illegal_argument_exception","reason":"pipeline with id [kt] does not exist"}}}`,
		`{"create":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index [x] and the index creation request requires a data stream"}}}`,
		`{"create":{"status":403,"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized"}}}`,
		`{"create":{"status":409,"error":{"type":"some_other_conflict","reason":"?"}}}`,
		`{"create":{"status":400,"error":{"type":"index_closed_exception","reason":"closed"}}}`,
		`{"create":{"status":200}}`,
		`{"create":{"status":413,"error":{"type":"x","reason":"too big"}}}`,
	}
	srv.setReply(func(request) (int, http.Header, string) { return 200, nil, bulkReplyBody(items) })
	tr := newTransport(t, srv.URL, func(c *Config) { c.Pipeline = "kt" })
	err := tr.Send(t.Context(), recs)
	var got sinks.ItemErrors
	require.ErrorAs(t, err, &got)
	want := []struct {
		index     int
		permanent bool
		text      string
	}{
		{2, false, "item 429 es_rejected_execution_exception: rejected execution"},
		{3, true, `item 400 document_parsing_exception: [1:8] failed to parse field [user.id] of type [long] (caused by illegal_argument_exception: For input string: "usr_x")`},
		{4, false, "item 500 null_pointer_exception: oops"},
		{5, false, `the ingest pipeline "kt" does not exist`},
		{6, false, "set install_template = true"},
		{7, false, "create_doc"},
		{8, true, "item 409 some_other_conflict"},
		{9, false, "is closed"},
		{11, true, "item 413"},
	}
	require.Len(t, got, len(want), "%v", got)
	for i, w := range want {
		assert.Equal(t, w.index, got[i].Index)
		assert.Equal(t, w.permanent, sinks.IsPermanent(got[i].Err), "%v", got[i].Err)
		assert.Contains(t, got[i].Err.Error(), w.text)
		assert.True(t, strings.HasPrefix(got[i].Err.Error(), "elasticsearch soc: "), "%v", got[i].Err)
	}
	assert.Equal(t, "kt", srv.requests()[0].Query["pipeline"])

	// Item errors line up with the records, not the documents sent.
	recs2 := append([]sinks.Record(nil), recs[:4]...)
	recs2[1].Line = []byte("not json")
	srv.setReply(func(request) (int, http.Header, string) {
		return 200, nil, bulkReplyBody([]string{items[0], items[3], items[0]})
	})
	err = tr.Send(t.Context(), recs2)
	require.ErrorAs(t, err, &got)
	require.Len(t, got, 2)
	assert.Equal(t, 1, got[0].Index)
	assert.Equal(t, 2, got[1].Index)
	assert.Contains(t, got[1].Err.Error(), "document_parsing_exception")

	// A reply that does not match the request.
	for _, body := range []string{`{"errors":true,"items":[]}`, `{"took":1}`, `<html>hello</html>`} {
		srv.setReply(func(request) (int, http.Header, string) { return 200, nil, body })
		err = tr.Send(t.Context(), recs[:3])
		require.Error(t, err)
		assert.False(t, sinks.IsPermanent(err), "%v", err)
		var ie sinks.ItemErrors
		assert.False(t, errors.As(err, &ie), "%v", err)
	}
}

func TestStatusClasses(t *testing.T) {
	l := newTestLedger(t, 3, nil)
	srv := newFakeES(t)
	tr := newTransport(t, srv.URL, nil)
	esErr := func(status int, typ, reason string) string {
		return fmt.Sprintf(`{"error":{"root_cause":[],"type":%q,"reason":%q},"status":%d}`, typ, reason, status)
	}
	for _, tc := range []struct {
		status     int
		hdr        http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
		text       string
	}{
		{400, nil, esErr(400, "x_content_parse_exception", "[1:8] Unrecognized token"), true, 0, "HTTP 400: x_content_parse_exception: [1:8] Unrecognized token"},
		{401, nil, esErr(401, "security_exception", "missing authentication credentials for REST request [/_bulk]"), false, 0, "check api_key, or username and password"},
		{403, nil, esErr(403, "security_exception", "action [indices:data/write/bulk] is unauthorized"), false, 0, "HTTP 403"},
		{413, nil, "", true, 0, "lower batch.max_bytes"},
		{429, nil, esErr(429, "es_rejected_execution_exception", "rejected execution"), false, 0, "HTTP 429: es_rejected_execution_exception"},
		{429, http.Header{"Retry-After": {"7"}}, esErr(429, "es_rejected_execution_exception", "rejected"), false, 7 * time.Second, "HTTP 429"},
		{503, http.Header{"Retry-After": {"3"}}, `{"error":"unavailable","status":503}`, false, 3 * time.Second, `HTTP 503: "unavailable"`},
		{500, nil, "<html>boom</html>", false, 0, `HTTP 500: reply "<html>boom</html>"`},
		{502, nil, "", false, 0, "HTTP 502: empty reply"},
		{404, nil, "", false, 0, "check addresses"},
		{405, nil, `{"error":"Incorrect HTTP method for uri","status":405}`, false, 0, "HTTP 405"},
		{301, http.Header{"Location": {"https://elsewhere/"}}, "", false, 0, "redirects"},
		{407, nil, "", false, 0, "HTTP 407"},
		{408, nil, "", false, 0, "HTTP 408"},
		{409, nil, "", true, 0, "HTTP 409"},
		{422, nil, "", true, 0, "HTTP 422"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv.setReply(func(request) (int, http.Header, string) { return tc.status, tc.hdr, tc.body })
			err := tr.Send(t.Context(), l.Recs)
			require.Error(t, err)
			var items sinks.ItemErrors
			assert.False(t, errors.As(err, &items), "a whole-request error")
			assert.Equal(t, tc.permanent, sinks.IsPermanent(err), "%v", err)
			assert.Equal(t, tc.retryAfter, sinks.RetryAfterHint(err))
			assert.Contains(t, err.Error(), tc.text)
		})
	}
}

func TestNotElasticsearch(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	srv := newFakeES(t)
	srv.product = "" // OpenSearch, or a proxy that strips the header
	tr := newTransport(t, srv.URL, nil)
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "the server is not Elasticsearch")
	assert.Contains(t, err.Error(), "X-Elastic-Product")
}

func TestAuth(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	srv := newFakeES(t)
	encoded := base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"))
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"encoded api key", func(c *Config) { c.APIKey = encoded }, "APIKey " + encoded},
		{"id:key", func(c *Config) { c.APIKey = "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw" }, "APIKey " + encoded},
		{"basic", func(c *Config) { c.Username, c.Password = "kt_writer", "s3cret" }, "Basic " + base64.StdEncoding.EncodeToString([]byte("kt_writer:s3cret"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t, srv.URL, tc.mod)
			require.NoError(t, tr.Send(t.Context(), l.Recs))
			reqs := srv.requests()
			assert.Equal(t, tc.want, reqs[len(reqs)-1].Header.Get("Authorization"))
		})
	}
}

func TestTemplate(t *testing.T) {
	l := newTestLedger(t, 3, nil)
	for _, mode := range []Mode{ModeDataStream, ModeIndex} {
		t.Run(string(mode), func(t *testing.T) {
			srv := newFakeES(t)
			var fail atomic.Int32
			fail.Store(1)
			srv.setReply(func(r request) (int, http.Header, string) {
				if strings.HasPrefix(r.Path, "/_index_template/") {
					if fail.Add(-1) >= 0 {
						return 403, nil, `{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized"},"status":403}`
					}
					return 200, nil, `{"acknowledged":true}`
				}
				return 200, nil, bulkReplyBody(bulkStatuses(r.Body, 201))
			})
			tr := newTransport(t, srv.URL, func(c *Config) { c.InstallTemplate, c.Mode, c.Index = true, mode, "kt-audit" })

			err := tr.Send(t.Context(), l.Recs)
			require.Error(t, err, "the template comes before the first bulk")
			assert.False(t, sinks.IsPermanent(err))
			assert.Contains(t, err.Error(), "manage_index_templates")
			require.Len(t, srv.requests(), 1, "no bulk without the template")

			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { assert.NoError(t, tr.Send(t.Context(), l.Recs)) })
			}
			wg.Wait()
			reqs := srv.requests()
			require.Len(t, reqs, 6, "the template is put once")
			tmpl := reqs[1]
			assert.Equal(t, "PUT", tmpl.Method)
			assert.Equal(t, "/_index_template/kt-kt-audit", tmpl.Path)
			assert.Equal(t, "true", tmpl.Query["create"], "an existing template is not replaced")
			var body struct {
				IndexPatterns []string       `json:"index_patterns"`
				Priority      int            `json:"priority"`
				DataStream    map[string]any `json:"data_stream"`
				Meta          map[string]any `json:"_meta"`
				Template      struct {
					Mappings struct {
						Properties map[string]json.RawMessage
					}
				}
			}
			require.NoError(t, json.Unmarshal(tmpl.Body, &body))
			assert.Equal(t, []string{"kt-audit"}, body.IndexPatterns)
			assert.Equal(t, 200, body.Priority)
			assert.Equal(t, mode == ModeDataStream, body.DataStream != nil)
			assert.Equal(t, "kt", body.Meta["managed_by"])
			assert.JSONEq(t, `{"type":"date"}`, string(body.Template.Mappings.Properties["@timestamp"]))
			assert.Contains(t, string(body.Template.Mappings.Properties["kt"]), `"record":{"doc_values":false,"index":false,"type":"keyword"}`)
			for _, r := range reqs[2:] {
				assert.Equal(t, "/kt-audit/_bulk", r.Path)
				_, ds := r.Query["require_data_stream"]
				assert.Equal(t, mode == ModeDataStream, ds)
			}
		})
	}

	t.Run("exists", func(t *testing.T) {
		srv := newFakeES(t)
		srv.setReply(func(r request) (int, http.Header, string) {
			if strings.HasPrefix(r.Path, "/_index_template/") {
				return 400, nil, `{"error":{"root_cause":[],"type":"illegal_argument_exception","reason":"index template [kt-logs-keeptrusts.audit-default] already exists"},"status":400}`
			}
			return 200, nil, bulkReplyBody(bulkStatuses(r.Body, 201))
		})
		tr := newTransport(t, srv.URL, func(c *Config) { c.InstallTemplate = true })
		require.NoError(t, tr.Send(t.Context(), l.Recs))
		require.NoError(t, tr.Send(t.Context(), l.Recs))
		assert.Len(t, srv.requests(), 3)
	})

	t.Run("refused", func(t *testing.T) {
		srv := newFakeES(t)
		srv.setReply(func(r request) (int, http.Header, string) {
			return 400, nil, `{"error":{"type":"illegal_argument_exception","reason":"index template [kt-x] has index patterns [x] matching patterns from existing templates [y] with patterns (y => [x]) that have the same priority [200]"},"status":400}`
		})
		tr := newTransport(t, srv.URL, func(c *Config) { c.InstallTemplate = true })
		err := tr.Send(t.Context(), l.Recs)
		require.Error(t, err)
		assert.False(t, sinks.IsPermanent(err), "the records are not at fault")
		assert.Contains(t, err.Error(), "same priority")
	})
}

func TestNetworkDown(t *testing.T) {
	l := newTestLedger(t, 3, nil)
	srv := newFakeES(t)
	addr := srv.URL
	srv.Close()
	tr := newTransport(t, addr, nil)
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "connection refused")
}

func TestTimeout(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	tr := newTransport(t, srv.URL, func(c *Config) { c.Delivery.Timeout = 100 * time.Millisecond })
	start := time.Now()
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err)
	assert.False(t, sinks.IsPermanent(err))
	assert.ErrorContains(t, err, "deadline exceeded")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestMultipleAddresses(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	a, b := newFakeES(t), newFakeES(t)
	tr := newTransport(t, a.URL, func(c *Config) { c.Addresses = []string{a.URL, b.URL + "/"} })
	for range 4 {
		require.NoError(t, tr.Send(t.Context(), l.Recs))
	}
	assert.Len(t, a.requests(), 2, "round robin")
	assert.Len(t, b.requests(), 2)
	assert.Equal(t, "/logs-keeptrusts.audit-default/_bulk", b.requests()[0].Path)
}

func TestTLS(t *testing.T) {
	l := newTestLedger(t, 2, nil)
	f := &fakeES{product: "Elasticsearch"}
	f.reply = func(r request) (int, http.Header, string) { return 200, nil, bulkReplyBody(bulkStatuses(r.Body, 201)) }
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)

	tr := newTransport(t, f.URL, nil)
	err := tr.Send(t.Context(), l.Recs)
	require.Error(t, err, "an unknown CA is refused")
	assert.False(t, sinks.IsPermanent(err))
	assert.Contains(t, err.Error(), "certificate")

	var logs bytes.Buffer
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	c.Addresses = []string{f.URL}
	c.Delivery.TLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test
	c.Delivery.InsecureSkipVerify = true
	tr, err = New(c, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	defer tr.Close()
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "insecure_skip_verify")
	require.NoError(t, tr.Send(t.Context(), l.Recs))
}

func TestNewDoesNoIO(t *testing.T) {
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	c.Addresses = []string{"http://127.0.0.1:1"}
	c.InstallTemplate = true
	tr, err := New(c, nil)
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "Close twice")
	err = tr.Send(t.Context(), []sinks.Record{{ID: "x", Line: []byte(`{}`)}})
	assert.ErrorContains(t, err, "after Close")
	assert.NoError(t, tr.Send(t.Context(), nil))

	_, err = New(Config{}, nil)
	assert.Error(t, err, "New validates")
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"5", 5 * time.Second}, {"x", 0}, {now.Add(9 * time.Second).Format(http.TimeFormat), 9 * time.Second}, {now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		assert.Equal(t, tc.want, sinks.ParseRetryAfter(http.Header{"Retry-After": {tc.v}}, now), tc.v)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "evt_1", `a"b\c`, "tab\tnl\ncr\r\x01\x1f", "é✓😀", "<&>\u2028"} {
		got := jsonenc.AppendAnyString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%s", got)
		assert.Equal(t, s, back)
	}
}

// startES returns the URL of a real Elasticsearch node: KT_TEST_ES_URL when
// the test script started one for the whole run, else a node this test
// starts with scripts/peers/elasticsearch and stops in its cleanup.
func startES(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("KT_TEST_ES_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	const script = "../../scripts/peers/elasticsearch"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())
	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(script, "start", dir, port)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	t.Cleanup(func() {
		stop := exec.Command(script, "stop", dir)
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("stop elasticsearch: %v: %s", err, out)
		}
	})
	if err := cmd.Run(); err != nil {
		t.Fatalf("start elasticsearch (%s start %s %s): %v\n%s", script, dir, port, err, stderr.String())
	}
	return "http://127.0.0.1:" + port
}

// esCall does one request to the real node and decodes its JSON reply
// into out (if not nil).
func esCall(t *testing.T, base, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s", raw)
	}
	return res.StatusCode
}

// esDocs refreshes index and returns its documents' _id and kt.record.
func esDocs(t *testing.T, base, index string) map[string]string {
	t.Helper()
	require.Equal(t, 200, esCall(t, base, "POST", "/"+index+"/_refresh", "", nil))
	var count struct{ Count int }
	require.Equal(t, 200, esCall(t, base, "GET", "/"+index+"/_count", "", &count))
	var res struct {
		Hits struct {
			Hits []struct {
				ID     string `json:"_id"`
				Source struct {
					KT struct{ Record string }
				} `json:"_source"`
			}
		}
	}
	require.Equal(t, 200, esCall(t, base, "POST", "/"+index+"/_search?size=10000&_source=kt.record", `{"query":{"match_all":{}}}`, &res))
	docs := map[string]string{}
	for _, h := range res.Hits.Hits {
		docs[h.ID] = h.Source.KT.Record
	}
	require.Len(t, docs, count.Count)
	return docs
}

// sendAll sends recs in batches of 500, as the Engine would.
func sendAll(t *testing.T, tr *Transport, recs []sinks.Record) {
	t.Helper()
	for len(recs) > 0 {
		n := min(500, len(recs))
		require.NoError(t, tr.Send(t.Context(), recs[:n]))
		recs = recs[n:]
	}
}

func TestIntegrationElasticsearch(t *testing.T) {
	base := startES(t)
	// Data streams cannot be deleted on the test distribution: each
	// subtest writes into a stream of its own.
	run := time.Now().UnixNano()
	name := func(kind string) string { return fmt.Sprintf("logs-kt%d.%s-default", run, kind) }

	t.Run("data stream", func(t *testing.T) {
		index := name("audit")
		l := newTestLedger(t, 1999, nil)
		recs := l.Recs // 1,999 entries and a checkpoint
		require.Len(t, recs, 2000)
		tr := newTransport(t, base, func(c *Config) { c.Index, c.InstallTemplate = index, true })
		sendAll(t, tr, recs)

		var resolved struct {
			DataStreams []struct{ Name string } `json:"data_streams"`
		}
		require.Equal(t, 200, esCall(t, base, "GET", "/_resolve/index/"+index, "", &resolved))
		require.Len(t, resolved.DataStreams, 1, "a data stream, made from the template")
		docs := esDocs(t, base, index)
		require.Len(t, docs, 2000)
		var lines [][]byte
		for _, r := range recs {
			rec, ok := docs[r.ID]
			require.True(t, ok, "_id %s", r.ID)
			require.Equal(t, string(r.Line), rec, "kt.record is the line, byte for byte")
			lines = append(lines, []byte(rec))
		}
		verifyLines(t, l.Keys, lines)

		// The mapping is the template's: kt.record kept in _source only.
		var mapping map[string]struct {
			Mappings struct {
				Properties struct {
					Timestamp map[string]any `json:"@timestamp"`
					KT        struct {
						Properties map[string]map[string]any
					}
				}
			}
		}
		require.Equal(t, 200, esCall(t, base, "GET", "/"+index+"/_mapping", "", &mapping))
		require.Len(t, mapping, 1)
		for _, m := range mapping {
			assert.Equal(t, "date", m.Mappings.Properties.Timestamp["type"])
			assert.Equal(t, false, m.Mappings.Properties.KT.Properties["record"]["index"])
			assert.Equal(t, "long", m.Mappings.Properties.KT.Properties["seq"]["type"])
		}
		// An ECS query works.
		var count struct{ Count int }
		require.Equal(t, 200, esCall(t, base, "POST", "/"+index+"/_count", `{"query":{"bool":{"filter":[{"term":{"event.category":"iam"}},{"term":{"event.outcome":"failure"}}]}}}`, &count))
		assert.Positive(t, count.Count)

		// Everything again, by a new Transport (a restarted agent): every
		// item is a 409, which is success, and nothing is doubled.
		tr2 := newTransport(t, base, func(c *Config) { c.Index, c.InstallTemplate = index, true })
		sendAll(t, tr2, recs)
		assert.Len(t, esDocs(t, base, index), 2000)
	})

	t.Run("mapping conflict", func(t *testing.T) {
		index := name("conflict")
		// An operator's template maps user.id as a number.
		status := esCall(t, base, "PUT", "/_index_template/"+index, fmt.Sprintf(
			`{"index_patterns":[%q],"priority":300,"data_stream":{},"template":{"mappings":{"properties":{"@timestamp":{"type":"date"},"user":{"properties":{"id":{"type":"long"}}}}}}}`, index), nil)
		require.Equal(t, 200, status)
		l := newTestLedger(t, 10, func(seq int) string {
			if seq == 6 {
				return "usr_01H8A"
			}
			return strconv.Itoa(1000 + seq)
		})
		recs := l.Recs[1:10] // entries 1-9; the genesis entry's actor is "kt"
		tr := newTransport(t, base, func(c *Config) { c.Index = index })
		err := tr.Send(t.Context(), recs)
		var items sinks.ItemErrors
		require.ErrorAs(t, err, &items)
		require.Len(t, items, 1, "%v", err)
		assert.Equal(t, 5, items[0].Index, "entry 6")
		assert.True(t, sinks.IsPermanent(items[0].Err))
		assert.Contains(t, items[0].Err.Error(), "item 400 document_parsing_exception")
		assert.Contains(t, items[0].Err.Error(), "[user.id] of type [long]")
		docs := esDocs(t, base, index)
		assert.Len(t, docs, 8)
		assert.NotContains(t, docs, recs[5].ID)
	})

	t.Run("index mode", func(t *testing.T) {
		index := fmt.Sprintf("kt-audit-%d", run)
		l := newTestLedger(t, 50, nil)
		tr := newTransport(t, base, func(c *Config) { c.Index, c.Mode, c.InstallTemplate = index, ModeIndex, true })
		require.NoError(t, tr.Send(t.Context(), l.Recs))
		require.NoError(t, tr.Send(t.Context(), l.Recs[10:20]), "409s")
		var resolved struct {
			Indices []struct{ Name string } `json:"indices"`
		}
		require.Equal(t, 200, esCall(t, base, "GET", "/_resolve/index/"+index, "", &resolved))
		require.Len(t, resolved.Indices, 1, "a plain index")
		assert.Len(t, esDocs(t, base, index), len(l.Recs))
	})

	t.Run("no data stream template", func(t *testing.T) {
		// This distribution has no built-in logs-*-* template: without
		// ours, require_data_stream refuses to make a plain index, and
		// the records wait (retryable), none is parked.
		index := name("notemplate")
		l := newTestLedger(t, 3, nil)
		tr := newTransport(t, base, func(c *Config) { c.Index = index })
		err := tr.Send(t.Context(), l.Recs)
		var items sinks.ItemErrors
		require.ErrorAs(t, err, &items)
		require.Len(t, items, len(l.Recs))
		for _, it := range items {
			assert.False(t, sinks.IsPermanent(it.Err))
		}
		assert.Contains(t, items[0].Err.Error(), "install_template = true")
	})

	t.Run("missing pipeline", func(t *testing.T) {
		index := name("pipeline")
		l := newTestLedger(t, 3, nil)
		tr := newTransport(t, base, func(c *Config) { c.Index, c.InstallTemplate, c.Pipeline = index, true, "kt-missing" })
		err := tr.Send(t.Context(), l.Recs)
		var items sinks.ItemErrors
		require.ErrorAs(t, err, &items)
		require.Len(t, items, len(l.Recs))
		for _, it := range items {
			assert.False(t, sinks.IsPermanent(it.Err), "%v", it.Err)
		}
		assert.Contains(t, items[0].Err.Error(), `ingest pipeline "kt-missing" does not exist`)
	})
}
