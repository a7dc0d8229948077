package tail

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sources"
)

var _ sources.Emitter = (*fakeEmitter)(nil)

// fakeEmitter accepts batches all or nothing, like the agent's Emitter: a
// line that is not a JSON object with "f" and "n" is refused with
// RecordErrors naming its index; busy makes the next calls return ErrBusy.
type fakeEmitter struct {
	mu    sync.Mutex
	got   []sources.Raw
	calls int
	busy  int   // ErrBusy answers still to give
	fail  error // returned by every call when set
	// conflict is an event number whose id the ledger holds with other
	// content: a batch with it is refused whole with a ConflictError, at
	// Wait for a Submit, at once for an Emit.
	conflict int
	// conflictLine0 makes that ConflictError name no line (Line 0).
	conflictLine0 bool
	// poison fails a whole batch holding a record it returns true for,
	// with an error that names no line (as the queue refuses an id over
	// 65535 bytes), or with RecordErrors naming it when poisonNamed.
	poison      func(sources.Raw) bool
	poisonNamed bool
	// sameBatchIDs refuses a record whose "id" an earlier record of the
	// batch has with other content (a ConflictError with EarlierLine).
	sameBatchIDs bool
	seen         map[string]bool // records kept, by content: Result.Duplicates
}

var _ sources.Submitter = (*fakeEmitter)(nil)

// Submit is Emit split as the agent's Emitter splits it: refused lines and
// a busy ledger at once, the rest at wait. Accepted batches take their
// place in submission order, as in the ledger.
func (f *fakeEmitter) Submit(batch []sources.Raw) (func(context.Context) (sources.Result, error), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.check(batch); err != nil {
		return nil, err
	}
	if line := f.conflictLine(batch); line > 0 {
		return func(context.Context) (sources.Result, error) {
			return sources.Result{}, f.conflictErr(line)
		}, nil
	}
	res := f.keep(batch)
	return func(context.Context) (sources.Result, error) { return res, nil }, nil
}

func (f *fakeEmitter) conflictErr(line int) error {
	if f.conflictLine0 {
		line = 0
	}
	return &sources.ConflictError{Line: line, ID: "x"}
}

func (f *fakeEmitter) conflictLine(batch []sources.Raw) int {
	for _, r := range batch {
		var e event
		if f.conflict != 0 && json.Unmarshal(r.Data, &e) == nil && e.N == f.conflict {
			return r.Line
		}
	}
	return 0
}

func (f *fakeEmitter) keep(batch []sources.Raw) sources.Result {
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	var res sources.Result
	for _, r := range batch {
		r.Data = append([]byte(nil), r.Data...)
		f.got = append(f.got, r)
		if f.seen[string(r.Data)] {
			res.Duplicates++
		} else {
			f.seen[string(r.Data)] = true
			res.Accepted++
		}
	}
	return res
}

type event struct {
	F string `json:"f"`
	N int    `json:"n"`
}

func (f *fakeEmitter) Emit(_ context.Context, batch []sources.Raw) (sources.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.check(batch); err != nil {
		return sources.Result{}, err
	}
	if line := f.conflictLine(batch); line > 0 {
		return sources.Result{}, f.conflictErr(line)
	}
	return f.keep(batch), nil
}

