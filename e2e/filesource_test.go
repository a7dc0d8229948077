package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
)

// The file source tests drive the real kt binary with files written by the
// test and rotated by Debian's logrotate (installed by scripts/test-all).
// Every event a writer appends carries the id "w<file>-<n>": <file> counts
// the files (inodes, or contents after a truncation) the writer wrote to,
// <n> numbers the events of the test. The checks: every number exactly once
// in the ledger and, per written file, in increasing order of seq.

// writeFileSourceConfig writes a config with one `source "file" "cp"` block
// over paths, the file sink and the query API; extra goes into the source
// block.
func writeFileSourceConfig(t *testing.T, dataDir string, paths []string, extra string) string {
	t.Helper()
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	cfg := fmt.Sprintf(`
data_dir = %q
signing {
  checkpoint_interval = "1s"
}
source "file" "cp" {
  paths = [%s]
  poll_interval = "200ms"
  %s
}
sink "file" "out" {
  path = %q
  heartbeat_interval = "1s"
}
query_api {
  listen = "127.0.0.1:0"
}
`, dataDir, strings.Join(quoted, ", "), extra, filepath.Join(dataDir, "out", "audit.ndjson"))
	p := filepath.Join(t.TempDir(), "kt.hcl")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

// metricValue returns the sum of the samples of a metric on /metrics.
func metricValue(api, name string) (float64, error) {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not on /metrics", name)
	}
	return sum, nil
}

// waitLines waits until the file source made at least n lines ledger
// entries. On a timeout it fails the test but returns, so that the caller
// can still stop the agent and name the missing events.
func waitLines(t *testing.T, a *agentProc, n int, within time.Duration) bool {
	t.Helper()
	var last float64
	ok := assert.Eventually(t, func() bool {
		v, err := metricValue(a.api, "kt_file_source_lines_total")
		last = v
		return err == nil && v >= float64(n)
	}, within, 50*time.Millisecond)
	if !ok {
		t.Errorf("the file source made %v of %d lines entries within %v:\n%s", last, n, within, a.Logs())
	}
	return ok
}

// auditWriter appends numbered events to path the way a control plane
// does: one line per write(2), O_APPEND, and a reopen when the path no
// longer names its open file.
type auditWriter struct {
	path string
	// createAfter: when path is missing, keep writing to the open
	// descriptor until it has been missing this long, then create the file;
	// negative: never create it (logrotate's `create` does).
	createAfter time.Duration

	mu      sync.Mutex
	f       *os.File
	ino     uint64
	file    int // index of the written file, in the ids
	missing time.Time
	n       int
	files   []int // files[n]: the written file of event n
}

func newAuditWriter(t *testing.T, path string, createAfter time.Duration) *auditWriter {
	w := &auditWriter{path: path, createAfter: createAfter, file: -1}
	w.mu.Lock()
	defer w.mu.Unlock()
	require.NoError(t, w.open())
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.f != nil {
			w.f.Close()
		}
	})
	return w
}

// open opens (creating) path as the next written file. w.mu is held.
func (w *auditWriter) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.ino, w.file, w.missing = f, fi.Sys().(*syscall.Stat_t).Ino, w.file+1, time.Time{}
	return nil
}

// reopenIfMoved follows the path to a new file. w.mu is held.
func (w *auditWriter) reopenIfMoved() error {
	fi, err := os.Stat(w.path)
	switch {
	case err == nil && fi.Sys().(*syscall.Stat_t).Ino == w.ino:
		return nil
	case err == nil:
		return w.open()
	case os.IsNotExist(err) && w.createAfter >= 0:
		if w.missing.IsZero() {
			w.missing = time.Now()
		}
		if time.Since(w.missing) >= w.createAfter {
			return w.open()
		}
		return nil
	case os.IsNotExist(err):
		return nil
	default:
		return err
	}
}

// newFile makes the content written from now on a new written file (after
// a truncation). w.mu is held.
func (w *auditWriter) newFile() { w.file++ }

// write appends one event. w.mu is held.
func (w *auditWriter) write() error {
	line := fmt.Sprintf(`{"id":"w%d-%d","time":"%s","action":"config.update","actor":"alice","n":%d}`+"\n",
		w.file, w.n, time.Now().UTC().Format(time.RFC3339Nano), w.n)
	if _, err := w.f.WriteString(line); err != nil {
		return err
	}
	w.files = append(w.files, w.file)
	w.n++
	return nil
}

// step reopens if needed and appends one event.
func (w *auditWriter) step() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.reopenIfMoved(); err != nil {
		return err
	}
	return w.write()
}

