// Package file is the tailing source: it reads the JSON-lines audit files a
// control plane writes and turns every complete line into exactly one
// ledger entry, across rotations, restarts and crashes.
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
// numbers). Lines go to the Emitter in batches of up to 500 lines or 1 MiB,
// one file per batch, files taken round-robin. Each record's FallbackID is
// "file-<first 32 hex digits of the fingerprint>-<offset>", so a line read
// again after a crash gets the same id and the ledger deduplicates it.
//
// The position of a file (positions file, JSON, written atomically, 0600)
// moves only after Emit returned nil for every line before it, or the line
// was written to the dead-letter file. While lines keep coming it is saved
// at most every saveEvery (two fsyncs per save would otherwise stall every
// batch), and at once when the source catches up and at shutdown. A restart
// after a SIGKILL or power loss therefore reads again at most the lines of
// the last saveEvery; they carry the same ids (see FallbackID) and the
// ledger's id index turns each into a duplicate that is not written again,
// so every line still becomes exactly one entry. start_at applies only to the files present at the first
// start of a source (no positions file yet); every file that appears later
// is read from its beginning.
//
// # Refused lines
//
// Lines the Emitter refuses (*sources.RecordErrors, *sources.ConflictError)
// and lines over max_line_bytes (skipped to their newline without being
// held in memory) go to the dead-letter file with the reason, the file, the
// offset, the line number, the SHA-256 and length of the line, and, for
// lines not over the limit, its text after a best-effort textual redaction
// (see redact). The other lines of the batch are then emitted again. Each
// refused line is counted (DeadLettered) and logged at warn level without
// its content. On sources.ErrBusy the source pauses (100ms doubling to 5s)
// and retries the same batch; nothing is skipped.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/keeptrusts/kt/pipeline"
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

// handle is one file (inode) the source follows.
type handle struct {
	id      fileID
	path    string   // where it was last seen
	f       *os.File // nil when closed to bound descriptors
	fp      string   // "" until the file has a complete first line or 1024 bytes
	offset  int64    // next byte to read; everything before it is durable
	line    int      // lines before offset
	size    int64    // size at the last look
	matched bool     // matched by the last scan
	goneAt  time.Time
	active  time.Time // last time it grew or was read
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
}

// inFlight is how many batches of one file may wait for the ledger: while
// one is signed and synced, the next is queued and a third is read and
// normalized.
const inFlight = 2

// pending is a batch in flight; see handle.pend.
type pending struct {
	wait  func(context.Context) (sources.Result, error)
	batch []sources.Raw
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
	cfg  Config
	emit sources.Emitter
	log  *slog.Logger
	now  func() time.Time

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

	// test knobs
	noWatch    bool
	backoffMin time.Duration
	goneGrace  time.Duration
	maxOpen    int

	deadLettered atomic.Uint64
	emitted      atomic.Uint64
}

// New checks cfg and loads the positions file; nothing is read before Run.
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
		cfg: cfg, emit: emit, log: log.With("source", cfg.Name), now: time.Now,
		handles:    map[fileID]*handle{},
		known:      map[string]position{},
		firstRun:   !ok,
		dl:         deadLetterFile{path: cfg.DeadLetterFile},
		watched:    map[string]bool{},
		backoffMin: 100 * time.Millisecond,
		goneGrace:  max(2*cfg.PollInterval, minGoneGrace),
		maxOpen:    defaultOpen,
	}
	for _, p := range ps {
		s.known[p.Fingerprint] = p
	}
	return s, nil
}

// DeadLettered returns how many lines went to the dead-letter file.
func (s *Source) DeadLettered() uint64 { return s.deadLettered.Load() }

// Emitted returns how many lines the Emitter accepted.
func (s *Source) Emitted() uint64 { return s.emitted.Load() }

// Name returns the source's name.
func (s *Source) Name() string { return s.cfg.Name }

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

