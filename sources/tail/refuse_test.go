package tail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sources"
)

var (
	_ sources.Redactor  = (*redactingEmitter)(nil)
	_ sources.Submitter = (*redactingEmitter)(nil)
)

// redactingEmitter is a fakeEmitter that is a sources.Redactor: the text it
// gives a refused record names only the record's length.
type redactingEmitter struct {
	*fakeEmitter
	redactions atomic.Int64
}

func redacted(data []byte) string { return fmt.Sprintf("redacted(%d bytes)", len(data)) }

func (e *redactingEmitter) RedactRaw(data []byte) []byte {
	e.redactions.Add(1)
	return []byte(redacted(data))
}

// emitOnly hides the Submitter of an Emitter: the source then emits batch
// by batch (the path every error goes through).
type emitOnly struct{ sources.Emitter }

// bigID is the realistic line no ledger can take: an id of 70,000 bytes.
func bigID(n int) string {
	return fmt.Sprintf(`{"f":"bad","n":%d,"id":"%s","action":"config.update"}`, n, strings.Repeat("i", 70000))
}

func isBigID(r sources.Raw) bool { return len(r.Data) > 70000 }

// writeLines appends lines to path.
func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
}

func goodLines(name string, from, to int) []string {
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, fmt.Sprintf(`{"f":%q,"n":%d}`, name, n))
	}
	return out
}

// TestLineTheEmitterCannotTake: a line the Emitter refuses, by name
// (RecordErrors, as the agent's emitter does for an oversized id) or with
// an error that names no line (as the queue does for it), is
// dead-lettered; the good lines before and after it, in both files, are
// emitted exactly once; nothing else stops.
func TestLineTheEmitterCannotTake(t *testing.T) {
	for _, tc := range []struct {
		name     string
		named    bool // RecordErrors rather than an error naming no line
		emitOnly bool
	}{
		{"record_errors", true, false},
		{"record_errors_emit_only", true, true},
		{"unnamed_error", false, false},
		{"unnamed_error_emit_only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fe := &fakeEmitter{poison: isBigID, poisonNamed: tc.named}
			var em sources.Emitter = fe
			if tc.emitOnly {
				em = emitOnly{fe}
			}
			cfg := testConfig(t, dir, "*.log")
			s, _ := start(t, cfg, em)
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			// In a: a bad line between good ones, and two in a row.
			writeLines(t, a, append(append(goodLines("a", 1, 10), bigID(1)), goodLines("a", 11, 20)...)...)
			writeLines(t, a, bigID(2), bigID(3))
			writeLines(t, a, goodLines("a", 21, 30)...)
			// In b: a bad line first, then good ones.
			writeLines(t, b, append([]string{bigID(4)}, goodLines("b", 1, 700)...)...)
			checkOnce(t, fe, map[string]int{"a": 30, "b": 700})
			require.Eventually(t, func() bool { return s.Stats().Refused == 4 }, 10*time.Second, time.Millisecond)
			dl := readDeadLetters(t, cfg.DeadLetterFile)
			require.Len(t, dl, 4)
			lines := map[string][]int{}
			for _, d := range dl {
				lines[filepath.Base(d.File)] = append(lines[filepath.Base(d.File)], d.Line)
				assert.Contains(t, d.Reason, "id length")
				assert.Greater(t, d.Length, int64(70000))
			}
			assert.ElementsMatch(t, []int{11, 22, 23}, lines["a.log"])
			assert.Equal(t, []int{1}, lines["b.log"])
			st := s.Stats()
			assert.Equal(t, uint64(730), st.Accepted)
			assert.Equal(t, uint64(4), st.Refused)
			require.Eventually(t, func() bool { return s.Stats().Backlog == 0 }, 5*time.Second, time.Millisecond)
		})
	}
}