// run appends with small pauses until stop is closed.
func (w *auditWriter) run(stop <-chan struct{}, errc chan<- error) {
	for {
		select {
		case <-stop:
			errc <- nil
			return
		default:
		}
		if err := w.step(); err != nil {
			errc <- err
			return
		}
		time.Sleep(time.Duration(1+rand.IntN(3)) * time.Millisecond)
	}
}

// written returns the written file of every event so far.
func (w *auditWriter) written() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.files...)
}

// logrotate runs the real logrotate, forced, on a config for path.
func logrotate(t *testing.T, dir, path, directives string) {
	t.Helper()
	conf := filepath.Join(dir, "logrotate.conf")
	if _, err := os.Stat(conf); err != nil {
		body := fmt.Sprintf("%s {\n  rotate 50\n  missingok\n  notifempty\n%s}\n", path, directives)
		require.NoError(t, os.WriteFile(conf, []byte(body), 0o644))
	}
	out, err := exec.Command("logrotate", "-f", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput()
	require.NoError(t, err, "logrotate: %s", out)
}

func requireLogrotate(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("logrotate"); err != nil {
		t.Fatalf("logrotate is not installed (scripts/test-all installs it): %v", err)
	}
}

// ledgerEvent is one entry of the ledger written by an auditWriter.
type ledgerEvent struct {
	seq        uint64
	file, n    int
	id         string
	line       []byte
	sourceFile string
}

// scanLedger returns the file source's entries in a stopped agent's ledger;
// the seqs of all entries must be dense and nothing damaged.
func scanLedger(t *testing.T, dataDir string) []ledgerEvent {
	t.Helper()
	var (
		out  []ledgerEvent
		seqs []uint64
	)
	damage, err := queue.Scan(layout.Ledger(dataDir), func(r queue.Item) error {
		if r.Kind != queue.ItemEntry {
			return nil
		}
		var m struct {
			ID     string `json:"id"`
			Source struct {
				Kind string `json:"kind"`
				File string `json:"file"`
			} `json:"source"`
		}
		if err := json.Unmarshal(r.Line, &m); err != nil {
			return err
		}
		seqs = append(seqs, r.Seq)
		if m.Source.Kind != "file" {
			return nil // the ledger's own entries (genesis)
		}
		e := ledgerEvent{seq: r.Seq, id: m.ID, line: append([]byte(nil), r.Line...), sourceFile: m.Source.File, file: -1, n: -1}
		if f, n, ok := strings.Cut(strings.TrimPrefix(m.ID, "w"), "-"); ok && strings.HasPrefix(m.ID, "w") {
			e.file, _ = strconv.Atoi(f)
			e.n, _ = strconv.Atoi(n)
		}
		out = append(out, e)
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, damage, "the ledger of a stopped agent has no damage")
	for i, s := range seqs {
		require.Equal(t, uint64(i), s, "seqs are dense")
	}
	return out
}

// checkExactlyOnce checks that events 0..len(files)-1 are each in the
// ledger exactly once, with id w<files[n]>-<n>, nothing else is, and, per
// written file, the numbers increase with the seq.
func checkExactlyOnce(t *testing.T, events []ledgerEvent, files []int) {
	t.Helper()
	count := make([]int, len(files))
	lastN := map[int]int{}
	lastSeq := map[int]uint64{}
	disorder := 0
	for _, e := range events {
		if e.n < 0 || e.n >= len(files) || e.file != files[e.n] {
			t.Errorf("unexpected ledger entry %d: %s", e.seq, e.line)
			continue
		}
		count[e.n]++
		if last, ok := lastN[e.file]; ok && e.n <= last {
			if disorder++; disorder <= 10 {
				t.Errorf("written file %d: event %d (seq %d, read from %s) after event %d (seq %d)",
					e.file, e.n, e.seq, e.sourceFile, last, lastSeq[e.file])
			}
		}
		lastN[e.file], lastSeq[e.file] = e.n, e.seq
	}
	missing, doubled := 0, 0
	for n, c := range count {
		switch {
		case c == 0:
			if missing++; missing <= 10 {
				t.Errorf("event %d (w%d-%d) is not in the ledger", n, files[n], n)
			}
		case c > 1:
			if doubled++; doubled <= 10 {
				t.Errorf("event %d (w%d-%d) is in the ledger %d times", n, files[n], n, c)
			}
		}
	}
	assert.Zero(t, missing, "events missing from the ledger")
	assert.Zero(t, doubled, "events doubled in the ledger")
	assert.Zero(t, disorder, "events out of order within a written file")
}

// deadLetters returns the records of the source's dead-letter file.
func deadLetters(t *testing.T, dataDir string) []map[string]any {
	t.Helper()
	p := filepath.Join(dataDir, "sources", "file", "cp", "dead-letter.ndjson")
	if _, err := os.Stat(p); os.IsNotExist(err) {
		return nil
	}
	return readNDJSON(t, p)
}

// TestIntegrationFileRotation appends numbered events to a file while the
// real logrotate (or the test, for the schemes logrotate has no directive
// for) rotates it several times; every event must become exactly one ledger
// entry, in order per written file, and the source must not read any line
// twice (kt_file_source_lines_total counts re-reads that the ledger's id
// deduplication would hide).
func TestIntegrationFileRotation(t *testing.T) {
	requireLogrotate(t)
	const rotations = 4

	type env struct {
		t      *testing.T
		dir    string // where the log and logrotate's files are
		path   string // the live log file
		w      *auditWriter
		a      *agentProc
		rotate int // index of this rotation
	}
	cases := []struct {
		name string
		// glob of the source, relative to dir, and why it is what it is.
		glob        string
		createAfter time.Duration
		rotate      func(e env)
	}{
		{
			// logrotate's default: rename audit.log to audit.log.1 and
			// create a new audit.log. The writer reopens when the path
			// names another inode. The glob matches the rotated names too:
			// a file renamed before the source first saw it (the source
			// polls every 200ms) would otherwise never be read.
			name: "create", glob: "audit.log*", createAfter: -1,
			rotate: func(e env) { logrotate(e.t, e.dir, e.path, "  create\n") },
		},
		{
			// The copy gets the lines up to the copy; the original is cut to
			// zero and written again. The glob must match the copy
			// (audit.log.1): the lines written between the source's last
			// read and the copy are read from it. logrotate's own window
			// between copy and truncate loses whatever is written in it
			// (its man page says so), so the writer is held while logrotate
			// runs: a loss there is not the source's.
			name: "copytruncate", glob: "audit.log*", createAfter: -1,
			rotate: func(e env) {
				e.w.mu.Lock()
				defer e.w.mu.Unlock()
				logrotate(e.t, e.dir, e.path, "  copytruncate\n")
				e.w.newFile()
			},
		},
		{
			// Rename + create, then the rotated file is gzipped at once
			// (nodelaycompress) and removed: the source reads the rest of
			// it through the descriptor it holds. audit.log* matches
			// audit.log.1 in the moment before gzip for a file the source
			// has not opened yet; .gz files are never read.
			name: "compress", glob: "audit.log*", createAfter: -1,
			rotate: func(e env) { logrotate(e.t, e.dir, e.path, "  create\n  compress\n  nodelaycompress\n") },
		},
		{
			// logrotate renames and creates nothing; the writer creates
			// audit.log again on its next write. The glob matches the
			// rotated names for the same reason as with create.
			name: "nocreate", glob: "audit.log*", createAfter: 0,
			rotate: func(e env) { logrotate(e.t, e.dir, e.path, "  nocreate\n") },
		},
		{
			// The file is deleted while the writer still writes to its
			// descriptor for 300ms, then the writer creates a new one. The
			// source reads the deleted file through its own descriptor, so
			// the live name alone is enough.
			name: "delete while open", glob: "audit.log", createAfter: 300 * time.Millisecond,
			rotate: func(e env) { require.NoError(e.t, os.Remove(e.path)) },
		},
		{
			// Once the source has read the file to its end, the writer cuts
			// it to zero and writes it again from the start; every other
			// time the new content at once grows past the old size, so the
			// source sees no shrink and must notice by the head.
			name: "truncate and rewrite", glob: "audit.log", createAfter: -1,
			rotate: func(e env) {
				e.w.mu.Lock()
				defer e.w.mu.Unlock()
				require.True(e.t, waitLines(e.t, e.a, len(e.w.files), 20*time.Second))
				fi, err := e.w.f.Stat()
				require.NoError(e.t, err)
				require.NoError(e.t, e.w.f.Truncate(0))
				e.w.newFile()
				if e.rotate%2 == 0 {
					for {
						require.NoError(e.t, e.w.write())
						now, err := e.w.f.Stat()
						require.NoError(e.t, err)
						if now.Size() > fi.Size() {
							break
						}
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			dataDir, dir := t.TempDir(), t.TempDir()
			path := filepath.Join(dir, "audit.log")
			w := newAuditWriter(t, path, tc.createAfter)
			a := startAgent(t, writeFileSourceConfig(t, dataDir, []string{filepath.Join(dir, tc.glob)}, ""))

			stop, errc := make(chan struct{}), make(chan error, 1)
			go w.run(stop, errc)
			for r := 0; r < rotations; r++ {
				time.Sleep(time.Duration(500+rand.IntN(300)) * time.Millisecond)
				tc.rotate(env{t: t, dir: dir, path: path, w: w, a: a, rotate: r})
			}
			time.Sleep(500 * time.Millisecond)
			close(stop)
			require.NoError(t, <-errc)
			files := w.written()
			require.Equal(t, rotations+1, files[len(files)-1]+1, "the writer wrote to a new file at each rotation")
			waitLines(t, a, len(files), 20*time.Second)
			lines, err := metricValue(a.api, "kt_file_source_lines_total")
			require.NoError(t, err)
			a.Stop()

			checkExactlyOnce(t, scanLedger(t, dataDir), files)
			assert.Equal(t, float64(len(files)), lines, "the source read no line twice")
			assert.Empty(t, deadLetters(t, dataDir), "nothing is dead-lettered")
			t.Logf("%d events in %d written files, %v", len(files), rotations+1, time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("many files at once", func(t *testing.T) {
		const nFiles, perFile = 100, 20
		dataDir, dir := t.TempDir(), t.TempDir()
		a := startAgent(t, writeFileSourceConfig(t, dataDir, []string{filepath.Join(dir, "*.log")}, ""))
		// All files are written (each in one write) before the source
		// looks again.
		files := make([]int, 0, nFiles*perFile)
		for f := 0; f < nFiles; f++ {
			var b bytes.Buffer
			for i := 0; i < perFile; i++ {
				n := len(files)
				fmt.Fprintf(&b, `{"id":"w%d-%d","time":"2026-03-01T10:00:00Z","action":"config.update","actor":"alice","n":%d}`+"\n", f, n, n)
				files = append(files, f)
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("audit-%03d.log", f)), b.Bytes(), 0o644))
		}
		waitLines(t, a, len(files), 20*time.Second)
		lines, err := metricValue(a.api, "kt_file_source_lines_total")
		require.NoError(t, err)
		a.Stop()
		checkExactlyOnce(t, scanLedger(t, dataDir), files)
		assert.Equal(t, float64(len(files)), lines, "the source read no line twice")
	})
}

// TestIntegrationFileCrash appends continuously while the agent is killed
// with SIGKILL and restarted; once the file is rotated (rename + create)
// while the agent is down and the glob names only the live file, so the
// restarted source must find the rotated file by its saved inode. Every
// event must be in the ledger exactly once, and kt verify must pass.
func TestIntegrationFileCrash(t *testing.T) {
	requireLogrotate(t)
	dataDir, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.log")
	config := writeFileSourceConfig(t, dataDir, []string{path}, "")
	w := newAuditWriter(t, path, -1)
	a := startAgent(t, config)
	stop, errc := make(chan struct{}), make(chan error, 1)
	go w.run(stop, errc)

	const kills = 3
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(400+rand.IntN(600)) * time.Millisecond)
		a.Kill()
		if k == 1 {
			logrotate(t, dir, path, "  create\n")
			time.Sleep(200 * time.Millisecond)
		}
		a = startAgent(t, config)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	require.NoError(t, <-errc)
	files := w.written()
	// The metric counts since this start only; the ledger holds the rest.
	require.Eventually(t, func() bool {
		v, err := metricValue(a.api, "kt_ledger_entries")
		return err == nil && v >= float64(len(files))
	}, 30*time.Second, 50*time.Millisecond, "the ledger did not get every event:\n%s", a.Logs())
	a.Stop()

	require.Greater(t, len(files), 300, "the writer wrote too few events to prove anything")
	checkExactlyOnce(t, scanLedger(t, dataDir), files)
	assert.Empty(t, deadLetters(t, dataDir), "nothing is dead-lettered")
	t.Logf("%d events in %d written files over %d kills", len(files), files[len(files)-1]+1, kills)

	code, stdout, stderr := runKT(t, "verify", "--data-dir", dataDir, "--trust", filepath.Join(dataDir, "signing.key.pub"),
		"--anchors", filepath.Join(dataDir, "out", "audit.ndjson"), filepath.Join(dataDir, "out", "audit.ndjson"))
	assert.Equal(t, 0, code, stdout+stderr)
}

// TestIntegrationFileBadLines writes refused lines between good ones: each
// refused line goes to the dead-letter file with its reason, file and
// offset, the lines after it are read, invalid UTF-8 is kept escaped, and a
// line written in two writes becomes one entry.
func TestIntegrationFileBadLines(t *testing.T) {
	dataDir, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.log")
	a := startAgent(t, writeFileSourceConfig(t, dataDir, []string{path}, "max_line_bytes = 4096"))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer f.Close()

	var (
		off   int64
		good  []int // the numbers of the good lines, in file order
		n     int
		line  int // lines written
		wants []struct {
			offset int64
			line   int
			reason string
		}
	)
	event := func(extra string) string {
		s := fmt.Sprintf(`{"id":"w0-%d","time":"2026-03-01T10:00:00Z","action":"config.update","actor":"alice","n":%d%s}`, n, n, extra)
		return s
	}
	put := func(s string) {
		_, err := f.WriteString(s)
		require.NoError(t, err)
		off += int64(len(s))
		line += strings.Count(s, "\n")
	}
	goodLine := func(extra string) {
		put(event(extra) + "\n")
		good = append(good, n)
		n++
	}
	bad := func(text, reason string) {
		wants = append(wants, struct {
			offset int64
			line   int
			reason string
		}{off, line + 1, reason})
		put(text + "\n")
	}

	goodLine("")
	bad(`{"id":"bad-json","time":"2026-03-01T10:00:00Z","action":`, "json")
	goodLine("")
	bad(`{"id":"bad-actor","time":"2026-03-01T10:00:00Z","action":"config.update","n":-1}`, "actor")
	goodLine("")
	utf8N := n
	goodLine(`,"note":"caf` + "\xff\xfe" + `"`)
	bad(`{"id":"bad-long","time":"2026-03-01T10:00:00Z","action":"config.update","actor":"alice","pad":"`+strings.Repeat("x", 5000)+`"}`, "max_line_bytes")
	goodLine("")
	// A line in two writes: its first half, a pause longer than the poll
	// interval (the source looks at the file meanwhile), then its end.
	splitN := n
	split := event("") + "\n"
	put(split[:len(split)/2])
	time.Sleep(700 * time.Millisecond)
	put(split[len(split)/2:])
	good = append(good, n)
	n++
	for i := 0; i < 20; i++ {
		goodLine("")
	}

	waitLines(t, a, len(good), 20*time.Second)
	require.Eventually(t, func() bool {
		v, err := metricValue(a.api, "kt_file_source_dead_lettered_total")
		return err == nil && v == float64(len(wants))
	}, 10*time.Second, 50*time.Millisecond, "kt_file_source_dead_lettered_total is the number of refused lines")
	lines, err := metricValue(a.api, "kt_file_source_lines_total")
	require.NoError(t, err)
	assert.Equal(t, float64(len(good)), lines)
	a.Stop()

	files := make([]int, n) // every good line is in written file 0
	events := scanLedger(t, dataDir)
	got := map[int]int{}
	for _, e := range events {
		require.True(t, e.n >= 0 && e.n < n, "unexpected ledger entry %s", e.line)
		got[e.n]++
		if e.n == utf8N {
			assert.Contains(t, string(e.line), pipeline.InvalidUTF8Prefix, "invalid UTF-8 is kept, escaped")
		}
	}
	assert.Equal(t, 1, got[splitN], "the line written in two writes is one entry")
	require.Len(t, events, len(good))
	checkExactlyOnce(t, events, files)
	for i, e := range events {
		assert.Equal(t, good[i], e.n, "good lines in file order")
	}

	// Over-long lines are refused while reading, the others when the
	// batch is emitted: dead letters are matched by offset, not order.
	dls := deadLetters(t, dataDir)
	require.Len(t, dls, len(wants), "one dead letter per refused line")
	byOffset := map[int64]map[string]any{}
	for _, d := range dls {
		off, _ := d["offset"].(float64)
		byOffset[int64(off)] = d
	}
	for _, want := range wants {
		d := byOffset[want.offset]
		if !assert.NotNil(t, d, "no dead letter at offset %d: %v", want.offset, dls) {
			continue
		}
		assert.Equal(t, path, d["file"], "%v", d)
		assert.Equal(t, float64(want.line), d["line"], "%v", d)
		assert.Contains(t, strings.ToLower(fmt.Sprint(d["reason"])), want.reason, "%v", d)
	}
	// The warning of each dead letter is in the log, without the line.
	logs := a.Logs()
	assert.Equal(t, len(wants), strings.Count(logs, "line dead-lettered"), logs)
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		assert.NotContains(t, sc.Text(), "bad-actor", "logs do not hold refused lines")
	}
}
