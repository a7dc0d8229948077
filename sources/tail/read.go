package tail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

// bom is the UTF-8 byte order mark.
var bom = []byte{0xEF, 0xBB, 0xBF}

// record returns the bytes of line that are the record: without the
// carriage returns before its newline and a byte order mark at its start.
func record(line []byte) []byte {
	return bytes.TrimPrefix(bytes.TrimRight(line, "\r"), bom)
}

// chunk is the buffer a batch was read from: buf holds the file's bytes
// from offset from. The records of the batch point into it.
type chunk struct {
	buf  []byte
	from int64
}

// line returns the line of r as it is in the file, without its newline.
func (c chunk) line(r sources.Raw) []byte {
	start := r.Source.Offset - c.from
	if start < 0 || start > int64(len(c.buf)) {
		return r.Data
	}
	b := c.buf[start:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return b
}

// settle waits until every batch in flight of h is durable.
func (s *Source) settle(ctx context.Context, h *handle) error {
	return s.settleTo(ctx, h, 0)
}

// settleTo waits for the oldest batches in flight of h until at most keep
// are left, moving the offset past each. If the ledger refused a batch as
// a whole (a conflict), it is sent again by deliver, which dead-letters
// the refused lines.
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
	res, err := p.wait(ctx)
	if err == nil {
		s.took(len(p.batch), res)
		s.moveTo(h, p.end, p.line)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = s.deliver(ctx, h, p.batch, p.chunk, nil, p.end, p.line)
	if errors.Is(err, errStuck) {
		// The position stays before the line that failed: the batches
		// after it are read again later (their lines as duplicates).
		for _, q := range h.pend {
			if res, err := q.wait(ctx); err == nil {
				s.took(len(q.batch), res)
			}
		}
		h.pend = nil
	}
	return err
}

// settleAll settles every file's batch in flight.
func (s *Source) settleAll(ctx context.Context) error {
	for _, h := range s.list {
		if err := s.settle(ctx, h); err != nil && !errors.Is(err, errStuck) {
			return err
		}
	}
	return nil
}

// moveTo moves h's position to off (line lines before it), once the lines
// before it are durable or dead-lettered.
func (s *Source) moveTo(h *handle, off int64, line int) {
	if off > h.offset {
		h.stallWait, h.retryAt = 0, time.Time{}
	}
	h.offset, h.line = off, line
	h.active = s.now()
	s.dirty = true
}

// stall holds h back for a while: its batch could not be made durable, or
// it could not be read. The pause doubles while it lasts.
func (s *Source) stall(h *handle) {
	h.stallWait = min(max(2*h.stallWait, s.backoffMin), backoffMax)
	h.retryAt = time.Now().Add(h.stallWait)
}

// readFailed holds h back after a read error; the other files go on. The
// error is logged at once, then once a minute while it lasts.
func (s *Source) readFailed(h *handle, err error) {
	now := time.Now()
	if h.readErr == "" {
		h.readSince, h.readLogged = now, now
		s.log.Warn("file source: read failed; retrying this file later, the other files go on", "file", h.path, "err", err)
	} else if now.Sub(h.readLogged) >= time.Minute {
		h.readLogged = now
		s.log.Warn("file source: read still failing; retrying this file later, the other files go on", "file", h.path,
			"since", h.readSince.UTC().Format(time.RFC3339), "err", err)
	}
	h.readErr = err.Error()
	s.stall(h)
}

// readOK notes that h reads again after a read error.
func (s *Source) readOK(h *handle) {
	if h.readErr != "" {
		s.log.Info("file source: file reads again", "file", h.path)
		h.readErr = ""
		h.stallWait, h.retryAt = 0, time.Time{}
	}
}

// round gives every file one batch; progressed reports whether any moved.
func (s *Source) round(ctx context.Context) (progressed bool, err error) {
	n := len(s.list)
	start := s.next
	s.next = (s.next + 1) % max(n, 1)
	now := time.Now()
	for i := range n {
		h := s.list[(start+i)%n]
		if h.f == nil {
			continue
		}
		if h.shadowOf != nil {
			// A copy is not read, but it may itself be truncated and
			// rewritten (the original of a copytruncate seen late).
			if fp, err := fingerprint(h.f); err == nil && fp != h.fp {
				h.shadowOf, h.fp, h.offset, h.line, h.replaced = nil, "", 0, 0, true
				progressed = true
			}
			continue
		}
		if now.Before(h.retryAt) {
			continue
		}
		p, err := s.step(ctx, h)
		if errors.Is(err, errStuck) {
			continue
		}
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
// than reading on from the batch in flight settles it first. It returns
// errStuck when h's batch could not be made durable (h is then held back).
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
		fp, err := fingerprint(h.f)
		if err != nil {
			s.readFailed(h, err)
			return false, nil
		}
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
			fp, err := fingerprint(h.f)
			if err != nil {
				s.readFailed(h, err)
				return false, nil
			}
			if fp != h.fp {
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
		s.readFailed(h, fmt.Errorf("read at %d: %w", from, err))
		return false, nil
	}
	buf = buf[:n]
	// The head still has its fingerprint after the read, so what was read
	// belongs to this file and not to content written after a truncation.
	fp, err := fingerprint(h.f)
	if err != nil {
		s.readFailed(h, err)
		return false, nil
	}
	s.readOK(h)
	if fp != h.fp {
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
		data := record(raw)
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
		// A partial line: wait for its newline. Until the file grows,
		// what is left of it is no backlog: the producer has not finished
		// writing it.
		if len(h.pend) == 0 {
			h.partialAt = size
		}
		return len(h.pend) > 0, s.settle(ctx, h)
	}
	end := from + int64(pos)
	c := chunk{buf: buf, from: from}
	if sub, ok := s.emit.(sources.Submitter); ok {
		wait, rest, refused, err := s.submit(sub, batch, c)
		dead = append(dead, refused...)
		if err == nil {
			if err := s.deadLetter(sortByOffset(dead)); err != nil {
				return false, err
			}
			h.pend = append(h.pend, &pending{wait: wait, batch: rest, chunk: c, end: end, line: line})
			return true, s.settleTo(ctx, h, inFlight)
		}
		// A busy ledger or an error that names no line: the careful
		// path below.
		batch = rest
	}
	if err := s.settle(ctx, h); err != nil {
		return false, err
	}
	return true, s.deliver(ctx, h, batch, c, dead, end, line)
}

// deliver sends batch (read from c), writes the dead letters of its
// refused lines and of dead with one fsync, and moves h's position to end.
// When the Emitter keeps failing it at a line without naming it, the lines
// before that one are settled, the position moves to it, h is held back
// and deliver returns errStuck.
func (s *Source) deliver(ctx context.Context, h *handle, batch []sources.Raw, c chunk, dead []deadLetter, end int64, line int) error {
	settled, refused, err := s.send(ctx, h, batch, c)
	if err != nil {
		return err
	}
	dead = sortByOffset(append(dead, refused...))
	if settled < len(batch) {
		stop := batch[settled]
		// Lines after stop are read again: so are their dead letters.
		dead = dead[:sort.Search(len(dead), func(i int) bool { return dead[i].Offset >= stop.Source.Offset })]
		if err := s.deadLetter(dead); err != nil {
			return err
		}
		s.moveTo(h, stop.Source.Offset, stop.Line-1)
		s.stall(h)
		return errStuck
	}
	if err := s.deadLetter(dead); err != nil {
		return err
	}
	s.moveTo(h, end, line)
	return nil
}

func sortByOffset(d []deadLetter) []deadLetter {
	sort.SliceStable(d, func(i, j int) bool { return d[i].Offset < d[j].Offset })
	return d
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
				s.readFailed(h, fmt.Errorf("read at %d: %w", h.skipPos, err))
			}
			return moved, nil
		}
		moved = true
		s.readOK(h)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			h.skipSum.Write(buf[:i])
			end := h.skipPos + int64(i)
			d := s.overLong(h, h.offset, h.line+1, end-h.offset, hex.EncodeToString(h.skipSum.Sum(nil)))
			if err := s.deadLetter([]deadLetter{d}); err != nil {
				return moved, err
			}
			h.skipping, h.skipSum = false, nil
			s.moveTo(h, end+1, h.line+1)
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
		Offset: off, Line: line, Length: length, SHA256: sum, TextOmitted: omitTooLong,
		Reason: fmt.Sprintf("line of %d bytes is over max_line_bytes (%d)", length, s.cfg.MaxLineBytes),
	}
}

// fallbackID is the event id of a line without one: stable across re-reads.
func fallbackID(fp string, off int64) string {
	return "file-" + fp[:32] + "-" + strconv.FormatInt(off, 10)
}
