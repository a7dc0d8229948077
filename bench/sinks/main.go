// Command sinks measures how fast the real kt agent drains a ledger backlog
// into each remote sink, next to how fast the same agent ingests on this
// machine in the same run.
//
//	go run ./bench/sinks [-events 200000] [-sinks splunk_hec,elasticsearch] [-es-url URL]
//	                     [-dir /var/tmp] [-timeout 3m] [-cpu-profile PREFIX]
//
// For every row it builds nothing new (kt is built once), and on a fresh
// data dir:
//
//  1. starts `kt agent` with a webhook source and no sink and posts the
//     events (~1 KB each, benchkit.Template, 4 clients × 500 events per
//     NDJSON POST, as bench/ingest does): the ingest rate, here and now;
//  2. stops it (SIGTERM), adds one sink block to the config and starts it
//     again on the same data dir, so that the whole ledger is the sink's
//     backlog, and times from the start of the process until the query
//     API's GET /v1/status shows the sink's lag_entries at 0: the drain
//     rate, with the agent's CPU time over that window (from
//     /proc/PID/stat), the receiver's CPU time, and the request body bytes
//     the receiver got per entry.
//
// The rows:
//
//   - splunk_hec, gzip (the default) and splunk_hec, ack = true
//     (ack_poll_interval 10ms, in_flight 4): the receiver is hectest, the
//     protocol-faithful HEC server of sinks/splunkhec, run in this process
//     (so apart from the agent's); its CPU is this process's CPU over the
//     drain, and the bytes are hectest's WireBytes (bodies as received,
//     gzipped, acknowledgement queries included).
//   - elasticsearch: a node started with scripts/peers/elasticsearch (or the
//     one at -es-url), behind a counting reverse proxy in this process that
//     counts the request body bytes it forwards. The row is skipped, with
//     the reason, when the agent's config does not accept the sink yet.
//
// It prints a Markdown table for docs/BENCHMARKS.md. Every process it
// starts is stopped on exit, on error and on SIGINT/SIGTERM.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keeptrusts/kt/bench/internal/benchkit"
	"github.com/keeptrusts/kt/sinks/splunkhec/hectest"
)

const (
	targetRatio = 1.5         // drain rate / ingest rate, at least
	backlogRate = 5000        // events/s of the one-hour backlog
	backlog     = 3600 * 5000 // events in it
	clients     = 4           // concurrent webhook clients, as bench/ingest
	perPost     = 500         // events per POST, as bench/ingest
	sinkName    = "bench"
)

func main() {
	events := flag.Int("events", 200000, "events in the backlog")
	sinkList := flag.String("sinks", "splunk_hec,elasticsearch", "sinks to measure, comma-separated")
	esURL := flag.String("es-url", "", "a running Elasticsearch to use (default: start one with scripts/peers/elasticsearch)")
	base := flag.String("dir", "/var/tmp", "where the temp dir goes (a disk, not tmpfs)")
	timeout := flag.Duration("timeout", 3*time.Minute, "longest each ingest and each drain may take")
	flag.StringVar(&sinkAttrs, "sink-attrs", "", "extra HCL added to every sink block, for experiments (such as 'batch { max_events = 2000 }'); not an attribute a row sets already")
	flag.BoolVar(&controls, "controls", true, "add a control row per sink: the same sink into a receiver that only reads and discards")
	flag.StringVar(&cpuProfile, "cpu-profile", "", "write each draining agent's CPU profile to PREFIX-<row>.pprof")
	flag.Parse()

	benchkit.Main("sinks", func() error { return run(*events, *sinkList, *esURL, *base, *timeout) })
}

var (
	cpuProfile string
	controls   bool
	sinkAttrs  string
)

// row is one line of the table.
type row struct {
	name    string
	skipped string // why there is no figure; "" if measured

	ingested  int           // events accepted by the webhook
	ingestDur time.Duration // first POST to last answer
	ingestCPU time.Duration // the agent's CPU over it

	complete  bool          // the lag reached 0 within the timeout
	entries   uint64        // ledger entries (the backlog)
	sent      uint64        // entries the sink delivered
	drainDur  time.Duration // agent start to lag 0
	readyDur  time.Duration // agent start to "kt agent running"
	agentCPU  time.Duration // the agent's CPU over drainDur
	recvCPU   time.Duration
	recvKnown bool
	wire      int64 // request body bytes the receiver got
	failed    uint64
	deadLet   uint64
	notes     []string
}

