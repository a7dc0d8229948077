// Package file is the sink that appends ledger entries to a local NDJSON
// file, as a SIEM would hold them: one entry per line with its ledger fields
// (seq, prev_hash, hash, sig, key_id), and after each batch a checkpoint
// record with the signed checkpoint that covers it; an idle sink adds a
// heartbeat record every heartbeat_interval. `kt verify FILE` checks it.
//
// The sink runs on sinks.Engine like every sink: its Transport appends a
// batch's lines and fsyncs. It is a sinks.CursorState transport: the
// cursor keeps, with the seq of the next entry, the size of the file after
// the batch before it (the aux value of queue.Cursor): the end of what is
// known durable. On start (Resume) the sink cuts the file back to that
// size — what a crash can leave after it (a torn line, pages of zeros
// before a complete line, a batch whose cursor move was lost) is written
// again from the cursor — so it neither skips nor doubles an entry. The
// bytes before it were fsync'd: damage there is no crash, and is reported
// (an error at every start; kt verify names the lines), never cut.
//
// The output file and its directory are created durably (each new name
// fsync'd in its parent) before anything is written into them. A file
// cannot refuse one record: a failed write (a full disk) is cut back and
// the Engine writes the batch again after its backoff.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
)

var _ sinks.CursorState = (*Transport)(nil)

// Transport appends batches to the output file. The Engine calls it one
// batch at a time (it is a CursorState transport).
type Transport struct {
	cfg  Config
	log  *slog.Logger
	f    *os.File
	size int64  // end of the file: what is written and fsync'd
	buf  []byte // the lines of the batch being written

	// writeAt is f.WriteAt; a test makes it fail as a full disk does.
	writeAt func(f *os.File, b []byte, off int64) (int, error)
}

// NewTransport validates cfg and opens (creates, durably) the output file
// and its directory. Where delivery resumes is found by Resume, which the
// Engine calls.
func NewTransport(cfg Config, log *slog.Logger) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file sink %s: %w", cfg.Name, err)
	}
	f, err := atomicfile.CreateDurable(cfg.Path, 0, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file sink %s: %w", cfg.Name, err)
	}
	return &Transport{cfg: cfg, log: log, f: f, writeAt: (*os.File).WriteAt}, nil
}

// tailWindow is how much of the file before its trusted end is checked at
// start, and how far back a cursor without a size looks for the last
// entry line.
const tailWindow = 1 << 20

// Resume finds where delivery resumes and cuts the file to where it is
// trusted (see the package doc).
func (s *Transport) Resume(cur queue.Cursor, ok bool) (uint64, error) {
	next, err := s.resume(cur, ok)
	if err != nil {
		return 0, fmt.Errorf("file sink %s: %w", s.cfg.Name, err)
	}
	return next, nil
}

func (s *Transport) resume(cur queue.Cursor, ok bool) (uint64, error) {
	st, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if !ok || !cur.HasAux {
		// No cursor, or one from a version that kept no size.
		last, err := s.repairTail(size)
		if err != nil {
			return 0, err
		}
		if last >= 0 && uint64(last)+1 > cur.Next {
			return uint64(last) + 1, nil
		}
		return cur.Next, nil
	}
	synced := int64(cur.Aux)
	switch {
	case size == 0 && synced > 0:
		// A new file where the old one was (moved away, or rotated):
		// delivery goes on from the cursor.
		s.log.Warn("file sink: the output file is new; delivery goes on from the cursor", "sink", s.cfg.Name, "file", s.cfg.Path, "next_seq", cur.Next)
		return cur.Next, nil
	case size < synced:
		// Bytes that were fsync'd are gone: no crash does that.
		s.log.Error("file sink: the output file is shorter than what was written and fsync'd before the cursor: it was cut or replaced; going on after its last complete entry line",
			"sink", s.cfg.Name, "file", s.cfg.Path, "bytes", size, "synced_bytes", synced)
		last, err := s.repairTail(size)
		if err != nil {
			return 0, err
		}
		if last < 0 {
			return cur.Next, nil
		}
		return uint64(last) + 1, nil
	case size > synced:
		// Written after the last cursor move: a batch a crash may have
		// torn anywhere. It is written again from the cursor.
		s.log.Warn("file sink: cutting what was written after the last cursor move; it is written again", "sink", s.cfg.Name, "file", s.cfg.Path, "offset", synced, "bytes", size-synced)
		if err := s.f.Truncate(synced); err != nil {
			return 0, err
		}
		if err := s.f.Sync(); err != nil {
			return 0, err
		}
	}
	s.size = synced
	if bad := s.checkSynced(); bad != "" {
		s.log.Error("file sink: the output file is damaged before the end of what was fsync'd (no crash does that); kt verify names the lines: "+bad,
			"sink", s.cfg.Name, "file", s.cfg.Path)
	}
	return cur.Next, nil
}