// check returns the errors given before anything is written.
func (f *fakeEmitter) check(batch []sources.Raw) error {
	if f.fail != nil {
		return f.fail
	}
	if f.busy > 0 {
		f.busy--
		return fmt.Errorf("queue full: %w", sources.ErrBusy)
	}
	var errs sources.RecordErrors
	ids := map[string]int{} // id -> index of its first record
	for i, r := range batch {
		if f.poison != nil && f.poison(r) {
			err := fmt.Errorf("queue: record %d: id length %d out of range", i, len(r.Data))
			if !f.poisonNamed {
				return err
			}
			errs = append(errs, sources.RecordError{Index: i, Line: r.Line, Field: "id", Err: err})
			continue
		}
		if f.sameBatchIDs {
			var id struct{ ID string }
			if json.Unmarshal(r.Data, &id) == nil && id.ID != "" {
				if j, ok := ids[id.ID]; ok && string(batch[j].Data) != string(r.Data) {
					return &sources.ConflictError{Line: r.Line, ID: id.ID, EarlierLine: batch[j].Line}
				}
				ids[id.ID] = i
			}
		}
		var e event
		if err := json.Unmarshal(r.Data, &e); err != nil {
			errs = append(errs, sources.RecordError{Index: i, Line: r.Line, Err: fmt.Errorf("not valid JSON: %v", err)})
		} else if e.F == "" || e.N == 0 {
			errs = append(errs, sources.RecordError{Index: i, Line: r.Line, Field: "action", Err: fmt.Errorf("not an audit event")})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (f *fakeEmitter) records() []sources.Raw {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sources.Raw(nil), f.got...)
}

// maxN is the highest event number emitted.
func (f *fakeEmitter) maxN() int {
	n := 0
	for _, r := range f.records() {
		var e event
		if json.Unmarshal(r.Data, &e) == nil {
			n = max(n, e.N)
		}
	}
	return n
}

func (f *fakeEmitter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// checkOnce asserts that every number 1..want[name] of every writer name
// was emitted exactly once, and in order within each file (fingerprint).
func checkOnce(t *testing.T, em *fakeEmitter, want map[string]int) {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	assert.Eventually(t, func() bool { return em.count() >= total }, 10*time.Second, 5*time.Millisecond,
		"want %d records", total)
	seen := map[string]map[int]int{}
	last := map[string]int{}
	for _, r := range em.records() {
		var e event
		require.NoError(t, json.Unmarshal(r.Data, &e))
		if seen[e.F] == nil {
			seen[e.F] = map[int]int{}
		}
		seen[e.F][e.N]++
		file := strings.Join(strings.Split(r.FallbackID, "-")[:2], "-")
		assert.Greater(t, e.N, last[file], "out of order in %s (%s)", r.Source.File, file)
		last[file] = e.N
		assert.Equal(t, "file", r.Source.Kind)
	}
	for name, n := range want {
		var bad []int
		for i := 1; i <= n; i++ {
			if seen[name][i] != 1 {
				bad = append(bad, i)
			}
		}
		assert.Empty(t, bad, "%s: numbers not seen exactly once", name)
	}
	assert.Equal(t, total, em.count())
}

func testConfig(t *testing.T, dir string, paths ...string) Config {
	cfg := NewDefaultConfig()
	cfg.Name = "cp"
	for _, p := range paths {
		cfg.Paths = append(cfg.Paths, filepath.Join(dir, p))
	}
	cfg.PollInterval = 10 * time.Millisecond
	cfg.SetDataDir(filepath.Join(dir, "data"))
	return cfg
}

// start runs a Source until the test ends or stop is called.
func start(t *testing.T, cfg Config, em sources.Emitter, knobs ...func(*Source)) (s *Source, stop func()) {
	t.Helper()
	s, err := New(cfg, em, testLogger(t))
	require.NoError(t, err)
	s.backoffMin = time.Millisecond
	s.goneGrace = 50 * time.Millisecond
	for _, k := range knobs {
		k(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func pollingOnly(s *Source) { s.noWatch = true }

// writer appends numbered events of one name to whatever file it has open.
type writer struct {
	t    *testing.T
	name string
	path string
	f    *os.File
	n    int
}

func newWriter(t *testing.T, path, name string) *writer {
	w := &writer{t: t, name: name, path: path}
	w.reopen()
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *writer) reopen() {
	if w.f != nil {
		require.NoError(w.t, w.f.Close())
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(w.t, err)
	w.f = f
}

func (w *writer) write(k int) {
	var b strings.Builder
	for range k {
		w.n++
		fmt.Fprintf(&b, `{"f":%q,"n":%d,"action":"config.update","pad":"%s"}`+"\n", w.name, w.n, strings.Repeat("x", w.n%97))
	}
	_, err := w.f.WriteString(b.String())
	require.NoError(w.t, err)
}

func TestRotateRenameCreate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		glob    string
		poll    bool
		waitNew bool // rotated files leave the glob: rotate only once the current file was found
	}{
		{"current_only", "audit.log", false, true},
		{"current_only_polling", "audit.log", true, true},
		{"rotated_match", "audit.log*", false, false},
		{"rotated_match_polling", "audit.log*", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			em := &fakeEmitter{}
			knobs := []func(*Source){}
			if tc.poll {
				knobs = append(knobs, pollingOnly)
			}
			start(t, testConfig(t, dir, tc.glob), em, knobs...)
			w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
			first := 1
			for i := range 40 {
				w.write(50)
				if i%10 == 9 { // logrotate: shift, rename; the writer reopens
					if tc.waitNew {
						require.Eventually(t, func() bool { return em.maxN() >= first }, 5*time.Second, time.Millisecond)
					}
					for k := 3; k >= 1; k-- {
						os.Rename(fmt.Sprintf("%s.%d", w.path, k), fmt.Sprintf("%s.%d", w.path, k+1))
					}
					require.NoError(t, os.Rename(w.path, w.path+".1"))
					w.write(5) // still writing to the renamed file
					w.reopen()
					first = w.n + 1
				}
			}
			w.write(1)
			checkOnce(t, em, map[string]int{"a": w.n})
		})
	}
}

func TestRotateCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	// The copies match the globs: a copy is recognised by its fingerprint
	// and only read past what was read from the original.
	start(t, testConfig(t, dir, "audit.log", "audit.log.*"), em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	for i := range 30 {
		w.write(40)
		if i%6 == 5 {
			b, err := os.ReadFile(w.path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(fmt.Sprintf("%s.%d", w.path, i), b, 0o644))
			require.NoError(t, os.Truncate(w.path, 0))
		}
	}
	checkOnce(t, em, map[string]int{"a": w.n})
}

func TestDeleteWhileOpen(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "*.log"), em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(100)
	require.Eventually(t, func() bool { return em.count() > 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, os.Remove(w.path))
	w.write(300) // into the deleted file, through the writer's descriptor
	w.reopen()   // a new file at the same path
	w.write(50)
	checkOnce(t, em, map[string]int{"a": w.n})
}

func TestTruncateAndRewrite(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "audit.log"), em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(100)
	checkOnce(t, em, map[string]int{"a": 100})
	// Shorter than the offset.
	require.NoError(t, w.f.Truncate(0))
	w.write(20)
	checkOnce(t, em, map[string]int{"a": 120})
	// Rewritten past the offset before the source looks: the head changed.
	b := &writer{t: t, name: "a", n: 120}
	var sb strings.Builder
	for range 300 {
		b.n++
		fmt.Fprintf(&sb, `{"f":"a","n":%d,"other":"rewritten"}`+"\n", b.n)
	}
	require.NoError(t, os.WriteFile(w.path, []byte(sb.String()), 0o644))
	checkOnce(t, em, map[string]int{"a": 420})
}

func TestCompressedRotation(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "audit.log*"), em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(200)
	require.NoError(t, os.Rename(w.path, w.path+".1"))
	w.reopen()
	w.write(100)
	checkOnce(t, em, map[string]int{"a": 300})
	// logrotate's compress: the rotated file becomes .1.gz, later .2.gz.
	gzipFile(t, w.path+".1", w.path+".1.gz")
	require.NoError(t, os.Remove(w.path+".1"))
	require.NoError(t, os.Rename(w.path+".1.gz", w.path+".2.gz"))
	w.write(10)
	checkOnce(t, em, map[string]int{"a": 310})
}

func gzipFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(to)
	require.NoError(t, err)
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, out.Close())
}