// TestUnnamedErrorLastLine: a line the Emitter fails without naming it,
// last in its file, is not dead-lettered while nothing shows the ledger
// takes lines (the ledger may be down: the line waits in its file, visible
// in the backlog); once another line is taken, it is.
func TestUnnamedErrorLastLine(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEmitter{poison: isBigID}
	cfg := testConfig(t, dir, "*.log")
	a := filepath.Join(dir, "a.log")
	writeLines(t, a, bigID(1))
	s, _ := start(t, cfg, fe)
	require.Eventually(t, func() bool {
		fe.mu.Lock()
		defer fe.mu.Unlock()
		return fe.calls >= 6
	}, 10*time.Second, time.Millisecond, "the line is tried again")
	st := s.Stats()
	assert.Zero(t, st.Refused, "nothing shows the line, not the ledger, is at fault")
	assert.Zero(t, st.Accepted)
	assert.True(t, st.LastProgress.IsZero())
	assert.Equal(t, int64(len(bigID(1))+1), st.Backlog, "the waiting line is the backlog")
	// Another file's line is taken: the line is at fault.
	writeLines(t, filepath.Join(dir, "b.log"), goodLines("b", 1, 3)...)
	require.Eventually(t, func() bool { return s.Stats().Refused == 1 }, 10*time.Second, time.Millisecond)
	checkOnce(t, fe, map[string]int{"b": 3})
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 1)
	assert.Contains(t, dl[0].Reason, "fails this line alone while it takes other lines")
	assert.Contains(t, dl[0].Reason, "id length")
	require.Eventually(t, func() bool { return s.Stats().Backlog == 0 }, 5*time.Second, time.Millisecond)
}

// TestLedgerDownHoldsEveryLine: while every emit fails with an error that
// names no line (the ledger is broken), no line is dead-lettered or
// skipped, in any file; once it works again every line is emitted once.
func TestLedgerDownHoldsEveryLine(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEmitter{fail: errors.New("queue: ledger is broken")}
	cfg := testConfig(t, dir, "*.log")
	s, _ := start(t, cfg, fe)
	wa := newWriter(t, filepath.Join(dir, "a.log"), "a")
	wb := newWriter(t, filepath.Join(dir, "b.log"), "b")
	wa.write(600)
	wb.write(20)
	require.Eventually(t, func() bool {
		fe.mu.Lock()
		defer fe.mu.Unlock()
		return fe.calls >= 50
	}, 10*time.Second, time.Millisecond)
	st := s.Stats()
	assert.Zero(t, st.Refused)
	assert.Zero(t, st.Accepted)
	assert.Positive(t, st.Backlog)
	assert.Empty(t, readDeadLetters(t, cfg.DeadLetterFile))
	fe.mu.Lock()
	fe.fail = nil
	fe.mu.Unlock()
	// Lines the ledger took while the source was looking for a line at
	// fault may come before that line: every line once, in any order.
	require.Eventually(t, func() bool { return fe.count() >= 620 }, 10*time.Second, time.Millisecond)
	seen := map[string]int{}
	for _, r := range fe.records() {
		seen[string(r.Data)]++
	}
	assert.Len(t, seen, 620)
	assert.Equal(t, 620, fe.count())
	assert.Zero(t, s.Stats().Refused)
}

// TestConflicts: an id an earlier line of the same batch has with other
// content refuses the later line only; a conflict the Emitter reports
// without a line is found by trying the lines alone.
func TestConflicts(t *testing.T) {
	t.Run("same_batch", func(t *testing.T) {
		dir := t.TempDir()
		fe := &fakeEmitter{sameBatchIDs: true}
		cfg := testConfig(t, dir, "audit.log")
		s, _ := start(t, cfg, fe)
		writeLines(t, filepath.Join(dir, "audit.log"),
			`{"f":"a","n":1,"id":"x1"}`, `{"f":"a","n":2,"id":"x2"}`,
			`{"f":"a","n":99,"id":"x1","other":"content"}`, `{"f":"a","n":3,"id":"x3"}`)
		checkOnce(t, fe, map[string]int{"a": 3})
		require.Eventually(t, func() bool { return s.Stats().Refused == 1 }, 5*time.Second, time.Millisecond)
		dl := readDeadLetters(t, cfg.DeadLetterFile)
		require.Len(t, dl, 1)
		assert.Equal(t, 3, dl[0].Line)
		assert.Contains(t, dl[0].Reason, "also on line 1 of the same batch")
	})
	t.Run("no_line", func(t *testing.T) {
		dir := t.TempDir()
		fe := &fakeEmitter{conflict: 5, conflictLine0: true}
		cfg := testConfig(t, dir, "audit.log")
		s, _ := start(t, cfg, fe)
		w := newWriter(t, filepath.Join(dir, "audit.log"), "a")
		w.write(9)
		require.Eventually(t, func() bool { return s.Stats().Refused == 1 }, 10*time.Second, time.Millisecond)
		require.Eventually(t, func() bool { return fe.count() == 8 }, 10*time.Second, time.Millisecond)
		for _, r := range fe.records() {
			assert.NotContains(t, string(r.Data), `"n":5,`)
		}
		dl := readDeadLetters(t, cfg.DeadLetterFile)
		require.Len(t, dl, 1)
		assert.Equal(t, 5, dl[0].Line)
	})
}