func (r row) ingestRate() float64 { return float64(r.ingested) / r.ingestDur.Seconds() }
func (r row) drainRate() float64  { return float64(r.sent) / r.drainDur.Seconds() }

// receiver is what one row's sink delivers to.
type receiver struct {
	name  string // row name
	slug  string // for file names
	block string // the sink block (HCL)
	typ   string // the sink type
	// cpu returns the receiver's CPU time so far; ok is false if unknown.
	cpu func() (d time.Duration, ok bool)
	// wire returns the request body bytes received so far.
	wire func() int64
	// after runs once the agent stopped, to check what arrived; it may add
	// notes to the row.
	after func(r *row)
}

func run(n int, sinkList, esURL, base string, timeout time.Duration) error {
	if n < perPost || n > 100_000_000 {
		return fmt.Errorf("bad -events %d (at least %d)", n, perPost)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run it from the repository root (go run ./bench/sinks)")
	}
	dir, err := os.MkdirTemp(base, "kt-bench-sinks-")
	if err != nil {
		return err
	}
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == 0x01021994 {
		return fmt.Errorf("%s is on tmpfs: give -dir on a disk", dir)
	}

	bin := filepath.Join(dir, "kt")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		return fmt.Errorf("build kt: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%d events of %d bytes, %d cores, temp dir %s\n", n, len(newBatch(1).body), runtime.NumCPU(), dir)

	var rows []row
	// add measures the row of the receiver that mk makes.
	add := func(mk func() (receiver, error)) error {
		rcv, err := mk()
		if err != nil {
			return err
		}
		r, err := measure(bin, dir, n, timeout, rcv)
		if err != nil {
			return fmt.Errorf("%s: %w", rcv.name, err)
		}
		rows = append(rows, r)
		return nil
	}
	for _, s := range strings.Split(sinkList, ",") {
		var mks []func() (receiver, error)
		switch s = strings.TrimSpace(s); s {
		case "":
		case "splunk_hec":
			mks = append(mks, func() (receiver, error) { return hecReceiver(false) }, func() (receiver, error) { return hecReceiver(true) })
			if controls {
				mks = append(mks, nullReceiver)
			}
		case "elasticsearch":
			rcv, why, err := esReceiver(bin, dir, esURL)
			if err != nil {
				return fmt.Errorf("elasticsearch: %w", err)
			}
			if why != "" {
				fmt.Fprintln(os.Stderr, "elasticsearch: skipped:", why)
				rows = append(rows, row{name: "elasticsearch", skipped: why})
				continue
			}
			mks = append(mks, func() (receiver, error) { return rcv, nil })
			if controls {
				mks = append(mks, nullESReceiver)
			}
		default:
			return fmt.Errorf("unknown sink %q in -sinks (splunk_hec, elasticsearch)", s)
		}
		for _, mk := range mks {
			if err := add(mk); err != nil {
				return err
			}
		}
	}
	report(n, rows)
	return nil
}

func report(n int, rows []row) {
	args := strings.Join(os.Args[1:], " ")
	fmt.Printf("    go run ./bench/sinks %s\n\n", args)
	fmt.Printf("%d events of %d bytes; %d cores; ingest: %d clients × %d events per NDJSON POST, no sink; drain: from the agent's start on the same data dir until /v1/status shows its lag_entries at 0\n\n",
		n, len(newBatch(1).body), runtime.NumCPU(), clients, perPost)
	fmt.Printf("| sink | ingest events/s (no sink) | drain events/s | drain / ingest | ≥ %.1f× | agent CPU s per 10,000 events (drain) | receiver CPU s per 10,000 events | request body bytes per event | 1 h at %d/s (%d events) drains in | notes |\n",
		targetRatio, backlogRate, backlog)
	fmt.Printf("|---|---:|---:|---:|---|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Printf("| %s | — | — | — | — | — | — | — | — | skipped: %s |\n", r.name, r.skipped)
			continue
		}
		drain := fmt.Sprintf("%.0f", r.drainRate())
		if !r.complete {
			drain += " (incomplete: timed out)"
		}
		ratio := r.drainRate() / r.ingestRate()
		met := "**met**"
		if !r.complete || ratio < targetRatio {
			met = "**not met**"
		}
		recv := "—"
		if r.recvKnown {
			recv = fmt.Sprintf("%.2f", per10k(r.recvCPU, r.sent))
		}
		notes := append([]string{
			fmt.Sprintf("%d entries in %.1f s (agent ready after %.2f s); ingest %d in %.1f s, agent CPU %.2f s per 10,000",
				r.sent, r.drainDur.Seconds(), r.readyDur.Seconds(), r.ingested, r.ingestDur.Seconds(), per10k(r.ingestCPU, uint64(r.ingested))),
		}, r.notes...)
		if r.failed > 0 || r.deadLet > 0 {
			notes = append(notes, fmt.Sprintf("%d failed requests, %d dead-lettered", r.failed, r.deadLet))
		}
		fmt.Printf("| %s | %.0f | %s | %.2f× | %s | %.2f | %s | %.0f | %s | %s |\n", r.name, r.ingestRate(), drain, ratio, met,
			per10k(r.agentCPU, r.sent), recv, float64(r.wire)/float64(max(r.sent, 1)), minSec(backlog/r.drainRate()), strings.Join(notes, "; "))
	}
}

