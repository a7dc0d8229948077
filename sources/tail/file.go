// Package tail is the file source (type "file"): it reads the JSON-lines audit files a
// control plane writes and turns every complete line into exactly one
// ledger entry, or one dead letter, across rotations, restarts and crashes.
//
// # Discovery
//
// Files matching paths (filepath.Match globs) and not exclude are scanned
// every poll_interval and whenever fsnotify reports a change in a watched
// directory; both funnel into one scan, so correctness never depends on
// notifications arriving (NFS, some containers). Compressed files (.gz,
// .bz2, .xz, .zst, .zip, .lz4) are never read, whatever the globs say: a
// rotated file that got compressed is recognised by its name, not re-read.
//
// # Identity
//
// A file is identified by its fingerprint, the SHA-256 of its head (its
// first line, newline included, when that line ends within the first 1024
// bytes, else its first 1024 bytes), plus its device and inode. A file
// holding neither a complete first line nor 1024 bytes has nothing to read
// and gets its fingerprint later. The rules:
//
//   - An open file (same device and inode) keeps its identity when renamed:
//     with rename + create rotation the old file is read to its end through
//     the descriptor the source holds, and the new file from its start.
//   - A file deleted while open is read to its end through its descriptor,
//     then closed.
//   - A file whose size drops below its read offset, or whose head no longer
//     has its fingerprint (copytruncate, truncate and rewrite), starts over
//     at offset 0 as a new file.
//   - A file on a reused inode with other content is a new file.
//   - A file on a new inode with the fingerprint of a file being read is a
//     copy of it (copytruncate's copy): it is not read while the original
//     still has that fingerprint; when the original is truncated, reading
//     goes on in the copy from the original's offset, so the lines written
//     between the last read and the copy are not lost.
//   - After a restart, files are matched to saved positions by fingerprint
//     (not path or inode), and a saved file that left the globs (rotated
//     while the agent was stopped) is looked for by device and inode, then
//     by fingerprint, among the files of its directory whose names start
//     with its old name, and read to its end.
//
// Two files whose first lines are byte-identical look like copies of each
// other; audit events carry ids and times, so kt's input never does that.
//
// # Reading and acknowledgement
//
// Only complete lines are read: bytes after the last newline wait until
// their newline arrives. Blank lines are skipped (and counted in line
// numbers). A carriage return before the newline and a UTF-8 byte order
// mark (EF BB BF) at the start of a line, as Windows tools write at the
// start of a file, are not part of the record; offsets, line numbers and
// fallback ids still count the file's bytes. Lines go to the Emitter in
// batches of up to 500 lines or 1 MiB, one file per batch, files taken
// round-robin. Each record's FallbackID is
// "file-<first 32 hex digits of the fingerprint>-<offset>", so a line read
// again after a crash gets the same id and the ledger deduplicates it.
//
// The position of a file (positions file, JSON, written atomically, 0600)
// moves only after Emit returned nil for every line before it, or the line
// was written to the dead-letter file and that file fsync'd. While lines
// keep coming it is saved at most every saveEvery (two fsyncs per save
// would otherwise stall every batch), and at once when the source catches
// up and at shutdown. A restart after a SIGKILL or power loss therefore
// reads again at most the lines of the last saveEvery; they carry the same
// ids (see FallbackID) and the ledger's id index turns each into a
// duplicate that is not written again, so every line still becomes
// exactly one entry. The directory of the positions and dead-letter files
// is created durably (each new directory and its parent fsync'd), and so
// is the dead-letter file's name. start_at applies only to the files
// present at the first start of a source (no positions file yet); every
// file that appears later is read from its beginning.
//
// # Refused lines
//
// A line that can never be accepted goes to the dead-letter file and never
// blocks the lines after it:
//
//   - lines the Emitter refuses (*sources.RecordErrors, and
//     *sources.ConflictError for an id the ledger or an earlier line of the
//     batch holds with other content); the other lines of the batch are
//     then emitted again;
//   - lines over max_line_bytes, skipped to their newline without being
//     held in memory;
//   - the incomplete last line of a file that is gone;
//   - a line the Emitter fails alone with an error that names no line,
//     while it takes other lines meanwhile (see below).
//
// Each dead letter has the reason, the file, the offset, the line number
// and the SHA-256 and length of the line. Its text is kept only after the
// Emitter's own redaction (sources.Redactor), for at most
// dead_letter_text_rate lines a second: with no Redactor no text is kept
// at all, and past the rate the record says "text_omitted":"rate". The
// refused lines of a batch are written with one write and one fsync.
// Refusals are counted (Stats.Refused) and logged at warn level without
// their content: ten warnings at once, then one a second, carrying the
// number of lines refused without a warning of their own.
//
// # Errors that are not about a line
//
// On sources.ErrBusy the source pauses (100ms doubling to 5s) and retries
// the same batch; nothing is skipped. Any other error is retried once
// after a pause; if it persists the batch is split to take every line
// before the first one that fails alone, and the lines after that one are
// tried one by one until the Emitter takes one. A line that failed alone
// is dead-lettered only once the Emitter has taken another line since (so
// it is the line, not the ledger, that cannot be taken) and it fails alone
// again; the line taken to show it comes before it in the ledger. Until
// then the file waits (100ms doubling to 5s) at that line and the other
// files go on: a ledger that is down holds every line in its file, never
// drops one. A read error holds back only its own file in the same way.
//
// # Progress
//
// Stats reports the lines that became new entries, those the ledger
// already held (re-reads), the refused ones, the backlog (bytes of the
// followed files past their positions) and the last time a line became
// durable or was refused: a source with a backlog and no progress for
// long is stuck, and the agent reports it.
package tail

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/time/rate"

	"github.com/keeptrusts/kt/sources"
)