// checkSynced checks the last tailWindow bytes before s.size, which were
// fsync'd: complete lines of JSON objects, no zeros. It returns what is
// wrong, or "".
func (s *Transport) checkSynced() string {
	if s.size == 0 {
		return ""
	}
	start := max(s.size-tailWindow, 0)
	buf := make([]byte, s.size-start)
	if _, err := s.f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		return fmt.Sprintf("zero bytes at offset %d", start+int64(i))
	}
	if buf[len(buf)-1] != '\n' {
		return fmt.Sprintf("the line before offset %d has no end", s.size)
	}
	if start > 0 {
		// The first line of the window may be the end of a longer one.
		i := bytes.IndexByte(buf, '\n')
		start, buf = start+int64(i)+1, buf[i+1:]
	}
	for off := start; len(buf) > 0; {
		i := bytes.IndexByte(buf, '\n')
		if !json.Valid(buf[:i]) {
			return fmt.Sprintf("the line at offset %d is not JSON", off)
		}
		off, buf = off+int64(i)+1, buf[i+1:]
	}
	return ""
}

// repairTail cuts a torn last line of a file of size bytes and returns the
// seq of the last entry line in the file, or -1. It is for files whose
// cursor keeps no size.
func (s *Transport) repairTail(size int64) (int64, error) {
	start := max(size-tailWindow, 0)
	buf := make([]byte, size-start)
	if _, err := s.f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return -1, err
	}
	if n := len(buf); n > 0 && buf[n-1] != '\n' {
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if cut == 0 && start > 0 {
			return -1, fmt.Errorf("%s: last line is longer than %d bytes and has no end", s.cfg.Path, tailWindow)
		}
		s.log.Warn("file sink: cutting a torn last line", "sink", s.cfg.Name, "bytes", n-cut)
		if err := s.f.Truncate(start + int64(cut)); err != nil {
			return -1, err
		}
		buf = buf[:cut]
	}
	s.size = start + int64(len(buf))
	for len(buf) > 0 {
		buf = bytes.TrimSuffix(buf, []byte{'\n'})
		i := bytes.LastIndexByte(buf, '\n')
		line := buf[i+1:]
		buf = buf[:i+1]
		var probe struct {
			Seq    *uint64 `json:"seq"`
			Record string  `json:"record"`
		}
		if json.Unmarshal(line, &probe) == nil && probe.Seq != nil && probe.Record == "" {
			return int64(*probe.Seq), nil
		}
	}
	return -1, nil
}

// Send appends the records' lines, in order, and fsyncs. It writes
// nothing once ctx is done. A failed write is cut back (see write) and
// returned as a retryable error.
func (s *Transport) Send(ctx context.Context, recs []sinks.Record) error {
	if s.f == nil {
		return fmt.Errorf("file sink %s: send after Close", s.cfg.Name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file sink %s: %w", s.cfg.Name, err)
	}
	n := 0
	for _, r := range recs {
		n += len(r.Line) + 1
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, 0, n)
	}
	b := s.buf[:0]
	for _, r := range recs {
		b = append(append(b, r.Line...), '\n')
	}
	s.buf = b
	return s.write(b)
}

// CursorAux returns the size of the file, all of it fsync'd: the Engine
// stores it with the cursor.
func (s *Transport) CursorAux() uint64 { return uint64(s.size) }

// write appends b and fsyncs. On failure (a full disk) it cuts the file
// back to where it was, so a retry never leaves half a line behind.
func (s *Transport) write(b []byte) error {
	_, err := s.writeAt(s.f, b, s.size)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			s.log.Error("file sink: cannot cut back a failed write; the next start will", "sink", s.cfg.Name, "err", terr)
		}
		return fmt.Errorf("file sink %s: write: %w", s.cfg.Name, err)
	}
	s.size += int64(len(b))
	return nil
}

// Close closes the output file; it may be called twice.
func (s *Transport) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