func per10k(d time.Duration, n uint64) float64 { return d.Seconds() / float64(max(n, 1)) * 10000 }

func minSec(sec float64) string {
	if sec > 1e9 {
		return "—"
	}
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
}

// ---- one row ----

const configTmpl = `
data_dir = %q
source "webhook" "bench" {
  listen = "127.0.0.1:0"
}
query_api {
  listen = "127.0.0.1:0"
}
`

// measure ingests n events into a fresh data dir, then drains them into
// rcv's sink.
func measure(bin, dir string, n int, timeout time.Duration, rcv receiver) (row, error) {
	r := row{name: rcv.name}
	if sinkAttrs != "" {
		r.name += ", with `" + sinkAttrs + "`"
	}
	rdir := filepath.Join(dir, rcv.slug)
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return r, err
	}
	base := fmt.Sprintf(configTmpl, filepath.Join(rdir, "data"))

	// 1. Ingest, no sink.
	cfg := filepath.Join(rdir, "ingest.hcl")
	if err := os.WriteFile(cfg, []byte(base), 0o600); err != nil {
		return r, err
	}
	a, err := startAgent(bin, cfg, filepath.Join(rdir, "ingest.log"), "")
	if err != nil {
		return r, err
	}
	cpu0 := benchkit.ProcCPU(a.pid())
	r.ingested, r.ingestDur, err = ingest(a.webhook, n, timeout)
	r.ingestCPU = benchkit.ProcCPU(a.pid()) - cpu0
	if err != nil {
		a.stop()
		return r, fmt.Errorf("ingest: %w\n%s", err, benchkit.Tail(a.logPath, 10))
	}
	if err := a.stop(); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "%s: ingested %d in %s: %.0f/s\n", rcv.name, r.ingested, r.ingestDur.Round(time.Millisecond), r.ingestRate())

	// 2. Drain: the same config plus the sink.
	cfg = filepath.Join(rdir, "drain.hcl")
	block := rcv.block
	if sinkAttrs != "" {
		block = strings.TrimSuffix(block, "}\n") + "  " + sinkAttrs + "\n}\n"
	}
	if err := os.WriteFile(cfg, []byte(base+block), 0o600); err != nil {
		return r, err
	}
	profile := ""
	if cpuProfile != "" {
		profile = cpuProfile + "-" + rcv.slug + ".pprof"
	}
	recv0, _ := rcv.cpu()
	wire0 := rcv.wire()
	a, err = startAgent(bin, cfg, filepath.Join(rdir, "drain.log"), profile)
	if err != nil {
		return r, err
	}
	r.readyDur = a.ready.Sub(a.start)
	var sk sinkStatus
	var entries uint64
	deadline := a.start.Add(timeout)
	lastLog := time.Now()
	for {
		select {
		case err := <-a.exited:
			return r, fmt.Errorf("agent exited during the drain: %v\n%s", err, benchkit.Tail(a.logPath, 20))
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			break
		}
		st, err := status(a.api)
		if err != nil {
			continue
		}
		found := false
		for _, s := range st.Sinks {
			if s.Name == sinkName && s.Type == rcv.typ {
				sk, found = s, true
			}
		}
		if !found {
			a.stop()
			return r, fmt.Errorf("no sink %s %q in /v1/status", rcv.typ, sinkName)
		}
		entries = st.Ledger.Entries
		if sk.LagEntries == 0 && sk.Sent > 0 {
			r.complete = true
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			fmt.Fprintf(os.Stderr, "%s: %.0f s, %d sent, lag %d\n", rcv.name, time.Since(a.start).Seconds(), sk.Sent, sk.LagEntries)
		}
	}
	r.drainDur = time.Since(a.start)
	r.agentCPU = benchkit.ProcCPU(a.pid())
	if c, ok := rcv.cpu(); ok {
		r.recvCPU, r.recvKnown = c-recv0, true
	}
	r.wire = rcv.wire() - wire0
	r.entries, r.sent, r.failed, r.deadLet = entries, sk.Sent, sk.Failed, sk.DeadLettered
	fmt.Fprintf(os.Stderr, "%s: drained %d of %d entries in %s (ready after %s): %.0f/s, agent CPU %s\n", rcv.name, r.sent, r.entries,
		r.drainDur.Round(time.Millisecond), r.readyDur.Round(time.Millisecond), r.drainRate(), r.agentCPU)
	if err := a.stop(); err != nil {
		return r, err
	}
	if rcv.after != nil {
		rcv.after(&r)
	}
	if !r.complete {
		r.notes = append(r.notes, fmt.Sprintf("lag not 0 after %s", timeout))
	}
	return r, nil
}