func TestManyFilesAtOnce(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "*.log"), em, func(s *Source) { s.maxOpen = 50 })
	want := map[string]int{}
	for i := range 200 {
		name := fmt.Sprintf("f%03d", i)
		w := newWriter(t, filepath.Join(dir, name+".log"), name)
		w.write(30)
		want[name] = 30
	}
	checkOnce(t, em, want)
	// Files closed to bound descriptors are reopened when they grow.
	for i := range 200 {
		name := fmt.Sprintf("f%03d", i)
		w := &writer{t: t, name: name, path: filepath.Join(dir, name+".log"), n: 30}
		w.reopen()
		w.write(5)
		w.f.Close()
		want[name] = 35
	}
	checkOnce(t, em, want)
}

func TestRoundRobin(t *testing.T) {
	dir := t.TempDir()
	big := newWriter(t, filepath.Join(dir, "big.log"), "big")
	big.write(5000)
	small := newWriter(t, filepath.Join(dir, "small.log"), "small")
	small.write(10)
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "*.log"), em)
	checkOnce(t, em, map[string]int{"big": 5000, "small": 10})
	// small's lines came with big's first batches, not after all of big.
	for i, r := range em.records() {
		if strings.Contains(string(r.Data), `"small"`) {
			assert.Less(t, i, 2*batchLines, "small starved")
			break
		}
	}
}