const (
	batchLines   = 500
	batchBytes   = 1 << 20
	backoffMax   = 5 * time.Second
	maxKnown     = 4096 // positions of files without an open descriptor
	defaultOpen  = 1024 // descriptors of fully read, still matched files beyond this are closed
	skipChunk    = 64 << 10
	saveEvery    = 200 * time.Millisecond // positions saves while busy, at most
	minGoneGrace = time.Second
)

var compressed = []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z"}

// fileID is a file's device and inode.
type fileID struct{ dev, ino uint64 }

// osFile is what the source uses of an open file: an *os.File.
type osFile interface {
	io.ReaderAt
	Stat() (os.FileInfo, error)
	Close() error
}

func openFile(path string) (osFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// handle is one file (inode) the source follows.
type handle struct {
	id     fileID
	path   string // where it was last seen
	f      osFile // nil when closed to bound descriptors
	fp     string // "" until the file has a complete first line or 1024 bytes
	offset int64  // next byte to read; everything before it is durable
	line   int    // lines before offset
	size   int64  // size at the last look
	// partialAt is the size at which everything after offset was found to
	// be one incomplete line, waiting for its newline; while the size stays
	// there it is not counted as backlog.
	partialAt int64
	matched   bool // matched by the last scan
	goneAt    time.Time
	active    time.Time // last time it grew or was read
	// shadowOf is set on a copy of a file being read: not read itself.
	shadowOf *handle
	// An over-long line is being skipped: it starts at offset; skipPos is
	// how far the search for its newline got; skipSum hashes it.
	skipping bool
	skipPos  int64
	skipSum  hash.Hash
	// copy: resumed from the position of another inode (a copy or a file
	// rotated while stopped): a size below offset means the copy is older
	// than what was read, not a truncation.
	copy bool
	// replaced: the content was replaced (truncation); the new content never
	// resumes a remembered position.
	replaced bool
	// pend are batches handed to the ledger (sources.Submitter) and not
	// yet durable, oldest first, at most inFlight; offset moves past each
	// once it is durable.
	pend []*pending
	// The file is held back until retryAt (wall clock) after its batch
	// could not be made durable or it could not be read; stallWait is the
	// pause, doubling from backoffMin to backoffMax while it lasts.
	retryAt    time.Time
	stallWait  time.Duration
	readErr    string // the read error being waited out, for the log
	readSince  time.Time
	readLogged time.Time
	// suspect is the line at offset suspectOff (while the file has
	// fingerprint suspectFP) that the Emitter failed alone when it had
	// taken suspectOK batches: once it has taken more and the line fails
	// alone again, the line is dead-lettered.
	suspectOff int64
	suspectFP  string
	suspectOK  uint64
}

// inFlight is how many batches of one file may wait for the ledger: while
// one is signed and synced, the next is queued and a third is read and
// normalized.
const inFlight = 2

// pending is a batch in flight; see handle.pend.
type pending struct {
	wait  func(context.Context) (sources.Result, error)
	batch []sources.Raw
	chunk chunk
	end   int64 // offset after the batch
	line  int   // lines before end
}

// readPos returns where the next batch starts: after the batch in flight,
// or at the durable offset.
func (h *handle) readPos() (int64, int) {
	if n := len(h.pend); n > 0 {
		return h.pend[n-1].end, h.pend[n-1].line
	}
	return h.offset, h.line
}

// Source tails the files of one `source "file"` block.
type Source struct {
	cfg      Config
	emit     sources.Emitter
	redactor sources.Redactor // nil: dead letters keep no text
	log      *slog.Logger
	now      func() time.Time
	open     func(path string) (osFile, error)

	handles  map[fileID]*handle
	list     []*handle // round-robin order
	next     int
	known    map[string]position // fingerprint -> position of files not open
	firstRun bool                // no positions file existed at New
	scanned  bool                // the first scan is done
	dirty    bool
	saved    time.Time // last positions save
	dl       deadLetterFile
	watched  map[string]bool

	texts    *rate.Limiter // dead-letter texts; nil keeps none
	warns    *rate.Limiter // warnings of refused lines
	unlogged uint64        // refused lines without a warning of their own

	emitOK       uint64        // successful Emit calls and batches in flight confirmed
	failingSince time.Time     // first of a run of failed emits that named no line
	failures     int           // failed emits in that run
	failLog      *rate.Limiter // repeats of the failure's log line

	// test knobs
	noWatch    bool
	backoffMin time.Duration
	goneGrace  time.Duration
	maxOpen    int

	emitted atomic.Uint64 // lines the Emitter took: accepted + duplicates
	counts  sources.Counters
}

var _ sources.StatsReporter = (*Source)(nil)

// New checks cfg and loads the positions file; nothing is read before Run.
// When emit is a sources.Redactor, dead letters keep the redacted text of
// (a sample of) the refused lines; otherwise they keep none.
func New(cfg Config, emit sources.Emitter, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ps, ok, err := loadPositions(cfg.PositionsFile)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", cfg.Name, err)
	}
	s := &Source{
		cfg: cfg, emit: emit, log: log.With("source", cfg.Name), now: time.Now, open: openFile,
		handles:    map[fileID]*handle{},
		known:      map[string]position{},
		firstRun:   !ok,
		dl:         deadLetterFile{path: cfg.DeadLetterFile},
		watched:    map[string]bool{},
		texts:      newTextLimiter(cfg.DeadLetterTextRate),
		warns:      newWarnLimiter(),
		failLog:    rate.NewLimiter(rate.Every(time.Minute), 1),
		backoffMin: 100 * time.Millisecond,
		goneGrace:  max(2*cfg.PollInterval, minGoneGrace),
		maxOpen:    defaultOpen,
	}
	s.redactor, _ = emit.(sources.Redactor)
	for _, p := range ps {
		s.known[p.Fingerprint] = p
	}
	return s, nil
}