// ---- the agent ----

type agentProc struct {
	cmd          *exec.Cmd
	exited       chan error
	start, ready time.Time
	webhook, api string // http://host:port/v1/events, http://host:port
	logPath      string
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// startAgent starts `kt agent` and returns once it logged that it runs
// (within a minute).
func startAgent(bin, cfg, logPath, profile string) (*agentProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	w := &readyWatch{f: f, ready: make(chan readyLine, 1)}
	args := []string{"agent", "--config", cfg, "--log-format", "json"}
	if profile != "" {
		args = append(args, "--cpu-profile", profile)
	}
	a := &agentProc{cmd: exec.Command(bin, args...), exited: make(chan error, 1), logPath: logPath}
	a.cmd.Stdout, a.cmd.Stderr = w, w
	a.start = time.Now()
	if err := a.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := a.cmd.Process
	benchkit.AtExit(func() { p.Kill() })
	go func() {
		err := a.cmd.Wait()
		f.Close()
		a.exited <- err
	}()
	select {
	case l := <-w.ready:
		a.ready = time.Now()
		a.api = "http://" + l.QueryAPI
		for _, addr := range l.Webhooks {
			a.webhook = "http://" + addr + "/v1/events"
		}
		return a, nil
	case err := <-a.exited:
		return nil, fmt.Errorf("agent exited before it was ready: %v\n%s", err, benchkit.Tail(logPath, 20))
	case <-time.After(time.Minute):
		p.Kill()
		<-a.exited
		return nil, fmt.Errorf("agent not ready within a minute\n%s", benchkit.Tail(logPath, 20))
	}
}

// stop sends SIGTERM and waits up to a minute, then kills.
func (a *agentProc) stop() error {
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		return nil
	case <-time.After(time.Minute):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("agent did not stop within a minute of SIGTERM\n%s", benchkit.Tail(a.logPath, 20))
	}
}

type readyLine struct {
	Msg      string            `json:"msg"`
	Webhooks map[string]string `json:"webhooks"`
	QueryAPI string            `json:"query_api"`
}

// readyWatch writes the agent's log to a file and reports its "kt agent
// running" line.
type readyWatch struct {
	f     *os.File
	buf   []byte
	ready chan readyLine
	seen  bool
}

func (w *readyWatch) Write(p []byte) (int, error) {
	w.f.Write(p)
	if w.seen {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var l readyLine
		if json.Unmarshal(w.buf[:i], &l) == nil && l.Msg == "kt agent running" {
			w.seen, w.buf = true, nil
			w.ready <- l
			return len(p), nil
		}
		w.buf = w.buf[i+1:]
	}
}

// ---- ingest ----

const idPrefix = "sinkbench-"

// postBatch is one NDJSON body of perPost events whose 12-digit id
// counters are overwritten in place for each POST.
type postBatch struct {
	body    []byte
	lineLen int
	slots   []int // per line, the offsets of its counters
}