// faultyFile fails every read while its switch is on.
type faultyFile struct {
	osFile
	on *atomic.Bool
}

func (f faultyFile) ReadAt(b []byte, off int64) (int, error) {
	if f.on.Load() {
		return 0, errors.New("input/output error")
	}
	return f.osFile.ReadAt(b, off)
}

// TestReadErrorHoldsOneFile: a file that cannot be read is tried again
// later; the other files go on, and the source does not stop.
func TestReadErrorHoldsOneFile(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEmitter{}
	var broken atomic.Bool
	broken.Store(true)
	bad := filepath.Join(dir, "a.log")
	wa := newWriter(t, bad, "a")
	wa.write(50)
	start(t, testConfig(t, dir, "*.log"), fe, func(s *Source) {
		s.open = func(p string) (osFile, error) {
			f, err := openFile(p)
			if err != nil || p != bad {
				return f, err
			}
			return faultyFile{f, &broken}, nil
		}
	})
	wb := newWriter(t, filepath.Join(dir, "b.log"), "b")
	for range 5 {
		wb.write(100)
	}
	checkOnce(t, fe, map[string]int{"b": 500})
	broken.Store(false)
	wa.write(10)
	checkOnce(t, fe, map[string]int{"a": 60, "b": 500})
}

// TestStats: accepted, duplicate and refused lines are counted apart; the
// backlog is what is left to read.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEmitter{}
	cfg := testConfig(t, dir, "audit.log")
	path := filepath.Join(dir, "audit.log")
	writeLines(t, path, `{"f":"a","n":1}`, `{"f":"a","n":2}`, `not json`, `{"f":"a","n":1}`)
	before := time.Now()
	s, stop := start(t, cfg, fe)
	require.Eventually(t, func() bool { st := s.Stats(); return st.Refused == 1 && st.Accepted+st.Duplicates == 3 },
		5*time.Second, time.Millisecond)
	stop()
	st := s.Stats()
	assert.Equal(t, sources.Stats{Accepted: 2, Duplicates: 1, Refused: 1, BacklogUnit: "bytes", LastProgress: st.LastProgress}, st)
	assert.False(t, st.LastProgress.Before(before))
	assert.Equal(t, uint64(3), s.Emitted())
	assert.Equal(t, uint64(1), s.DeadLettered())
}

// TestBOM: a byte order mark at the start of a line is not part of the
// record; offsets, fallback ids and dead letters count the file's bytes.
func TestBOM(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	first := "\xEF\xBB\xBF" + `{"f":"a","n":1}`
	bad := "\xEF\xBB\xBF" + `{"f":"a",` + "\r"
	content := first + "\n" + "\xEF\xBB\xBF\n" + `{"f":"a","n":2}` + "\r\n" + bad + "\n" + "\xEF\xBB\xBF" + `{"f":"a","n":3}` + "\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	fe := &redactingEmitter{fakeEmitter: &fakeEmitter{}}
	cfg := testConfig(t, dir, "audit.log")
	s, _ := start(t, cfg, fe)
	checkOnce(t, fe.fakeEmitter, map[string]int{"a": 3})
	f, err := os.Open(path)
	require.NoError(t, err)
	fp, err := fingerprint(f)
	require.NoError(t, err)
	f.Close()
	recs := fe.records()
	assert.Equal(t, `{"f":"a","n":1}`, string(recs[0].Data))
	assert.Equal(t, int64(0), recs[0].Source.Offset)
	assert.Equal(t, fallbackID(fp, 0), recs[0].FallbackID)
	assert.Equal(t, 1, recs[0].Line)
	assert.Equal(t, `{"f":"a","n":2}`, string(recs[1].Data))
	assert.Equal(t, 3, recs[1].Line, "the line of a lone BOM counts")
	third := int64(strings.Index(content, "\xEF\xBB\xBF"+`{"f":"a","n":3}`))
	assert.Equal(t, third, recs[2].Source.Offset)
	require.Eventually(t, func() bool { return s.Stats().Refused == 1 }, 5*time.Second, time.Millisecond)
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 1)
	sum := sha256.Sum256([]byte(bad))
	assert.Equal(t, hex.EncodeToString(sum[:]), dl[0].SHA256, "the line as it is in the file")
	assert.Equal(t, int64(len(bad)), dl[0].Length)
	assert.Equal(t, int64(strings.Index(content, bad)), dl[0].Offset)
	assert.Equal(t, redacted([]byte(`{"f":"a",`)), dl[0].Text, "the record, without BOM and CR")
}

