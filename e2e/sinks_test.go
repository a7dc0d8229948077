package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/sinks/splunkhec/hectest"
)

// numberedEvents returns NDJSON bodies of per events each, ids evt-NNNNNN
// from first to first+n-1, made from the first sample event; edit, if
// given, changes event i.
func numberedEvents(t *testing.T, first, n, per int, edit ...func(i int, ev map[string]any)) [][]byte {
	t.Helper()
	var tmpl map[string]any
	require.NoError(t, json.Unmarshal(sampleLines(t)[0], &tmpl))
	var bodies [][]byte
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		tmpl["id"] = eventID(i)
		for _, e := range edit {
			e(i, tmpl)
		}
		line, err := json.Marshal(tmpl)
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
		if (i-first+1)%per == 0 || i == first+n-1 {
			bodies = append(bodies, bytes.Clone(b.Bytes()))
			b.Reset()
		}
	}
	return bodies
}

func eventID(i int) string { return fmt.Sprintf("evt-%06d", i) }

// postAll posts bodies with two clients; every one must be accepted.
func postAll(t *testing.T, url string, bodies [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan []byte)
	errc := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			for body := range next {
				for attempt := 0; ; attempt++ {
					r, err := post(context.Background(), url, body, map[string]string{"Content-Type": "application/x-ndjson"})
					if err == nil && r.Code == http.StatusAccepted {
						break
					}
					if attempt == 50 {
						errc <- fmt.Errorf("post: %v %+v", err, r)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	close(errc)
	require.NoError(t, <-errc)
}

// sinkStatus returns the named sink's state from GET /v1/status.
func sinkStatus(t *testing.T, api, name string) query.SinkStatus {
	t.Helper()
	resp, err := http.Get(api + "/v1/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st query.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	for _, s := range st.Sinks {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sink %q in /v1/status", name)
	return query.SinkStatus{}
}

func caughtUp(t *testing.T, api, name string) bool {
	s := sinkStatus(t, api, name)
	return s.LagEntries == 0
}

// TestIntegrationSplunkHEC delivers 100,000 events through the splunk_hec
// sink, with indexer acknowledgement, to a server that follows Splunk's
// documented HEC protocol, while the receiver goes away and comes back,
// refuses two events, and the agent is SIGKILLed mid-delivery. Every event
// arrives with its ledger fields, refused ones are in the dead-letter file,
// copies are only of unacknowledged batches and carry the same id, the
// file sink is not slowed by the outage, and what the receiver holds plus
// the dead letters verifies.
func TestIntegrationSplunkHEC(t *testing.T) {
	const total = 100000
	refused := []string{eventID(777), eventID(54321)}
	hec := hectest.New(t, hectest.Options{Ack: true})
	hec.RefuseIDs(refused...)

	dataDir := t.TempDir()
	config := writeSinkConfig(t, dataDir, "splunk_hec", "soc", fmt.Sprintf(`
  endpoint          = %q
  token             = %q
  index             = "audit"
  ack               = true
  ack_poll_interval = "20ms"`, hec.URL(), hec.Token))
	a := startAgent(t, config)

	// Phase 1: 40,000 events, delivered.
	postAll(t, a.webhook, numberedEvents(t, 0, 40000, 500))
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "soc") }, 60*time.Second, 50*time.Millisecond, a.Logs())

	// Phase 2: the receiver is down while 30,000 more arrive. The file
	// sink keeps up; the HEC sink's lag grows on disk.
	hec.Down()
	postAll(t, a.webhook, numberedEvents(t, 40000, 30000, 500))
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "out") }, 30*time.Second, 50*time.Millisecond,
		"the file sink was held back by the HEC outage")
	down := sinkStatus(t, a.api, "soc")
	assert.GreaterOrEqual(t, down.LagEntries, uint64(30000), "the HEC sink cannot have delivered while down")
	assert.NotZero(t, down.Failed)
	assert.Contains(t, down.LastError, "refused")
	// kt status says so, and exits 1.
	code, stdout, stderr := runKT(t, "status", "--api", a.api)
	assert.Equal(t, 1, code, stdout+stderr)
	assert.Regexp(t, `(?m)^soc\s+splunk_hec\s+[1-9]\d*\s`, stdout)
	assert.Contains(t, stdout, "connection refused")
	code, stdout, _ = runKT(t, "status", "--api", a.api, "-o", "json")
	assert.Equal(t, 1, code)
	var st query.Status
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.Len(t, st.Sinks, 2)
	require.NoError(t, hec.Up())

	// Phase 3: 30,000 more; the agent is killed while delivering.
	postAll(t, a.webhook, numberedEvents(t, 70000, 30000, 500))
	require.Eventually(t, func() bool { return sinkStatus(t, a.api, "soc").LagEntries < 20000 }, 60*time.Second, 20*time.Millisecond)
	a.Kill()
	beforeKill := len(hec.Events())
	a = startAgent(t, config)
	require.Eventually(t, func() bool { return caughtUp(t, a.api, "soc") && caughtUp(t, a.api, "out") }, 120*time.Second, 50*time.Millisecond, a.Logs())
	final := sinkStatus(t, a.api, "soc")
	assert.Equal(t, uint64(0), final.DeadLettered, "parked before the kill: the counter is per process")
	a.Stop()

	// What the receiver holds.
	events := hec.Events()
	require.Greater(t, len(events), beforeKill)
	timeText := regexp.MustCompile(`^\d{10}\.\d{3}$`)
	byID := map[string]json.RawMessage{}
	copies := 0
	var entries, checkpoints [][]byte
	for i, ev := range events {
		kind := ev.Field("kt_record")
		if i < 3 || kind != "entry" {
			assert.Equal(t, "audit", ev.Index)
			assert.Equal(t, "keeptrusts:audit", ev.Sourcetype)
			assert.Equal(t, "kt", ev.Source)
			assert.Regexp(t, timeText, ev.Time)
		}
		switch kind {
		case "entry":
			var e struct {
				ID   string `json:"id"`
				Seq  uint64 `json:"seq"`
				Time string `json:"time"`
			}
			require.NoError(t, json.Unmarshal(ev.Event, &e))
			require.Equal(t, e.ID, ev.ID(), "kt_id is the event id")
			require.Equal(t, strconv.FormatUint(e.Seq, 10), ev.Field("kt_seq"))
			if prev, dup := byID[e.ID]; dup {
				copies++
				require.JSONEq(t, string(prev), string(ev.Event), "a copy carries the same record")
				continue
			}
			byID[e.ID] = ev.Event
			entries = append(entries, ev.Event)
			if i%10007 == 0 {
				et, err := time.Parse(time.RFC3339Nano, e.Time)
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("%d.%03d", et.Unix(), et.Nanosecond()/1e6), ev.Time, "HEC time is the event time in ms")
			}
		case "checkpoint":
			checkpoints = append(checkpoints, ev.Event)
		}
	}
	// Order: within each request, records are in ledger order.
	lastSeq := map[int]int64{}
	for _, ev := range events {
		if ev.Field("kt_record") != "entry" {
			continue
		}
		seq, _ := strconv.ParseInt(ev.Field("kt_seq"), 10, 64)
		if prev, ok := lastSeq[ev.Request]; ok {
			require.Greater(t, seq, prev, "request %d out of ledger order", ev.Request)
		}
		lastSeq[ev.Request] = seq
	}
	for i := range total {
		id := eventID(i)
		_, got := byID[id]
		if id == refused[0] || id == refused[1] {
			assert.False(t, got, "%s was refused by the receiver", id)
		} else if !got {
			t.Fatalf("%s never reached the receiver", id)
		}
	}
	// Copies come only from batches in flight at the kill or cut by the
	// outage: at most in_flight × max_events for each.
	assert.LessOrEqual(t, copies, 2*4*1000, "too many copies")
	t.Logf("%d events received, %d copies, %d checkpoint records", len(events), copies, len(checkpoints))

	// The refused ones are in the sink's dead-letter file, as records.
	dl := readNDJSON(t, filepath.Join(dataDir, "sinks", "splunk_hec.soc", "dead-letter.ndjson"))
	require.Len(t, dl, 2)
	var parked [][]byte
	for i, d := range dl {
		assert.Equal(t, refused[i], d["id"])
		assert.Contains(t, d["reason"], "Invalid data format")
		rec, err := json.Marshal(d["record"])
		require.NoError(t, err)
		parked = append(parked, rec)
	}

	// The receiver's copy plus the dead letters is the whole ledger: it
	// verifies, anchored by the checkpoints that came with it.
	verifyCopy(t, dataDir, append(append(entries, parked...), checkpoints...))
}