func TestPartialLine(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	start(t, testConfig(t, dir, "audit.log"), em)
	f, err := os.Create(filepath.Join(dir, "audit.log"))
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(`{"f":"a","n":1}` + "\n" + `{"f":"a",`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return em.count() == 1 }, 5*time.Second, time.Millisecond)
	assert.Never(t, func() bool { return em.count() > 1 }, 100*time.Millisecond, 5*time.Millisecond)
	_, err = f.WriteString(`"n":2}` + "\n")
	require.NoError(t, err)
	checkOnce(t, em, map[string]int{"a": 2})
	r := em.records()[1]
	assert.Equal(t, `{"f":"a","n":2}`, string(r.Data))
	assert.Equal(t, 2, r.Line)
	assert.Equal(t, int64(len(`{"f":"a","n":1}`)+1), r.Source.Offset)
}

func readDeadLetters(t *testing.T, path string) []deadLetter {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []deadLetter
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var d deadLetter
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		out = append(out, d)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestDeadLetterRefusedLines(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"f":"a","n":1}`,
		`{"f":"a","n":99,"password": "hunter2-should-never-appear"`, // truncated JSON
		`not json at all token=THIS-MUST-NEVER-BE-STORED`,
		``,
		`{"f":"a","n":2}`,
		`{"action":"auth.login","api_key":"THIS-MUST-NEVER-BE-STORED"}`, // not an audit event (for the fake)
		`{"f":"a","n":3}`,
	}
	path := filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	em := &redactingEmitter{fakeEmitter: &fakeEmitter{}}
	cfg := testConfig(t, dir, "audit.log")
	s, _ := start(t, cfg, em)
	checkOnce(t, em.fakeEmitter, map[string]int{"a": 3})
	require.Eventually(t, func() bool { return s.DeadLettered() == 3 }, 5*time.Second, time.Millisecond)
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 3)
	offsets := []int64{}
	var off int64
	for _, l := range lines {
		offsets = append(offsets, off)
		off += int64(len(l)) + 1
	}
	for i, want := range []struct {
		line   int
		reason string
	}{{2, "not valid JSON"}, {3, "not valid JSON"}, {6, "action: not an audit event"}} {
		d := dl[i]
		assert.Equal(t, "cp", d.Source)
		assert.Equal(t, path, d.File)
		assert.Equal(t, want.line, d.Line)
		assert.Equal(t, offsets[want.line-1], d.Offset)
		assert.Contains(t, d.Reason, want.reason)
		raw := lines[want.line-1]
		sum := sha256.Sum256([]byte(raw))
		assert.Equal(t, hex.EncodeToString(sum[:]), d.SHA256)
		assert.Equal(t, int64(len(raw)), d.Length)
		// The text is the Emitter's redaction of the record, nothing else.
		assert.Equal(t, redacted([]byte(raw)), d.Text)
		assert.Empty(t, d.TextOmitted)
	}
	b, err := os.ReadFile(cfg.DeadLetterFile)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2")
	assert.NotContains(t, string(b), "THIS-MUST-NEVER")
	fi, err := os.Stat(cfg.DeadLetterFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestOverLongLines(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{}
	cfg := testConfig(t, dir, "audit.log")
	cfg.MaxLineBytes = 2048
	s, _ := start(t, cfg, em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(3)
	long := `{"f":"a","n":0,"blob":"` + strings.Repeat("y", 5000) + `"}`
	_, err := w.f.WriteString(long + "\n")
	require.NoError(t, err)
	w.write(3)
	// Longer than the read buffer, in two writes: skipped without holding it.
	huge1 := strings.Repeat("z", batchBytes+100)
	huge2 := strings.Repeat("z", batchBytes) + `"}`
	_, err = w.f.WriteString(`{"blob":"` + huge1)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return em.count() == 6 }, 5*time.Second, time.Millisecond)
	_, err = w.f.WriteString(huge2 + "\n")
	require.NoError(t, err)
	w.write(3)
	checkOnce(t, em, map[string]int{"a": 9})
	require.Eventually(t, func() bool { return s.DeadLettered() == 2 }, 5*time.Second, time.Millisecond)
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 2)
	hugeLine := `{"blob":"` + huge1 + huge2
	for i, want := range []string{long, hugeLine} {
		assert.Equal(t, int64(len(want)), dl[i].Length)
		sum := sha256.Sum256([]byte(want))
		assert.Equal(t, hex.EncodeToString(sum[:]), dl[i].SHA256)
		assert.Empty(t, dl[i].Text)
		assert.Equal(t, omitTooLong, dl[i].TextOmitted)
		assert.Contains(t, dl[i].Reason, "max_line_bytes")
		assert.Equal(t, 4+4*i, dl[i].Line)
	}
}