// clock is a settable time for the rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logCapture keeps the records logged, and shows them in the test log.
type logCapture struct {
	mu   sync.Mutex
	recs []slog.Record
	next slog.Handler
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return l.next.Handle(ctx, r)
}
func (l *logCapture) WithAttrs(as []slog.Attr) slog.Handler { return l } // attrs of With are not needed
func (l *logCapture) WithGroup(string) slog.Handler         { return l }

func (l *logCapture) records(msg string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

func attrInt(r slog.Record, key string) int {
	n := 0
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			n = int(a.Value.Uint64())
		}
		return true
	})
	return n
}

// TestRefusalFloodSampled: under a flood of refused lines every line gets
// a dead letter, but only dead_letter_text_rate a second keep their text
// and the log gets a bounded number of warnings that still count every
// line.
func TestRefusalFloodSampled(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rate      int
		redactor  bool
		texts     int
		omitted   string
		redaction int64
	}{
		{"sampled", 5, true, 10, omitRate, 10},
		{"disabled", 0, true, 0, omitDisabled, 0},
		{"no_redactor", 100, false, 0, omitNoRedactor, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, "audit.log")
			cfg.DeadLetterTextRate = tc.rate
			re := &redactingEmitter{fakeEmitter: &fakeEmitter{}}
			var em sources.Emitter = re.fakeEmitter
			if tc.redactor {
				em = re
			}
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			logs := &logCapture{next: slog.NewTextHandler(tWriter{t}, nil)}
			s, err := New(cfg, em, slog.New(logs))
			require.NoError(t, err)
			s.now, s.backoffMin = clk.now, time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			path := filepath.Join(dir, "audit.log")
			var flood []string
			for i := range 400 {
				flood = append(flood, fmt.Sprintf(`{"f":"a","n":0,"bad":%d}`, i))
			}
			writeLines(t, path, flood...)
			require.Eventually(t, func() bool { return s.Stats().Refused == 400 }, 10*time.Second, time.Millisecond)
			clk.add(time.Second) // a second later, another flood
			writeLines(t, path, flood[:100]...)
			require.Eventually(t, func() bool { return s.Stats().Refused == 500 }, 10*time.Second, time.Millisecond)
			cancel()
			require.NoError(t, <-done)

			dl := readDeadLetters(t, cfg.DeadLetterFile)
			require.Len(t, dl, 500, "every refused line has its dead letter")
			texts := 0
			for i, d := range dl {
				assert.Equal(t, i+1, d.Line)
				assert.NotEmpty(t, d.SHA256)
				if d.Text != "" {
					texts++
				} else {
					assert.Equal(t, tc.omitted, d.TextOmitted)
				}
			}
			assert.Equal(t, tc.texts, texts, "texts kept: the burst of the first second, then the rate")
			assert.Equal(t, tc.redaction, re.redactions.Load(), "only kept texts are redacted")

			// Warnings: at most the burst and one for the second that
			// passed, yet every refused line is counted once.
			lineWarns := logs.records("file source: line dead-lettered")
			assert.LessOrEqual(t, len(lineWarns), logBurst+1)
			counted := len(lineWarns)
			for _, r := range lineWarns {
				counted += attrInt(r, "also_refused_since_last_warning")
			}
			for _, r := range logs.records("file source: more lines dead-lettered") {
				counted += attrInt(r, "count")
			}
			assert.Equal(t, 500, counted)
		})
	}
}

// TestDeadLetterDurableAndUnblocked: the dead-letter file's directories
// are created 0700 and the file 0600; a record cut short by a crash does
// not swallow the next one.
func TestDeadLetterTornTail(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "audit.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(cfg.DeadLetterFile), 0o700))
	require.NoError(t, os.WriteFile(cfg.DeadLetterFile, []byte(`{"time":"2026-01-01T00:00:00Z","sou`), 0o600))
	writeLines(t, filepath.Join(dir, "audit.log"), `{"f":"a","n":1}`, `nope`)
	fe := &fakeEmitter{}
	s, _ := start(t, cfg, fe)
	require.Eventually(t, func() bool { return s.Stats().Refused == 1 }, 5*time.Second, time.Millisecond)
	b, err := os.ReadFile(cfg.DeadLetterFile)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[1], `"line":2`)
}

