package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeptrusts/kt/internal/crashfs"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/queue"
)

// The power-cut rig: one kt data dir on a crashfs mount (internal/crashfs),
// the real agent running on it, webhook clients and a writer appending to a
// file the file source tails (outside the mount: the producer's own disk),
// and the checks run after each cut. A cut freezes the filesystem, SIGKILLs
// the agent, lets the model drop what was not durable, mounts again, runs
// `kt verify`, checks every acknowledged event, restarts the agent and
// checks again once it took more events.

// pcOptions say what runs on a rig.
type pcOptions struct {
	source bool // a file source with a writer
	sink   bool // a file sink on the mount
}

// pcRig is one data dir on a crashfs mount and the agent and load on it.
type pcRig struct {
	t       *testing.T
	name    string
	opts    pcOptions
	fs      *crashfs.FS
	m       *crashfs.Mount
	mnt     string
	dataDir string
	srcFile string
	sinkOut string
	config  string
	agent   *ktProc
	pubFile string          // the public key the ledger's events are signed with, kept off the mount
	pubErr  error           // why the public key could not be read at the last start
	lost    map[string]bool // acknowledged ids already reported missing
	seen    map[string]bool // findings made
	failed  bool            // a finding was made
	hook    *hookLoad
	writer  *lineWriter
	log     *findings
}

// findings collects what the power-cut test found, for one summary.
type findings struct {
	mu    sync.Mutex
	lines []string
}

func (f *findings) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, s)
}

func (f *findings) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lines)
}

// newPCRig mounts fsys (a new, empty one if nil) and writes the config.
func newPCRig(t *testing.T, name string, fsys *crashfs.FS, opts pcOptions, log *findings) *pcRig {
	t.Helper()
	if fsys == nil {
		fsys = crashfs.New()
	}
	r := &pcRig{t: t, name: name, opts: opts, fs: fsys, mnt: t.TempDir(), log: log, lost: map[string]bool{}, seen: map[string]bool{}}
	r.dataDir = filepath.Join(r.mnt, "kt")
	r.sinkOut = filepath.Join(r.dataDir, "out", "audit.ndjson")
	side := t.TempDir()
	r.srcFile = filepath.Join(side, "audit.log")
	r.pubFile = filepath.Join(side, "trusted.pub")
	r.hook = newHookLoad("pch-" + name)
	r.writer = newLineWriter(r.srcFile, "pcl-"+name)
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir = %q\nsigning {\n  checkpoint_interval = \"300ms\"\n}\nledger {\n  segment_bytes = %d\n}\n", r.dataDir, segmentBytes)
	b.WriteString("source \"webhook\" \"hook\" {\n  listen = \"127.0.0.1:0\"\n}\n")
	if opts.source {
		fmt.Fprintf(&b, "source \"file\" \"tail\" {\n  paths = [%q]\n  poll_interval = \"200ms\"\n}\n", r.srcFile)
		// The file exists before the agent starts, so that the first start
		// reads lines and saves a position.
		if err := r.writer.write(3); err != nil {
			t.Fatal(err)
		}
	}
	if opts.sink {
		fmt.Fprintf(&b, "sink \"file\" \"out\" {\n  path = %q\n  heartbeat_interval = \"1s\"\n}\n", r.sinkOut)
	}
	b.WriteString("query_api {\n  listen = \"127.0.0.1:0\"\n}\n")
	r.config = filepath.Join(side, "kt.hcl")
	if err := os.WriteFile(r.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.mount()
	t.Cleanup(func() { r.close(t) })
	return r
}

func (r *pcRig) mount() {
	r.t.Helper()
	m, err := r.fs.Mount(r.mnt)
	if err != nil {
		r.t.Fatalf("power cut %s: %v", r.name, err)
	}
	r.m = m
}

// fail records a finding of the product at a cut point.
// A finding already made on the rig is only logged again.
func (r *pcRig) fail(where, format string, args ...any) {
	r.t.Helper()
	what := fmt.Sprintf(format, args...)
	msg := fmt.Sprintf("power cut %s: %s: %s", r.name, where, what)
	r.failed = true
	if r.seen[what] {
		r.t.Logf("%s (again)", msg)
		return
	}
	r.seen[what] = true
	r.log.add(msg)
	r.t.Error(msg)
}

// findingLines returns what kt verify reported, without its warnings and
// summary, so that one finding reads the same at every cut.
func findingLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "warning:") || strings.Contains(l, ": TAMPER EVIDENCE: ") || strings.Contains(l, ": OK: ") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 8 {
		keep = append(keep[:8], fmt.Sprintf("... (%d lines)", len(keep)))
	}
	return strings.Join(keep, "\n")
}