// DeadLettered returns how many lines went to the dead-letter file
// (Stats().Refused).
func (s *Source) DeadLettered() uint64 { return s.counts.Refused() }

// Emitted returns how many lines the Emitter took: new entries and
// duplicates (Stats().Accepted + Stats().Duplicates).
func (s *Source) Emitted() uint64 { return s.emitted.Load() }

// Name returns the source's name.
func (s *Source) Name() string { return s.cfg.Name }

// Stats implements sources.StatsReporter; it is safe to call while Run
// runs. Backlog is the sum over the followed files of their size at the
// last look minus their position.
func (s *Source) Stats() sources.Stats { return s.counts.Stats("bytes") }

// updateBacklog recomputes Stats().Backlog.
func (s *Source) updateBacklog() {
	var n int64
	for _, h := range s.list {
		if h.shadowOf == nil && h.size > h.offset && !(h.partialAt == h.size && len(h.pend) == 0) {
			n += h.size - h.offset
		}
	}
	s.counts.SetBacklog(n)
}

// Run tails until ctx is done, then saves the positions and returns nil. It
// returns an error only when positions or dead letters cannot be written:
// moving on then would lose or double lines. Run may be called once.
func (s *Source) Run(ctx context.Context) error {
	defer s.closeAll()
	scanc := make(chan struct{}, 1)
	readc := make(chan struct{}, 1)
	var w *fsnotify.Watcher
	if !s.noWatch {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			s.log.Warn("file source: no change notifications, polling only", "err", err)
			w = nil
		} else {
			defer w.Close()
			go s.watch(w, scanc, readc)
		}
	}
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	s.watchDirs(w)
	if err := s.scan(); err != nil {
		return err
	}
	for {
		progressed, err := s.round(ctx)
		s.flushWarnings(false)
		s.updateBacklog()
		if err == nil && s.dirty && (!progressed || time.Since(s.saved) >= saveEvery) {
			err = s.save()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if progressed {
			select {
			case <-scanc:
			case <-tick.C:
			default:
				continue
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-readc:
				continue
			case <-scanc:
			case <-tick.C:
			}
		}
		if err := s.settleAll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.watchDirs(w)
		if err := s.scan(); err != nil {
			return err
		}
	}
}