// seqOf orders records for verification: entries by seq, checkpoint
// records after everything they cover.
func seqOf(line []byte) float64 {
	var m struct {
		Seq    *uint64 `json:"seq"`
		Record string  `json:"record"`
		Size   uint64  `json:"size"`
	}
	_ = json.Unmarshal(line, &m)
	if m.Seq != nil {
		return float64(*m.Seq)
	}
	return float64(m.Size) - 0.5
}

// writeSinkConfig writes the config of a sink test: a webhook source, a
// file sink "out", the query API, and the remote sink block given as its
// type, name and own attributes, with delivery settings that retry fast.
func writeSinkConfig(t *testing.T, dataDir, typ, name, attrs string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
data_dir = %q
signing {
  checkpoint_interval = "1s"
}
source "webhook" "in" {
  listen = "127.0.0.1:0"
}
sink "file" "out" {
  path = %q
}
sink %q %q {
%s
  in_flight = 4
  batch {
    max_events = 1000
    max_wait   = "50ms"
  }
  retry {
    initial = "50ms"
    max     = "500ms"
  }
}
query_api {
  listen = "127.0.0.1:0"
}
`, dataDir, filepath.Join(dataDir, "out", "audit.ndjson"), typ, name, attrs)
	config := filepath.Join(t.TempDir(), "kt.hcl")
	require.NoError(t, os.WriteFile(config, []byte(cfg), 0o600))
	return config
}

// verifyCopy puts the records a receiver holds (plus the dead letters) in
// ledger order and checks them with kt verify against the agent's key.
func verifyCopy(t *testing.T, dataDir string, lines [][]byte) {
	t.Helper()
	sort.SliceStable(lines, func(i, j int) bool { return seqOf(lines[i]) < seqOf(lines[j]) })
	copyPath := filepath.Join(t.TempDir(), "copy.ndjson")
	require.NoError(t, os.WriteFile(copyPath, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600))
	code, stdout, stderr := runKT(t, "verify", "--trust", filepath.Join(dataDir, "signing.key.pub"), copyPath)
	assert.Equal(t, 0, code, stdout+stderr)
}