func newBatch(lines int) *postBatch {
	line := append(bytes.ReplaceAll(benchkit.Template(), []byte("__ID__"), []byte(idPrefix+"000000000000")), '\n')
	b := &postBatch{lineLen: len(line)}
	var offs []int
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(idPrefix))
		if j < 0 {
			break
		}
		offs = append(offs, i+j+len(idPrefix))
		i += j + len(idPrefix)
	}
	for k := 0; k < lines; k++ {
		for _, o := range offs {
			b.slots = append(b.slots, len(b.body)+o)
		}
		b.body = append(b.body, line...)
	}
	return b
}

// fill sets the ids of the first m lines to first, first+1, ... and
// returns them.
func (b *postBatch) fill(first, m int) []byte {
	per := len(b.slots) / (len(b.body) / b.lineLen)
	for k := 0; k < m; k++ {
		id := first + k
		var d [12]byte
		for i := 11; i >= 0; i-- {
			d[i] = byte('0' + id%10)
			id /= 10
		}
		for _, s := range b.slots[k*per : (k+1)*per] {
			copy(b.body[s:s+12], d[:])
		}
	}
	return b.body[:m*b.lineLen]
}

// ingest posts n events and returns how many were accepted and how long
// it took, from the first POST to the last answer.
func ingest(url string, n int, timeout time.Duration) (int, time.Duration, error) {
	client := &http.Client{Timeout: time.Minute}
	batches := (n + perPost - 1) / perPost
	var next, accepted atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			b := newBatch(perPost)
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= batches {
					return
				}
				m := min(perPost, n-k*perPost)
				body := b.fill(k*perPost, m)
				// Retry the same ids until they are in (deduplicated if
				// an earlier attempt made it).
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/x-ndjson")
					resp, err := client.Do(req)
					if err != nil {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					var res struct {
						Accepted   int `json:"accepted"`
						Duplicates int `json:"duplicates"`
					}
					json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						accepted.Add(int64(res.Accepted))
						break
					}
					if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
						errOnce.Do(func() { firstErr = fmt.Errorf("webhook answered %s", resp.Status) })
						cancel()
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return int(accepted.Load()), elapsed, firstErr
	}
	if ctx.Err() != nil {
		return int(accepted.Load()), elapsed, fmt.Errorf("%d of %d events accepted within %s", accepted.Load(), n, timeout)
	}
	return int(accepted.Load()), elapsed, nil
}

// ---- Splunk HEC ----

// hecReceiver starts hectest in this process.
func hecReceiver(ack bool) (receiver, error) {
	srv, err := newHEC(hectest.Options{Ack: ack})
	if err != nil {
		return receiver{}, err
	}
	benchkit.AtExit(srv.Close)
	rcv := receiver{name: "splunk_hec, gzip", slug: "splunk_hec", typ: "splunk_hec"}
	extra := ""
	if ack {
		rcv.name, rcv.slug = "splunk_hec, gzip, ack = true (poll 10ms, in_flight 4)", "splunk_hec-ack"
		extra = "  ack               = true\n  ack_poll_interval = \"10ms\"\n"
		if !strings.Contains(sinkAttrs, "in_flight") { // -sink-attrs may set it for every row
			extra += "  in_flight         = 4\n"
		}
	}
	rcv.block = fmt.Sprintf("sink \"splunk_hec\" %q {\n  endpoint = %q\n  token    = %q\n%s}\n", sinkName, srv.URL(), srv.Token, extra)
	self := os.Getpid()
	rcv.cpu = func() (time.Duration, bool) { return benchkit.ProcCPU(self), true }
	rcv.wire = func() int64 {
		var n int64
		for _, q := range srv.Requests() {
			n += int64(q.WireBytes)
		}
		return n
	}
	rcv.after = func(r *row) {
		var events, polls int
		var eventBytes int64
		for _, q := range srv.Requests() {
			if q.Path == "/services/collector/ack" {
				polls++
			} else {
				events++
				eventBytes += int64(q.WireBytes)
			}
		}
		ids := map[string]bool{}
		dup := 0
		for _, e := range srv.Events() {
			if e.Field("kt_record") != "entry" {
				continue
			}
			if ids[e.ID()] {
				dup++
			}
			ids[e.ID()] = true
		}
		note := fmt.Sprintf("hectest: %d event requests (%.0f entries each, %.0f B per entry), %d ack polls; %d distinct entries indexed, %d copies",
			events, float64(r.sent)/float64(max(events, 1)), float64(eventBytes)/float64(max(r.sent, 1)), polls, len(ids), dup)
		r.notes = append(r.notes, note)
		if uint64(len(ids)) < r.entries {
			r.notes = append(r.notes, fmt.Sprintf("**%d of %d ledger entries missing at the receiver**", r.entries-uint64(len(ids)), r.entries))
		}
		srv.Close()
		srv.Reset() // free the recorded events before the next row
	}
	return rcv, nil
}