// watchDirs adds watches on the directories the globs look into.
func (s *Source) watchDirs(w *fsnotify.Watcher) {
	if w == nil {
		return
	}
	for _, p := range s.cfg.Paths {
		dirs := []string{filepath.Dir(p)}
		if hasMeta(dirs[0]) {
			dirs, _ = filepath.Glob(dirs[0])
		}
		for _, d := range dirs {
			if s.watched[d] {
				continue
			}
			if err := w.Add(d); err == nil {
				s.watched[d] = true
			}
		}
	}
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

func (s *Source) excluded(path string) bool {
	base := filepath.Base(path)
	lower := strings.ToLower(base)
	for _, ext := range compressed {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	for _, x := range s.cfg.Exclude {
		if ok, _ := filepath.Match(x, path); ok {
			return true
		}
		if ok, _ := filepath.Match(x, base); ok {
			return true
		}
	}
	return false
}

func statID(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileID{}
}

// scan matches the globs, follows new files, notices renamed and deleted
// ones, and closes what is fully read and gone.
func (s *Source) scan() error {
	now := s.now()
	seen := map[string]bool{}
	for _, h := range s.list {
		h.matched = false
	}
	for _, pat := range s.cfg.Paths {
		paths, _ := filepath.Glob(pat)
		for _, p := range paths {
			if seen[p] || s.excluded(p) {
				continue
			}
			seen[p] = true
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id := statID(fi)
			h := s.handles[id]
			if h == nil {
				h = s.follow(p, id)
				if h == nil {
					continue
				}
			}
			if h.path != p {
				if h.path != "" {
					s.log.Debug("file source: renamed", "from", h.path, "to", p)
				}
				h.path = p
				s.dirty = true
			}
			h.matched = true
			h.goneAt = time.Time{}
			if h.f == nil && fi.Size() != h.size {
				s.reopen(h)
			}
		}
	}
	if !s.scanned {
		s.scanned = true
		s.findRotated()
	}
	return s.gc(now)
}

// follow starts following a file not followed yet.
func (s *Source) follow(path string, id fileID) *handle {
	f, err := os.Open(path)
	if err != nil {
		s.log.Debug("file source: open", "file", path, "err", err)
		return nil
	}
	h := &handle{id: id, path: path, f: f, active: s.now(), matched: true}
	s.handles[id] = h
	s.list = append(s.list, h)
	if fi, err := f.Stat(); err == nil {
		h.size = fi.Size()
	}
	fp, err := fingerprint(f)
	if err != nil {
		s.log.Warn("file source: read head", "file", path, "err", err)
	}
	if fp != "" {
		s.adopt(h, fp, true)
	}
	return h
}

// adopt gives h its fingerprint and decides where reading starts.
func (s *Source) adopt(h *handle, fp string, mayResume bool) {
	h.fp = fp
	s.dirty = true
	for _, o := range s.list {
		if o != h && o.fp == fp && o.f != nil && o.shadowOf == nil {
			h.shadowOf = o // a copy of a file being read
			return
		}
	}
	if p, ok := s.known[fp]; ok && mayResume {
		delete(s.known, fp)
		if (fileID{p.Dev, p.Inode}) != h.id {
			h.copy = true
			h.offset, h.line = p.Offset, p.Line
			return
		}
		if h.size >= p.Offset {
			h.offset, h.line = p.Offset, p.Line
			return
		}
	}
	if !s.scanned && s.firstRun && s.cfg.StartAt == StartEnd {
		s.seekEnd(h)
	}
}

// seekEnd moves h past its last complete line, counting lines.
func (s *Source) seekEnd(h *handle) {
	buf := make([]byte, skipChunk)
	var off int64
	for {
		n, err := h.f.ReadAt(buf, off)
		for i, c := range buf[:n] {
			if c == '\n' {
				h.line++
				h.offset = off + int64(i) + 1
			}
		}
		off += int64(n)
		if err != nil || n == 0 {
			return
		}
	}
}

// reopen opens a file closed to bound descriptors, checking it is the same.
func (s *Source) reopen(h *handle) {
	f, err := os.Open(h.path)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil || statID(fi) != h.id {
		f.Close()
		return
	}
	h.f, h.size, h.active = f, fi.Size(), s.now()
	if fp, _ := fingerprint(f); fp != h.fp {
		s.restart(h, "inode reused or content replaced")
	}
}

// restart makes h a new file at offset 0 after its content was replaced;
// the old content's position is remembered for a copy of it.
func (s *Source) restart(h *handle, why string) {
	s.log.Info("file source: file replaced, reading from its start", "file", h.path, "reason", why, "offset", h.offset)
	s.retire(h)
	h.fp, h.offset, h.line = "", 0, 0
	h.skipping, h.skipSum, h.copy, h.replaced = false, nil, false, true
	s.dirty = true
}

// retire remembers h's position under its fingerprint and hands reading
// over to a copy of it, if one is followed.
func (s *Source) retire(h *handle) {
	if h.fp == "" || h.shadowOf != nil {
		return
	}
	if len(s.known) >= maxKnown {
		for k := range s.known { // drop an arbitrary old entry
			delete(s.known, k)
			break
		}
	}
	s.known[h.fp] = position{Fingerprint: h.fp, Dev: h.id.dev, Inode: h.id.ino, Path: h.path, Offset: h.offset, Line: h.line}
	fp := h.fp
	h.fp = ""
	for _, o := range s.list {
		if o.shadowOf == h {
			o.shadowOf = nil
			s.adopt(o, fp, true)
		}
	}
	h.fp = fp
}

// findRotated looks, after a restart, for saved files that left the globs
// while the agent was stopped: in the directory of the saved path, a file
// whose name starts with the saved name, with the saved device and inode or
// the saved fingerprint.
func (s *Source) findRotated() {
	for fp, p := range s.known {
		dir, base := filepath.Split(p.Path)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var byFP string
		for _, e := range ents {
			name := filepath.Join(dir, e.Name())
			if !strings.HasPrefix(e.Name(), base) || e.Name() == base || s.excluded(name) || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			id := statID(fi)
			if s.handles[id] != nil {
				continue
			}
			if id == (fileID{p.Dev, p.Inode}) {
				byFP = ""
				s.adoptRotated(name, id, fp)
				break
			}
			if byFP == "" {
				if f, err := os.Open(name); err == nil {
					if got, _ := fingerprint(f); got == fp {
						byFP = name
					}
					f.Close()
				}
			}
		}
		if byFP != "" {
			if fi, err := os.Stat(byFP); err == nil {
				s.adoptRotated(byFP, statID(fi), fp)
			}
		}
	}
}

func (s *Source) adoptRotated(path string, id fileID, fp string) {
	h := s.follow(path, id)
	if h == nil {
		return
	}
	h.matched = false
	if h.fp != fp {
		s.log.Warn("file source: rotated file changed", "file", path)
	}
	s.log.Info("file source: reading a file rotated while stopped", "file", path, "offset", h.offset)
}

// gc closes files that are gone from the globs and fully read (or idle
// for long with an incomplete last line, which is then dead-lettered), and
// bounds the descriptors of matched, fully read files.
func (s *Source) gc(now time.Time) error {
	keep := s.list[:0]
	open := 0
	var err error
	for _, h := range s.list {
		if !h.matched && h.goneAt.IsZero() {
			h.goneAt = now
		}
		drained := h.shadowOf != nil || (!h.skipping && h.offset >= h.size)
		stale := now.Sub(h.goneAt) >= 10*s.goneGrace && now.Sub(h.active) >= 10*s.goneGrace
		if err == nil && !h.matched && (h.f == nil || (drained || stale) && now.Sub(h.goneAt) >= s.goneGrace) {
			if h.f != nil && !drained {
				err = s.leftover(h)
			}
			if h.f != nil {
				h.f.Close()
				h.f = nil
			}
			fp := h.fp
			s.retire(h)
			if fp != "" && s.known[fp].Inode == h.id.ino {
				delete(s.known, fp) // not taken over by a copy: done with it
			}
			delete(s.handles, h.id)
			s.dirty = true
			continue
		}
		if h.f != nil {
			open++
		}
		keep = append(keep, h)
	}
	clear(s.list[len(keep):])
	s.list = keep
	if s.next >= len(s.list) {
		s.next = 0
	}
	if open <= s.maxOpen {
		return err
	}
	idle := make([]*handle, 0, open)
	for _, h := range s.list {
		if h.f != nil && h.matched && h.shadowOf == nil && !h.skipping && h.offset >= h.size {
			idle = append(idle, h)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].active.Before(idle[j].active) })
	for _, h := range idle[:min(len(idle), open-s.maxOpen)] {
		h.f.Close()
		h.f = nil
	}
	return err
}

// leftover dead-letters the incomplete last line of a file that is gone
// and idle: its newline will never come.
func (s *Source) leftover(h *handle) error {
	length := h.size - h.offset
	if h.skipping {
		length = h.size - h.offset
		d := s.overLong(h, h.offset, h.line+1, length, hex.EncodeToString(h.skipSum.Sum(nil)))
		d.Reason = "incomplete last line (no newline) over max_line_bytes in a file that is gone"
		return s.deadLetter([]deadLetter{d})
	}
	if length <= 0 {
		return nil
	}
	buf := make([]byte, min(length, s.cfg.MaxLineBytes))
	n, _ := h.f.ReadAt(buf, h.offset)
	d := lineLetter(s.now(), s.cfg.Name, h.path, h.offset, h.line+1, "incomplete last line (no newline) in a file that is gone", buf[:n])
	d.Length = length
	if err := s.deadLetter([]deadLetter{d}); err != nil {
		return err
	}
	h.offset, h.line = h.size, h.line+1
	return nil
}

// settle waits until every batch in flight of h is durable.
func (s *Source) settle(ctx context.Context, h *handle) error {
	return s.settleTo(ctx, h, 0)
}

// settleTo waits for the oldest batches in flight of h until at most keep
// are left, moving the offset past each. If the ledger refused a batch as
// a whole (a conflict), it is sent again by send, which dead-letters the
// refused lines.
func (s *Source) settleTo(ctx context.Context, h *handle, keep int) error {
	for len(h.pend) > keep {
		if err := s.settleOldest(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) settleOldest(ctx context.Context, h *handle) error {
	p := h.pend[0]
	h.pend = h.pend[1:]
	if _, err := p.wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.send(ctx, h, p.batch); err != nil {
			return err
		}
	} else {
		s.emitted.Add(uint64(len(p.batch)))
	}
	h.offset, h.line = p.end, p.line
	h.active = s.now()
	s.dirty = true
	return nil
}

// settleAll settles every file's batch in flight.
func (s *Source) settleAll(ctx context.Context) error {
	for _, h := range s.list {
		if err := s.settle(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// round gives every file one batch; progressed reports whether any moved.
func (s *Source) round(ctx context.Context) (progressed bool, err error) {
	n := len(s.list)
	start := s.next
	s.next = (s.next + 1) % max(n, 1)
	for i := range n {
		h := s.list[(start+i)%n]
		if h.f == nil {
			continue
		}
		if h.shadowOf != nil {
			// A copy is not read, but it may itself be truncated and
			// rewritten (the original of a copytruncate seen late).
			if fp, _ := fingerprint(h.f); fp != h.fp {
				h.shadowOf, h.fp, h.offset, h.line, h.replaced = nil, "", 0, 0, true
				progressed = true
			}
			continue
		}
		p, err := s.step(ctx, h)
		if err != nil {
			return progressed, err
		}
		progressed = progressed || p
	}
	return progressed, nil
}

// step reads and emits one batch of h. With a sources.Submitter it hands
// the batch to the ledger and then waits for the one before, so the next
// batch is read and normalized while the ledger commits; anything other
// than reading on from the batch in flight settles it first.
func (s *Source) step(ctx context.Context, h *handle) (bool, error) {
	fi, err := h.f.Stat()
	if err != nil {
		return len(h.pend) > 0, s.settle(ctx, h)
	}
	size := fi.Size()
	changed := size != h.size
	if changed {
		h.size, h.active = size, s.now()
	}
	if n := len(h.pend); n > 0 && (h.fp == "" || h.skipping || size <= h.pend[n-1].end) {
		return true, s.settle(ctx, h)
	}
	if h.fp == "" {
		fp, _ := fingerprint(h.f)
		if fp == "" {
			return false, nil
		}
		s.adopt(h, fp, !h.replaced)
		return true, nil
	}
	if size < h.offset && !h.copy {
		s.restart(h, "size below read offset")
		return true, nil
	}
	if h.skipping {
		return s.skip(h, size)
	}
	if size <= h.offset {
		// Nothing to read, but a file cut to (or below) the offset and not
		// written since is a truncation too.
		if changed && h.shadowOf == nil {
			if fp, _ := fingerprint(h.f); fp != h.fp {
				s.restart(h, "head changed")
				return true, nil
			}
		}
		return false, nil
	}
	from, line := h.readPos()
	bufSize := max(int64(batchBytes), s.cfg.MaxLineBytes+1)
	buf := make([]byte, min(size-from, bufSize))
	n, err := h.f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, errors.Join(fmt.Errorf("file %s: read %s: %w", s.cfg.Name, h.path, err), s.settle(ctx, h))
	}
	buf = buf[:n]
	// The head still has its fingerprint after the read, so what was read
	// belongs to this file and not to content written after a truncation.
	if fp, _ := fingerprint(h.f); fp != h.fp {
		if err := s.settle(ctx, h); err != nil {
			return false, err
		}
		s.restart(h, "head changed")
		return true, nil
	}
	var (
		batch []sources.Raw
		dead  []deadLetter
		pos   int
	)
	for len(batch) < batchLines {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			if pos == 0 && int64(len(buf)) > s.cfg.MaxLineBytes {
				if len(h.pend) > 0 {
					return true, s.settle(ctx, h) // skip from the durable offset
				}
				// The line has no newline within the limit: skip it.
				h.skipping, h.skipPos, h.skipSum = true, h.offset+int64(len(buf)), sha256.New()
				h.skipSum.Write(buf)
				return true, nil
			}
			break
		}
		off := from + int64(pos)
		raw := buf[pos : pos+i]
		pos += i + 1
		line++
		if int64(len(raw)) > s.cfg.MaxLineBytes {
			sum := sha256.Sum256(raw)
			dead = append(dead, s.overLong(h, off, line, int64(len(raw)), hex.EncodeToString(sum[:])))
			continue
		}
		data := bytes.TrimRight(raw, "\r")
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		batch = append(batch, sources.Raw{
			Data:       data,
			Source:     pipeline.Source{Kind: "file", Name: s.cfg.Name, File: h.path, Offset: off},
			FallbackID: fallbackID(h.fp, off),
			Line:       line,
		})
	}
	if pos == 0 {
		// A partial line: wait for its newline.
		return len(h.pend) > 0, s.settle(ctx, h)
	}
	if err := s.deadLetter(dead); err != nil {
		return false, err
	}
	end := from + int64(pos)
	if sub, ok := s.emit.(sources.Submitter); ok && len(batch) > 0 {
		wait, err := sub.Submit(batch)
		if err == nil {
			h.pend = append(h.pend, &pending{wait: wait, batch: batch, end: end, line: line})
			if err := s.settleTo(ctx, h, inFlight); err != nil {
				return false, err
			}
			return true, nil
		}
		// Refused lines or a busy ledger: the careful path below.
	}
	if err := s.settle(ctx, h); err != nil {
		return false, err
	}
	if err := s.send(ctx, h, batch); err != nil {
		return false, err
	}
	h.offset = end
	h.line = line
	h.active = s.now()
	s.dirty = true
	return true, nil
}

// skip looks for the newline that ends an over-long line, hashing it on
// the way, without holding it in memory.
func (s *Source) skip(h *handle, size int64) (bool, error) {
	if h.skipPos >= size {
		return false, nil
	}
	buf := make([]byte, min(size-h.skipPos, skipChunk))
	moved := false
	for h.skipPos < size {
		n, err := h.f.ReadAt(buf[:min(size-h.skipPos, int64(len(buf)))], h.skipPos)
		if n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return moved, fmt.Errorf("file %s: read %s: %w", s.cfg.Name, h.path, err)
			}
			return moved, nil
		}
		moved = true
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			h.skipSum.Write(buf[:i])
			end := h.skipPos + int64(i)
			d := s.overLong(h, h.offset, h.line+1, end-h.offset, hex.EncodeToString(h.skipSum.Sum(nil)))
			if err := s.deadLetter([]deadLetter{d}); err != nil {
				return moved, err
			}
			h.offset, h.line = end+1, h.line+1
			h.skipping, h.skipSum = false, nil
			s.dirty = true
			return true, nil
		}
		h.skipSum.Write(buf[:n])
		h.skipPos += int64(n)
	}
	return moved, nil
}