func TestBusyPausesWithoutLoss(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{busy: 5}
	start(t, testConfig(t, dir, "audit.log"), em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(1200)
	checkOnce(t, em, map[string]int{"a": 1200})
	em.mu.Lock()
	em.busy = 3
	em.mu.Unlock()
	w.write(10)
	checkOnce(t, em, map[string]int{"a": 1210})
}

func TestRestartResumesAfterLastAcknowledged(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "audit.log")
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	w.write(700)
	em1 := &fakeEmitter{}
	_, stop := start(t, cfg, em1)
	checkOnce(t, em1, map[string]int{"a": 700})
	// The ledger fails from now on: nothing more is acknowledged.
	em1.mu.Lock()
	em1.fail = fmt.Errorf("disk on fire")
	em1.mu.Unlock()
	w.write(50)
	require.Eventually(t, func() bool {
		em1.mu.Lock()
		defer em1.mu.Unlock()
		return em1.calls > 2
	}, 5*time.Second, time.Millisecond)
	stop()
	ps, ok, err := loadPositions(cfg.PositionsFile)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, ps, 1)
	assert.Equal(t, 700, ps[0].Line)
	fi, err := os.Stat(cfg.PositionsFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	w.write(50)
	em2 := &fakeEmitter{}
	start(t, cfg, em2)
	got := em2
	require.Eventually(t, func() bool { return got.count() == 100 }, 5*time.Second, time.Millisecond)
	recs := got.records()
	var first event
	require.NoError(t, json.Unmarshal(recs[0].Data, &first))
	assert.Equal(t, 701, first.N)
	assert.Equal(t, 701, recs[0].Line)
	assert.Never(t, func() bool { return got.count() > 100 }, 50*time.Millisecond, 5*time.Millisecond)
}