// nullReceiver is a control for the splunk_hec rows: an HTTP server in
// this process that reads each request body, discards it and answers HEC's
// success, so that the agent alone bounds the drain.
func nullReceiver() (receiver, error) {
	return controlReceiver("splunk_hec, gzip → null receiver (control: reads and discards, answers Success)", "splunk_hec",
		"  endpoint = \"http://%s\"\n  token    = \"bench\"\n",
		func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			io.WriteString(w, `{"text":"Success","code":0}`)
			return true
		})
}

// nullESReceiver is the control for the elasticsearch row: it acknowledges
// the template, reads each bulk body, discards it and answers that every
// document was created.
func nullESReceiver() (receiver, error) {
	return controlReceiver("elasticsearch → null receiver (control: reads and discards, answers created)", "elasticsearch",
		"  addresses        = [\"http://%s\"]\n  install_template = true\n",
		func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/_bulk") {
				io.WriteString(w, `{"errors":false,"items":[]}`)
				return true
			}
			io.WriteString(w, `{"acknowledged":true}`)
			return false
		})
}

// controlReceiver runs an HTTP server in this process that reads and
// discards each request body and lets answer reply; answer reports whether
// the request carried records (its bytes are counted). attrs is the sink
// block's body, with %s for the server's address.
func controlReceiver(name, typ, attrs string, answer func(http.ResponseWriter, *http.Request) bool) (receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return receiver{}, err
	}
	var wire, reqs atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := io.Copy(io.Discard, r.Body)
		if answer(w, r) {
			wire.Add(k)
			reqs.Add(1)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	benchkit.AtExit(func() { srv.Close() })
	self := os.Getpid()
	return receiver{
		name: name, slug: typ + "-null", typ: typ,
		block: fmt.Sprintf("sink %q %q {\n"+attrs+"}\n", typ, sinkName, ln.Addr()),
		cpu:   func() (time.Duration, bool) { return benchkit.ProcCPU(self), true },
		wire:  wire.Load,
		after: func(r *row) {
			r.notes = append(r.notes, fmt.Sprintf("%d requests with records", reqs.Load()))
			srv.Close()
		},
	}, nil
}

// newHEC runs hectest.New outside a test: hectest asks for a testing.TB
// only to report a failed listen and to register its Close.
func newHEC(opts hectest.Options) (s *hectest.Server, err error) {
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(tbFatal)
			if !ok {
				panic(v)
			}
			err = errors.New(string(f))
		}
	}()
	return hectest.New(benchTB{}, opts), nil
}

// benchTB is the part of testing.TB that hectest.New uses. Fatalf panics
// with a tbFatal, which newHEC turns into an error; Cleanup is dropped
// (the caller closes the server).
type benchTB struct{ testing.TB }

type tbFatal string

func (benchTB) Helper()                         {}
func (benchTB) Cleanup(func())                  {}
func (benchTB) Fatalf(format string, a ...any)  { panic(tbFatal(fmt.Sprintf(format, a...))) }
func (benchTB) Fatal(a ...any)                  { panic(tbFatal(fmt.Sprint(a...))) }
func (benchTB) Errorf(format string, a ...any)  { panic(tbFatal(fmt.Sprintf(format, a...))) }
func (benchTB) Logf(format string, args ...any) {}

// ---- Elasticsearch ----

