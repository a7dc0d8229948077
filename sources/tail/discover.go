package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

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
	f, err := s.open(path)
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
	f, err := s.open(h.path)
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
// for long with an incomplete last line, which is then dead-lettered; a
// file held back is not idle), and bounds the descriptors of matched,
// fully read files.
func (s *Source) gc(now time.Time) error {
	keep := s.list[:0]
	open := 0
	var err error
	for _, h := range s.list {
		if !h.matched && h.goneAt.IsZero() {
			h.goneAt = now
		}
		drained := h.shadowOf != nil || (!h.skipping && h.offset >= h.size)
		// Idle for long, and not held back (by the ledger or a read
		// error): what is left after the offset is an incomplete line.
		stale := now.Sub(h.goneAt) >= 10*s.goneGrace && now.Sub(h.active) >= 10*s.goneGrace && h.stallWait == 0
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
	const why = "incomplete last line (no newline) in a file that is gone"
	length := h.size - h.offset
	var d deadLetter
	switch {
	case h.skipping:
		d = s.overLong(h, h.offset, h.line+1, length, hex.EncodeToString(h.skipSum.Sum(nil)))
		d.Reason = why + ", over max_line_bytes"
	case length <= 0:
		return nil
	case length > s.cfg.MaxLineBytes:
		sum := sha256.New()
		_, err := io.Copy(sum, io.NewSectionReader(h.f, h.offset, length))
		d = s.overLong(h, h.offset, h.line+1, length, hex.EncodeToString(sum.Sum(nil)))
		d.Reason = why + ", over max_line_bytes"
		if err != nil {
			d.Reason += fmt.Sprintf(" (read: %v; sha256 covers the bytes read)", err)
		}
	default:
		buf := make([]byte, length)
		n, err := h.f.ReadAt(buf, h.offset)
		reason := why
		if n < len(buf) {
			reason += fmt.Sprintf(" (read: %v; sha256 covers the %d bytes read)", err, n)
		}
		d = s.letter(s.now(), h.path, h.offset, h.line+1, reason, buf[:n], record(buf[:n]))
		d.Length = length
	}
	if err := s.deadLetter([]deadLetter{d}); err != nil {
		return err
	}
	h.offset, h.line = h.size, h.line+1
	h.skipping, h.skipSum = false, nil
	return nil
}