// start starts the agent and waits until it runs or the filesystem freezes
// (errCut).
func (r *pcRig) start() error {
	a, err := launchKT(r.config)
	if err != nil {
		return err
	}
	r.agent = a
	if err := a.waitReady(r.fs.Cut()); err != nil {
		return err
	}
	r.pubErr = nil
	if len(r.hook.ackedIDs()) == 0 {
		// Before the first acknowledgement the agent may still make a new key.
		b, err := os.ReadFile(filepath.Join(r.dataDir, "signing.key.pub"))
		if err == nil {
			err = os.WriteFile(r.pubFile, b, 0o600)
		} else {
			r.pubErr = err
			_ = os.Remove(r.pubFile)
		}
	}
	r.hook.setURL(a.webhook)
	return nil
}

func (r *pcRig) startLoad() {
	r.hook.start()
	if r.opts.source {
		r.writer.start()
	}
}

// cut freezes the filesystem (if no rule did), kills the agent, applies
// model m and mounts what survived. It returns where the cut was.
func (r *pcRig) cut(m crashfs.Model) string {
	r.t.Helper()
	r.fs.Freeze()
	r.hook.setURL("")
	if r.agent != nil {
		if err := r.agent.kill(r.fs); err != nil {
			r.t.Fatalf("power cut %s: %v", r.name, err)
		}
		r.agent = nil
	}
	where := r.fs.CutPoint() + " [" + m.String() + "]"
	if err := r.m.Unmount(); err != nil {
		r.t.Fatalf("power cut %s: %v", r.name, err)
	}
	r.m = nil
	if err := r.fs.PowerCut(m); err != nil {
		r.t.Fatalf("power cut %s: %v", r.name, err)
	}
	r.mount()
	return where
}

// verify runs kt verify on the data dir (and the trusted key once there is
// one); it returns the exit code and the output.
func (r *pcRig) verify(extra ...string) (int, string) {
	args := []string{"verify", "--data-dir", r.dataDir}
	if _, err := os.Stat(r.pubFile); err == nil {
		args = append(args, "--trust", r.pubFile)
	}
	args = append(args, extra...)
	cmd := exec.Command(ktBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return code, out.String()
}

// ledgerIDs counts the event ids in the ledger's segments.
func ledgerIDs(dataDir string) (map[string]int, []queue.Damage, error) {
	counts := map[string]int{}
	damage, err := queue.Scan(layout.Ledger(dataDir), func(rec queue.Item) error {
		if rec.Kind != queue.ItemEntry {
			return nil
		}
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(rec.Line, &m); err != nil {
			return err
		}
		counts[m.ID]++
		return nil
	})
	return counts, damage, err
}

// notLost returns the ids not already reported missing.
func (r *pcRig) notLost(ids []string) []string {
	out := ids[:0:0]
	for _, id := range ids {
		if !r.lost[id] {
			out = append(out, id)
		}
	}
	return out
}

// markLost remembers the ids missing from counts, so that they are
// reported once.
func (r *pcRig) markLost(ids []string, counts map[string]int) {
	for _, id := range ids {
		if counts[id] == 0 {
			r.lost[id] = true
		}
	}
}

// missing returns the ids not in counts, and a short sample of them.
func missing(ids []string, counts map[string]int) (int, string) {
	var miss []string
	for _, id := range ids {
		if counts[id] == 0 {
			miss = append(miss, id)
		}
	}
	return len(miss), sample(miss)
}

func sample(ids []string) string {
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + ", ..."
	}
	return strings.Join(ids, ", ")
}

// ourEvents returns how many ids the test posted or wrote the ledger
// holds, and the ids it holds more than once.
func (r *pcRig) ourEvents(counts map[string]int) (int, []string) {
	n := 0
	var dups []string
	for id, c := range counts {
		if strings.HasPrefix(id, "pch-") || strings.HasPrefix(id, "pcl-") || strings.HasPrefix(id, "pcf-") {
			n++
			if c > 1 {
				dups = append(dups, fmt.Sprintf("%s x%d", id, c))
			}
		}
	}
	sort.Strings(dups)
	return n, dups
}