// TestDeadLetterWriteFails: when a dead letter cannot be written, Run
// stops with the error and the position never passes the refused line.
func TestDeadLetterWriteFails(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "audit.log")
	blocker := filepath.Join(dir, "blocker")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	cfg.DeadLetterFile = filepath.Join(blocker, "dead-letter.ndjson")
	good := `{"f":"a","n":1}`
	writeLines(t, filepath.Join(dir, "audit.log"), good, `nope`, `{"f":"a","n":2}`)
	s, err := New(cfg, &fakeEmitter{}, testLogger(t))
	require.NoError(t, err)
	s.backoffMin = time.Millisecond
	err = s.Run(context.Background())
	require.ErrorContains(t, err, "dead-letter")
	ps, _, err := loadPositions(cfg.PositionsFile)
	require.NoError(t, err)
	for _, p := range ps {
		assert.LessOrEqual(t, p.Offset, int64(len(good)+1), "the position is not past the refused line")
	}
	assert.Zero(t, s.Stats().Refused)
}

var _ io.ReaderAt = faultyFile{}

// TestRealPipelineAndLedger runs the source against the real Normalizer
// and ledger: a line whose id is 70,000 bytes, a cut-short line holding a
// password and a text line holding a token are dead-lettered, in two
// files; the good lines before and after them become entries; the
// dead-letter texts are the pipeline's redaction and hold no secret.
func TestRealPipelineAndLedger(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "*.log")
	em, closeLedger := benchLedger(t, filepath.Join(dir, "data"))
	defer closeLedger()
	_, ok := em.(sources.Redactor)
	require.True(t, ok, "the Normalizer redacts raw records")
	good := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2026-03-01T10:00:00Z","action":"config.update","actor":{"type":"user","id":"alice"}}`, id)
	}
	for _, name := range []string{"a", "b"} {
		writeLines(t, filepath.Join(dir, name+".log"),
			good(name+"-1"),
			fmt.Sprintf(`{"id":"%s","time":"2026-03-01T10:00:00Z","action":"config.update","actor":{"type":"user","id":"alice"}}`, strings.Repeat(name, 70000)),
			good(name+"-2"),
			`{"action":"auth.login","password":"hunter2-SECRET-VALUE"`,
			`not json token=THIS-MUST-NEVER-BE-STORED`,
			good(name+"-3"))
	}
	s, stop := start(t, cfg, em)
	require.Eventually(t, func() bool { st := s.Stats(); return st.Accepted == 6 && st.Refused == 6 }, 20*time.Second, 5*time.Millisecond)
	stop()
	dl := readDeadLetters(t, cfg.DeadLetterFile)
	require.Len(t, dl, 6)
	lines := map[string][]int{}
	for _, d := range dl {
		lines[filepath.Base(d.File)] = append(lines[filepath.Base(d.File)], d.Line)
		assert.NotEmpty(t, d.Text, "texts are kept below the rate")
	}
	assert.ElementsMatch(t, []int{2, 4, 5}, lines["a.log"])
	assert.ElementsMatch(t, []int{2, 4, 5}, lines["b.log"])
	b, err := os.ReadFile(cfg.DeadLetterFile)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2")
	assert.NotContains(t, string(b), "THIS-MUST-NEVER")
	assert.Zero(t, s.Stats().Backlog)
}

// TestBacklogLeavesOutAnUnfinishedLine: a last line without its newline is
// the producer's unfinished write, not input waiting to be taken in, so it
// is no backlog (else an idle file would look like a stalled source); once
// the file grows it counts again.
func TestBacklogLeavesOutAnUnfinishedLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(path, []byte(`{"f":"a","n":1}`+"\n"+`{"f":"a","n":2`), 0o644))
	fe := &fakeEmitter{}
	s, stop := start(t, testConfig(t, dir, "audit.log"), fe)
	defer stop()
	checkOnce(t, fe, map[string]int{"a": 1})
	require.Eventually(t, func() bool { return s.Stats().Backlog == 0 }, 5*time.Second, time.Millisecond,
		"an unfinished last line is not backlog")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("}\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	checkOnce(t, fe, map[string]int{"a": 2})
	require.Eventually(t, func() bool { return s.Stats().Backlog == 0 }, 5*time.Second, time.Millisecond)
}