// watch turns notifications into wake-ups: names appearing or leaving call
// for a scan, writes only for a read round.
func (s *Source) watch(w *fsnotify.Watcher, scanc, readc chan<- struct{}) {
	poke := func(c chan<- struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename|fsnotify.Chmod) != 0 {
				poke(scanc)
			}
			poke(readc)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Debug("file source: notification error", "err", err)
			poke(scanc)
		}
	}
}

// save writes the positions of every followed file and remembered one.
func (s *Source) save() error {
	ps := make([]position, 0, len(s.list)+len(s.known))
	have := map[string]bool{}
	for _, h := range s.list {
		if h.fp == "" || h.shadowOf != nil || have[h.fp] {
			continue
		}
		have[h.fp] = true
		ps = append(ps, position{Fingerprint: h.fp, Dev: h.id.dev, Inode: h.id.ino, Path: h.path, Offset: h.offset, Line: h.line})
	}
	for fp, p := range s.known {
		if !have[fp] {
			ps = append(ps, p)
		}
	}
	if err := savePositions(s.cfg.PositionsFile, ps); err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Name, err)
	}
	s.dirty, s.saved = false, time.Now()
	return nil
}

func (s *Source) closeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.settleAll(ctx); err != nil {
		s.log.Warn("file source: a batch was not confirmed durable before stop; it is read again at the next start", "err", err)
	}
	cancel()
	s.flushWarnings(true)
	if s.dirty {
		if err := s.save(); err != nil {
			s.log.Error("file source: save positions", "err", err)
		}
	}
	for _, h := range s.list {
		if h.f != nil {
			h.f.Close()
			h.f = nil
		}
	}
	s.updateBacklog()
	s.dl.close()
}

// errStuck reports that a file's batch could not be made durable now: the
// file's position stays before the line that failed and the file is held
// back for a while (see handle.retryAt); the other files go on.
var errStuck = errors.New("file: batch not taken, retrying later")