// esReceiver checks that the agent accepts an elasticsearch sink, starts a
// node (unless esURL is given) and a counting proxy in front of it. why is
// not "" when the row is to be skipped.
func esReceiver(bin, dir, esURL string) (rcv receiver, why string, err error) {
	rcv = receiver{name: "elasticsearch", slug: "elasticsearch", typ: "elasticsearch"}
	index := fmt.Sprintf("logs-ktbench.audit-%d", time.Now().Unix())
	block := func(addr string) string {
		return fmt.Sprintf("sink \"elasticsearch\" %q {\n  addresses        = [%q]\n  index            = %q\n  install_template = true\n}\n", sinkName, addr, index)
	}
	// Does the agent take the block? Checked before a node is started.
	check := filepath.Join(dir, "es-check.hcl")
	text := fmt.Sprintf(configTmpl, filepath.Join(dir, "es-check-data")) + block("http://127.0.0.1:9200")
	if err := os.WriteFile(check, []byte(text), 0o600); err != nil {
		return rcv, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, verr := exec.CommandContext(ctx, bin, "config", "validate", check).CombinedOutput()
	cancel()
	if verr != nil {
		return rcv, "the agent does not accept the sink block yet (`kt config validate`: " + oneLine(out) + ")", nil
	}

	var pgid int
	if esURL == "" {
		port, err := freePort()
		if err != nil {
			return rcv, "", err
		}
		esDir := filepath.Join(dir, "es-node")
		if err := os.MkdirAll(esDir, 0o755); err != nil {
			return rcv, "", err
		}
		benchkit.AtExit(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			exec.CommandContext(ctx, "scripts/peers/elasticsearch", "stop", esDir).Run()
		})
		fmt.Fprintf(os.Stderr, "elasticsearch: starting a node on 127.0.0.1:%d\n", port)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "scripts/peers/elasticsearch", "start", esDir, strconv.Itoa(port)).CombinedOutput()
		cancel()
		if err != nil {
			return rcv, "the node did not start: " + oneLine(out), nil
		}
		fmt.Fprintf(os.Stderr, "elasticsearch: up in %s\n", time.Since(t0).Round(100*time.Millisecond))
		esURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		if b, err := os.ReadFile(filepath.Join(esDir, "es.pid")); err == nil {
			pgid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	target, err := url.Parse(esURL)
	if err != nil {
		return rcv, "", fmt.Errorf("-es-url: %w", err)
	}
	var wire atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rcv, "", err
	}
	ps := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = &countingBody{r.Body, &wire}
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go ps.Serve(ln)
	benchkit.AtExit(func() { ps.Close() })
	rcv.block = block("http://" + ln.Addr().String())
	rcv.wire = wire.Load
	rcv.cpu = func() (time.Duration, bool) {
		if pgid == 0 {
			return 0, false
		}
		return groupCPU(pgid), true
	}
	rcv.after = func(r *row) {
		proxyNote := "bytes: request bodies counted by a reverse proxy in the bench process"
		if pgid == 0 {
			proxyNote += "; receiver CPU unknown (-es-url)"
		} else {
			proxyNote += fmt.Sprintf("; receiver CPU: the node's process group %d", pgid)
		}
		r.notes = append(r.notes, proxyNote)
		if n, err := esCount(esURL, index); err == nil {
			r.notes = append(r.notes, fmt.Sprintf("%s/_count: %d documents", index, n))
		}
	}
	return rcv, "", nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func esCount(base, index string) (int64, error) {
	resp, err := httpClient.Post(base+"/"+index+"/_refresh", "application/json", nil)
	if err == nil {
		resp.Body.Close()
	}
	resp, err = httpClient.Get(base + "/" + index + "/_count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return 0, err
	}
	return c.Count, nil
}

// groupCPU sums the CPU time of every process in process group pgid.
func groupCPU(pgid int) time.Duration {
	ents, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) { // field 5, pgrp
			sum += benchkit.ProcCPU(pid)
		}
	}
	return sum
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ---- helpers ----

var httpClient = &http.Client{Timeout: 5 * time.Second}

// pollEvery is how often the drain polls GET /v1/status: the drain time
// is known to this much. (Polling /metrics as often cost the agent about
// a tenth of its CPU: the Go and process collectors run at every scrape.)
const pollEvery = 50 * time.Millisecond

type sinkStatus struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	LagEntries   uint64 `json:"lag_entries"`
	Sent         uint64 `json:"sent"`
	Failed       uint64 `json:"failed"`
	DeadLettered uint64 `json:"dead_lettered"`
}

type agentStatus struct {
	Ledger struct {
		Entries uint64 `json:"entries"`
	} `json:"ledger"`
	Sinks []sinkStatus `json:"sinks"`
}

// status reads the agent's GET /v1/status.
func status(api string) (agentStatus, error) {
	var st agentStatus
	resp, err := httpClient.Get(api + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /v1/status: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// oneLine squeezes command output into one short line for a table cell.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
