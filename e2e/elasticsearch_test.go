package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// esURL returns the URL of a real Elasticsearch node: KT_TEST_ES_URL (one
// node for the whole test run, started by scripts/test-all), or a node this
// test starts with scripts/peers/elasticsearch and stops at its end.
func esURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("KT_TEST_ES_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	script, err := filepath.Abs("../scripts/peers/elasticsearch")
	require.NoError(t, err)
	out, err := exec.Command(script, "start", dir, fmt.Sprint(port)).CombinedOutput()
	require.NoError(t, err, "starting Elasticsearch: %s", out)
	t.Cleanup(func() { _ = exec.Command(script, "stop", dir).Run() })
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// esDo sends a request to Elasticsearch and decodes the JSON answer.
func esDo(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, url, b)
	}
	return resp.StatusCode
}

// proxy is a TCP relay in front of a receiver that the test can take down
// (connections refused, open ones cut) and bring back on the same port.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *proxy) relay(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Down refuses new connections and cuts the open ones.
func (p *proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Up listens again on the same address.
func (p *proxy) Up() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.serve(ln)
}

// esDocs returns every document of index, with the scroll API.
func esDocs(t *testing.T, base, index string) []map[string]any {
	t.Helper()
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []struct {
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	var out []map[string]any
	var p page
	require.Equal(t, 200, esDo(t, "POST", base+"/"+index+"/_search?scroll=1m", `{"size":10000,"query":{"match_all":{}}}`, &p))
	for len(p.Hits.Hits) > 0 {
		for _, h := range p.Hits.Hits {
			h.Source["_id"] = h.ID
			out = append(out, h.Source)
		}
		id := p.ScrollID
		p = page{}
		require.Equal(t, 200, esDo(t, "POST", base+"/_search/scroll", fmt.Sprintf(`{"scroll":"1m","scroll_id":%q}`, id), &p))
	}
	return out
}

// TestIntegrationElasticsearch delivers 100,000 events through the
// elasticsearch sink into a data stream of a real Elasticsearch node, while
// the node becomes unreachable and comes back, some documents are refused
// by the mapping, and the agent is SIGKILLed mid-delivery. Every event is in
// the index exactly once under its event id, with its ECS fields and the
// ledger line, the refused ones are in the dead-letter file, the file sink
// is not slowed by the outage, and the documents plus the dead letters
// verify.
func TestIntegrationElasticsearch(t *testing.T) {
	const total = 100000
	base := esURL(t)
	px := newProxy(t, strings.TrimPrefix(base, "http://"))
	index := fmt.Sprintf("logs-kttest.audit-%d", rand.IntN(1e9))
	// An operator's template, above kt's own (which install_template
	// still puts, at a lower priority): user.id is a number here.
	tmpl := fmt.Sprintf(`{"index_patterns":[%q],"priority":300,"data_stream":{},
	  "template":{"settings":{"number_of_replicas":0},"mappings":{"properties":{"user":{"properties":{"id":{"type":"long"}}}}}}}`, index)
	require.Equal(t, 200, esDo(t, "PUT", base+"/_index_template/ops-"+index, tmpl, nil))
	t.Cleanup(func() {
		esDo(t, "DELETE", base+"/_index_template/ops-"+index, "", nil)
		esDo(t, "DELETE", base+"/_index_template/kt-"+index, "", nil)
	})

	dataDir := t.TempDir()
	config := writeSinkConfig(t, dataDir, "elasticsearch", "siem", fmt.Sprintf(`
  addresses        = ["http://%s"]
  index            = %q
  install_template = true`, px.addr, index))
	a := startAgent(t, config)

	// Phase 1: 40,000 events. The operator's template maps user.id as a
	// number; two events have an actor id that is not one, and the node
	// refuses exactly those two documents of their bulk requests.
	bad := map[string]bool{eventID(1234): true, eventID(33333): true}
	actor := func(i int, ev map[string]any) {
		id := fmt.Sprint(100000 + i)
		if bad[eventID(i)] {
			id = "usr_" + id
		}
		ev["actor"] = map[string]any{"type": "user", "id": id, "name": "alice@acme.example"}
	}
	postAll(t, a.webhook, numberedEvents(t, 0, 40000, 500, actor))
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "siem") }, 120*time.Second, 50*time.Millisecond, a.Logs())

	// Phase 2: Elasticsearch is unreachable while 30,000 more arrive.
	px.Down()
	postAll(t, a.webhook, numberedEvents(t, 40000, 30000, 500, actor))
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "out") }, 30*time.Second, 50*time.Millisecond,
		"the file sink was held back by the Elasticsearch outage")
	down := sinkStatus(t, a.api, "siem")
	assert.GreaterOrEqual(t, down.LagEntries, uint64(30000))
	assert.NotZero(t, down.Failed)
	px.Up()

	// Phase 3: 30,000 more; the agent is killed while delivering.
	postAll(t, a.webhook, numberedEvents(t, 70000, 30000, 500, actor))
	require.Eventually(t, func() bool { return sinkStatus(t, a.api, "siem").LagEntries < 20000 }, 120*time.Second, 20*time.Millisecond)
	a.Kill()
	a = startAgent(t, config)
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "siem") && caughtUp(t, a.api, "out") }, 180*time.Second, 50*time.Millisecond, a.Logs())
	a.Stop()

	// What Elasticsearch holds: each event once, under its id.
	esDo(t, "POST", base+"/"+index+"/_refresh", "", nil)
	docs := esDocs(t, base, index)
	byID := map[string]map[string]any{}
	var lines [][]byte
	for _, d := range docs {
		id := d["_id"].(string)
		if _, dup := byID[id]; dup {
			t.Fatalf("two documents for id %s", id)
		}
		byID[id] = d
		kt := d["kt"].(map[string]any)
		rec, ok := kt["record"].(string)
		require.True(t, ok, "kt.record holds the ledger line: %v", d)
		lines = append(lines, []byte(rec))
	}
	for i := range total {
		id := eventID(i)
		d, ok := byID[id]
		if bad[id] {
			assert.False(t, ok, "%s was refused by the mapping", id)
			continue
		}
		require.True(t, ok, "%s is not in Elasticsearch", id)
		if i%9973 == 0 {
			ev := d["event"].(map[string]any)
			assert.Equal(t, id, ev["id"])
			assert.NotEmpty(t, ev["action"])
			assert.NotEmpty(t, d["@timestamp"])
			var line map[string]any
			require.NoError(t, json.Unmarshal([]byte(d["kt"].(map[string]any)["record"].(string)), &line))
			assert.Equal(t, line["action"], ev["action"])
			assert.Equal(t, line["seq"], d["kt"].(map[string]any)["seq"])
		}
	}

	// The refused ones are in the dead-letter file, with the reason: the
	// two events, and the ledger's own entries (genesis, checkpoints),
	// whose actor id "kt" is not a number either.
	dl := readNDJSON(t, filepath.Join(dataDir, "sinks", "elasticsearch.siem", "dead-letter.ndjson"))
	events := 0
	for _, d := range dl {
		assert.Contains(t, d["reason"], "user.id")
		rec := d["record"].(map[string]any)
		if bad[d["id"].(string)] {
			events++
		} else {
			assert.True(t, strings.HasPrefix(rec["action"].(string), "ledger."), "unexpected dead letter %v", d["id"])
		}
		line, err := json.Marshal(rec)
		require.NoError(t, err)
		lines = append(lines, line)
	}
	assert.Equal(t, 2, events)

	// Elasticsearch's copy plus the dead letters verifies.
	verifyCopy(t, dataDir, lines)
	t.Logf("%d documents in %s", len(docs), index)
}