func (s *Source) overLong(h *handle, off int64, line int, length int64, sum string) deadLetter {
	return deadLetter{
		Time: s.now().UTC().Format(time.RFC3339Nano), Source: s.cfg.Name, File: h.path,
		Offset: off, Line: line, Length: length, SHA256: sum,
		Reason: fmt.Sprintf("line of %d bytes is over max_line_bytes (%d)", length, s.cfg.MaxLineBytes),
	}
}

// fallbackID is the event id of a line without one: stable across re-reads.
func fallbackID(fp string, off int64) string {
	return "file-" + fp[:32] + "-" + strconv.FormatInt(off, 10)
}

// send emits batch until the Emitter took all of it, dead-lettering the
// lines it refuses and waiting while it is busy.
func (s *Source) send(ctx context.Context, h *handle, batch []sources.Raw) error {
	wait := s.backoffMin
	failing := false
	for len(batch) > 0 {
		_, err := s.emit.Emit(ctx, batch)
		if err == nil {
			s.emitted.Add(uint64(len(batch)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var (
			recs     sources.RecordErrors
			recsP    *sources.RecordErrors
			conflict *sources.ConflictError
			bad      = map[int]string{}
		)
		switch {
		case errors.As(err, &recs) || errors.As(err, &recsP):
			if recsP != nil {
				recs = *recsP
			}
			for _, r := range recs {
				if r.Index >= 0 && r.Index < len(batch) {
					reason := r.Err.Error()
					if r.Field != "" {
						reason = r.Field + ": " + reason
					}
					bad[r.Index] = reason
				}
			}
		case errors.As(err, &conflict):
			for i, r := range batch {
				if r.Line == conflict.Line {
					bad[i] = conflict.Error()
				}
			}
		}
		if len(bad) > 0 {
			var dead []deadLetter
			good := batch[:0:0]
			for i, r := range batch {
				if reason, ok := bad[i]; ok {
					dead = append(dead, lineLetter(s.now(), s.cfg.Name, r.Source.File, r.Source.Offset, r.Line, reason, r.Data))
				} else {
					good = append(good, r)
				}
			}
			if err := s.deadLetter(dead); err != nil {
				return err
			}
			batch = good
			wait = s.backoffMin
			continue
		}
		if errors.Is(err, sources.ErrBusy) {
			s.log.Debug("file source: ledger busy, pausing", "file", h.path, "wait", wait)
		} else if !failing {
			failing = true
			s.log.Error("file source: emit failed, retrying", "file", h.path, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, backoffMax)
	}
	return nil
}

// deadLetter writes entries durably, counts and logs them.
func (s *Source) deadLetter(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	if err := s.dl.write(entries); err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Name, err)
	}
	for _, e := range entries {
		s.deadLettered.Add(1)
		s.log.Warn("file source: line dead-lettered", "file", e.File, "offset", e.Offset, "line", e.Line,
			"length", e.Length, "reason", redact(e.Reason))
	}
	return nil
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
	s.dl.close()
}