func TestRestartAfterRotationWhileStopped(t *testing.T) {
	for _, scheme := range []string{"rename", "dateext", "copytruncate"} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, "audit.log")
			w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
			w.write(100)
			em1 := &fakeEmitter{}
			_, stop := start(t, cfg, em1)
			checkOnce(t, em1, map[string]int{"a": 100})
			stop()
			w.write(40) // unread when the rotation happens
			switch scheme {
			case "rename":
				require.NoError(t, os.Rename(w.path, w.path+".1"))
			case "dateext":
				require.NoError(t, os.Rename(w.path, w.path+"-20260101"))
			case "copytruncate":
				b, err := os.ReadFile(w.path)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(w.path+".1", b, 0o644))
				require.NoError(t, os.Truncate(w.path, 0))
			}
			w.reopen()
			w.write(60)
			em2 := &fakeEmitter{}
			start(t, cfg, em2)
			require.Eventually(t, func() bool { return em2.count() >= 100 }, 5*time.Second, time.Millisecond)
			all := append(em1.records(), em2.records()...)
			em := &fakeEmitter{got: all}
			checkOnce(t, em, map[string]int{"a": 200})
		})
	}
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "*.log")
	cfg.StartAt = StartEnd
	old := newWriter(t, filepath.Join(dir, "old.log"), "old")
	old.write(10)
	_, err := old.f.WriteString(`{"f":"old","n":11}`[:8]) // a partial line at start
	require.NoError(t, err)
	em := &fakeEmitter{}
	// The first scan happens before the partial line is completed.
	_, stop := start(t, cfg, em, func(s *Source) { require.NoError(t, s.scan()) })
	_, err = old.f.WriteString(`{"f":"old","n":11}`[8:] + "\n")
	require.NoError(t, err)
	old.n = 11
	old.write(4)
	fresh := newWriter(t, filepath.Join(dir, "new.log"), "new")
	fresh.write(5)
	require.Eventually(t, func() bool { return em.count() == 10 }, 5*time.Second, time.Millisecond)
	for _, r := range em.records() {
		var e event
		require.NoError(t, json.Unmarshal(r.Data, &e))
		if e.F == "old" {
			assert.GreaterOrEqual(t, e.N, 11)
			assert.Equal(t, e.N, r.Line, "line numbers count the skipped lines")
		}
	}
	stop()
	// start_at holds for the first start only: a file seen later by a
	// restarted source is read from its beginning.
	later := newWriter(t, filepath.Join(dir, "later.log"), "later")
	later.write(3)
	em2 := &fakeEmitter{}
	start(t, cfg, em2)
	checkOnce(t, em2, map[string]int{"later": 3})
}

func TestFallbackIDStable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(path, []byte(`{"f":"a","n":1}`+"\n"+`{"f":"a","n":2}`+"\n"), 0o644))
	ids := func() []string {
		em := &fakeEmitter{}
		cfg := testConfig(t, t.TempDir(), "")
		cfg.Paths = []string{path}
		start(t, cfg, em)
		require.Eventually(t, func() bool { return em.count() == 2 }, 5*time.Second, time.Millisecond)
		var out []string
		for _, r := range em.records() {
			out = append(out, r.FallbackID)
		}
		return out
	}
	a, b := ids(), ids()
	assert.Equal(t, a, b)
	assert.NotEqual(t, a[0], a[1])
	assert.Regexp(t, `^file-[0-9a-f]{32}-0$`, a[0])
	assert.Regexp(t, `^file-[0-9a-f]{32}-16$`, a[1])
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestConflictAtWait refuses a batch in flight as a whole (an id the ledger
// holds with other content): the batch goes again through the careful
// path, the conflicting line is dead-lettered and every other line is
// emitted exactly once.
func TestConflictAtWait(t *testing.T) {
	dir := t.TempDir()
	em := &fakeEmitter{conflict: 777}
	cfg := testConfig(t, dir, "audit.log")
	start(t, cfg, em)
	w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
	for range 10 {
		w.write(300)
	}
	require.Eventually(t, func() bool { return em.count() >= w.n-1 }, 10*time.Second, 5*time.Millisecond)
	seen := map[int]int{}
	for _, r := range em.records() {
		var e event
		require.NoError(t, json.Unmarshal(r.Data, &e))
		seen[e.N]++
	}
	for i := 1; i <= w.n; i++ {
		if i == 777 {
			assert.Zero(t, seen[i])
		} else {
			assert.Equal(t, 1, seen[i], "event %d", i)
		}
	}
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 1)
	assert.Equal(t, 777, dl[0].Line)
	assert.Contains(t, dl[0].Reason, "already in the ledger")
}