// checkCut runs the checks on what a cut left, before the agent restarts.
func (r *pcRig) checkCut(where string) {
	r.t.Helper()
	acked := r.hook.ackedIDs()
	_, err := os.Stat(r.dataDir)
	if len(acked) == 0 && errors.Is(err, fs.ErrNotExist) {
		return // the cut came before the data dir was durable: a fresh start follows
	}
	code, out := r.verify()
	switch {
	case code == 1:
		r.fail(where, "kt verify --data-dir before the restart reports tamper evidence (exit 1):\n%s", findingLines(out))
	case code != 0 && len(acked) > 0:
		r.fail(where, "kt verify --data-dir before the restart could not run (exit %d) although events were acknowledged:\n%s", code, findingLines(out))
	case code != 0:
		r.t.Logf("power cut %s: %s: kt verify before the first acknowledgement: exit %d: %s", r.name, where, code, strings.TrimSpace(out))
	}
	counts, damage, err := ledgerIDs(r.dataDir)
	if err != nil && len(acked) > 0 {
		r.fail(where, "reading the ledger after the cut: %v", err)
		return
	}
	if n, ex := missing(r.notLost(acked), counts); n > 0 {
		have, _ := r.ourEvents(counts)
		r.fail(where, "%d of %d acknowledged webhook events are not in the ledger after the cut (e.g. %s); it holds %d events of this test, damage %v",
			n, len(acked), ex, have, damage)
		r.markLost(acked, counts)
	}
	if _, dups := r.ourEvents(counts); len(dups) > 0 {
		r.fail(where, "events in the ledger more than once after the cut: %s", sample(dups))
	}
	if r.opts.source {
		r.checkPositions(where, counts)
	}
}

// checkPositions checks that the source's saved position is never ahead of
// the ledger: every line before it is in the ledger.
func (r *pcRig) checkPositions(where string, counts map[string]int) {
	p := filepath.Join(r.dataDir, "sources", "file", "tail", "positions.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		r.fail(where, "reading %s: %v", p, err)
		return
	}
	var doc struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		r.fail(where, "the file source's positions.json after the cut is not JSON (%v): %q", err, b)
		return
	}
	for _, f := range doc.Files {
		if f.Path != r.srcFile {
			continue
		}
		lines := r.writer.upTo(f.Offset)
		if n, ex := missing(lines, counts); n > 0 {
			r.fail(where, "the saved file position (offset %d, %d lines) is ahead of the ledger: %d of those lines are not in it (e.g. %s)",
				f.Offset, len(lines), n, ex)
		}
	}
}

// restart starts the agent again after a cut and checks that it comes up
// and takes more events; with live, kt verify then runs on the running
// agent, made idle (else the final verify of finish is the one after
// recovery).
func (r *pcRig) restart(where string, live bool) bool {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.fail(where, "the agent does not start again: %v", err)
		return false
	}
	if r.pubErr != nil {
		r.fail(where, "the agent runs again, but without its public key: %v", r.pubErr)
	}
	if !r.takesEvents(where) {
		return false
	}
	if r.opts.sink {
		r.checkSinkLines(where)
	}
	if !live {
		return true
	}
	// kt verify runs while the agent is idle: a verify that races a
	// commit is another matter than what a power cut leaves.
	r.quiesce(where)
	code, out := r.verify()
	r.hook.resume()
	r.writer.paused.Store(false)
	if code != 0 {
		r.fail(where, "kt verify --data-dir after recovery reports (exit %d):\n%s", code, findingLines(out))
	}
	return true
}

