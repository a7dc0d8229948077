// Package deadletter appends records to a dead-letter file durably: the
// file every part of kt that refuses a record for good writes it to, so
// that nothing is dropped silently.
//
// A dead-letter file is NDJSON, one record a line; what a record holds is
// its writer's documented format (a sink's parked records, a file source's
// refused lines), not this package's. This package only appends:
//
//   - The folder (0700) and the file (0600) are created on the first
//     append, each new name fsync'd in its parent (atomicfile), so a name
//     is durable before anything is counted on it.
//   - A batch of lines is appended with one write and one fsync: once
//     Append returns nil the lines survive a power cut, and the caller may
//     move its position past the records.
//   - A file that ends without a newline (a write a crash cut short) keeps
//     that torn line, which is evidence like the rest of the file: the next
//     append starts on a new line, so the torn record never swallows the
//     next one. Nothing in a dead-letter file is ever cut or rewritten.
package deadletter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/keeptrusts/kt/internal/atomicfile"
)

// Writer appends lines to one dead-letter file. Its methods may be called
// from several goroutines.
type Writer struct {
	path string

	mu   sync.Mutex
	f    *os.File
	torn bool // the file ends without a newline
}

// New returns a Writer of the file at path; the file is opened (and
// created) at the first Append.
func New(path string) *Writer { return &Writer{path: path} }

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Append appends lines, which are complete NDJSON lines each ending in a
// newline, with one write and one fsync. An error names the file; after
// it, a later Append starts on a new line.
func (w *Writer) Append(lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.torn {
		// Keep the torn record off the next one (a copy, only after a
		// crash or a failed write).
		lines = append([]byte{'\n'}, lines...)
	}
	if _, err := w.f.Write(lines); err != nil {
		w.torn = true
		return fmt.Errorf("dead-letter: write %s: %w", w.path, err)
	}
	w.torn = false
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("dead-letter: fsync %s: %w", w.path, err)
	}
	return nil
}

// open creates the folder and the file durably and notes whether the file
// ends in a torn line.
func (w *Writer) open() error {
	if err := atomicfile.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	f, err := atomicfile.CreateDurable(w.path, os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter: %w", err)
	}
	if n := fi.Size(); n > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], n-1); err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return fmt.Errorf("dead-letter: read %s: %w", w.path, err)
		}
		w.torn = last[0] != '\n'
	}
	w.f = f
	return nil
}

// Close closes the file; it may be called twice, and a later Append opens
// it again.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