// quiesce pauses the load and waits until the ledger has made no commit
// for 800ms (checkpoint_interval is 300ms).
func (r *pcRig) quiesce(where string) {
	r.hook.pause()
	r.writer.paused.Store(true)
	var last query.LedgerStatus
	stable := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := r.status()
		if err == nil && st.Ledger.Entries == last.Entries && st.Ledger.Commits == last.Commits {
			if time.Since(stable) > 800*time.Millisecond {
				return
			}
		} else if err == nil {
			last, stable = st.Ledger, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Logf("power cut %s: %s: the ledger did not go idle within 20s", r.name, where)
}

// status returns the agent's /v1/status.
func (r *pcRig) status() (query.Status, error) {
	var st query.Status
	resp, err := http.Get(r.agent.api + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// takesEvents waits until the agent acknowledged two more webhook batches.
func (r *pcRig) takesEvents(where string) bool {
	base := r.hook.batches.Load()
	deadline := time.Now().Add(30 * time.Second)
	for r.hook.batches.Load() < base+2 {
		select {
		case <-r.agent.done:
			r.fail(where, "the agent exited while taking events after recovery:\n%s", r.agent.tail(15))
			return false
		default:
		}
		if time.Now().After(deadline) {
			r.fail(where, "the agent acknowledged no webhook batch within 30s of its restart:\n%s", r.agent.tail(15))
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// finish stops the load, waits until everything written is in the ledger
// and the sink, stops the agent cleanly, and checks the whole run: every
// acknowledged event and every source line exactly once, both copies
// verify.
func (r *pcRig) finish(where string) {
	r.t.Helper()
	r.hook.stop()
	if r.opts.source {
		r.writer.stop()
		if err := r.writer.err; err != nil {
			r.t.Fatalf("power cut %s: writing the source file: %v", r.name, err)
		}
	}
	for _, u := range r.hook.unexpectedAnswers() {
		r.fail(where, "the webhook refused an event: %s", u)
	}
	lines := r.writer.all()
	if r.opts.source {
		deadline := time.Now().Add(60 * time.Second)
		for {
			counts, _, err := ledgerIDs(r.dataDir)
			n, ex := missing(lines, counts)
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				r.fail(where, "%d of %d lines of the source file are not in the ledger 60s after the last was written (e.g. %s)", n, len(lines), ex)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if r.opts.sink {
		r.waitSink(where)
	}
	if err := r.agent.stop(); err != nil {
		r.fail(where, "%v", err)
	}
	r.agent = nil

	acked := r.hook.ackedIDs()
	counts, damage, err := ledgerIDs(r.dataDir)
	if err != nil {
		r.fail(where, "reading the ledger at the end: %v", err)
		return
	}
	if len(damage) > 0 {
		r.fail(where, "the ledger holds damage after a clean stop: %v", damage)
	}
	if n, ex := missing(r.notLost(acked), counts); n > 0 {
		r.fail(where, "%d of %d acknowledged webhook events are not in the ledger at the end (e.g. %s)", n, len(acked), ex)
	}
	if _, dups := r.ourEvents(counts); len(dups) > 0 {
		r.fail(where, "events in the ledger more than once at the end: %s", sample(dups))
	}
	if code, out := r.verify(); code != 0 {
		r.fail(where, "kt verify --data-dir at the end (exit %d):\n%s", code, findingLines(out))
	}
	if r.opts.sink {
		r.checkSink(where, r.notLost(append(acked, lines...)))
	}
	r.t.Logf("power cut %s: %d webhook events and %d source lines acknowledged and checked", r.name, len(acked), len(lines))
}

// waitSink waits until the file sink delivered every ledger entry.
func (r *pcRig) waitSink(where string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := r.status()
		if err == nil && len(st.Sinks) == 1 && st.Sinks[0].LagEntries == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.fail(where, "the file sink did not catch up within 60s: %+v %v", st.Sinks, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkSinkLines checks, once the agent runs again, that every complete
// line of the file sink's output is JSON: what a cut left half-written
// must have been cut or written again at the restart.
func (r *pcRig) checkSinkLines(where string) {
	b, err := os.ReadFile(r.sinkOut)
	if err != nil {
		r.fail(where, "reading the file sink's output after recovery: %v", err)
		return
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1] // the line being written may be incomplete
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(b) > 0 && !json.Valid(l) {
			r.fail(where, "line %d of the file sink's output is not JSON after recovery (%d bytes): %q...", i+1, len(l), l[:min(len(l), 24)])
			return
		}
	}
}

// checkSink checks that the file sink's output holds every id and verifies
// against the trusted key.
func (r *pcRig) checkSink(where string, ids []string) {
	b, err := os.ReadFile(r.sinkOut)
	if err != nil {
		r.fail(where, "reading the file sink's output: %v", err)
		return
	}
	have := map[string]int{}
	for i, l := range bytes.Split(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(l, &m); err != nil {
			r.fail(where, "the file sink's output line %d is not JSON (%v): %q", i+1, err, l[:min(len(l), 80)])
			continue
		}
		have[m.ID]++
	}
	if n, ex := missing(ids, have); n > 0 {
		r.fail(where, "%d of %d acknowledged events are not in the file sink's output (e.g. %s)", n, len(ids), ex)
	}
	args := []string{"verify"}
	if _, err := os.Stat(r.pubFile); err == nil {
		args = append(args, "--trust", r.pubFile)
	}
	cmd := exec.Command(ktBin, append(args, r.sinkOut)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.fail(where, "kt verify of the file sink's output: %v:\n%s", err, findingLines(string(out)))
	}
}
