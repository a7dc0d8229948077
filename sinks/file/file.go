// Package file is the sink that appends ledger entries to a local NDJSON
// file, as a SIEM would hold them: one entry per line with its ledger fields
// (seq, prev_hash, hash, sig, key_id), and after each batch a checkpoint
// record with the signed checkpoint that covers it; an idle sink adds a
// heartbeat record every heartbeat_interval. `kt verify FILE` checks it.
//
// Delivery is through a persisted cursor, moved only after the file is
// fsync'd. On start the sink cuts a torn last line and skips entries that
// the file already holds, so a crash between the write and the cursor move
// doubles nothing.
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
	"sync/atomic"
	"time"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
)

var _ sinks.Sink = (*Sink)(nil)

// Sink is a running file sink.
type Sink struct {
	cfg     Config
	led     *queue.Ledger
	cursors *queue.Cursors
	log     *slog.Logger
	f       *os.File
	next    uint64 // next seq to write
	cpSize  int64  // size of the last checkpoint record written
	latest  *ledger.Checkpoint
	sent    atomic.Uint64
}

// New opens the output file and finds where delivery resumes.
func New(cfg Config, led *queue.Ledger, cursors *queue.Cursors, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file sink %s: %w", cfg.Name, err)
	}
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file sink %s: %w", cfg.Name, err)
	}
	s := &Sink{cfg: cfg, led: led, cursors: cursors, log: log, f: f}
	next, _, err := cursors.Load(s.key())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file sink %s: cursor: %w", cfg.Name, err)
	}
	last, err := s.repairTail()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file sink %s: %w", cfg.Name, err)
	}
	if last >= 0 && uint64(last)+1 > next {
		next = uint64(last) + 1
	}
	s.next = next
	return s, nil
}

func (s *Sink) key() string { return "file." + s.cfg.Name }

// Name returns the sink's name.
func (s *Sink) Name() string { return s.cfg.Name }

// Next returns the next seq the sink will write (its cursor).
func (s *Sink) Next() uint64 { return atomic.LoadUint64(&s.next) }

// Sent returns how many entries this process wrote.
func (s *Sink) Sent() uint64 { return s.sent.Load() }

// repairTail cuts a torn last line and returns the seq of the last entry
// line in the file, or -1.
func (s *Sink) repairTail() (int64, error) {
	st, err := s.f.Stat()
	if err != nil {
		return -1, err
	}
	size := st.Size()
	const window = 1 << 20
	start := max(size-window, 0)
	buf := make([]byte, size-start)
	if _, err := s.f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return -1, err
	}
	if n := len(buf); n > 0 && buf[n-1] != '\n' {
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if cut == 0 && start > 0 {
			return -1, fmt.Errorf("%s: last line is longer than %d bytes and has no end", s.cfg.Path, window)
		}
		s.log.Warn("file sink: cutting a torn last line", "sink", s.cfg.Name, "bytes", n-cut)
		if err := s.f.Truncate(start + int64(cut)); err != nil {
			return -1, err
		}
		buf = buf[:cut]
	}
	if _, err := s.f.Seek(0, io.SeekEnd); err != nil {
		return -1, err
	}
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

// Run delivers until ctx is done.
func (s *Sink) Run(ctx context.Context) error {
	r, err := s.led.NewReader(s.next)
	if err != nil {
		return fmt.Errorf("file sink %s: %w", s.cfg.Name, err)
	}
	defer r.Close()
	hb := time.NewTimer(s.cfg.HeartbeatInterval)
	defer hb.Stop()
	var buf []byte
	for {
		changed := s.led.Changed()
		n, err := s.batch(r, &buf)
		if err != nil {
			return err
		}
		if n > 0 {
			hb.Reset(s.cfg.HeartbeatInterval)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-hb.C:
			if s.latest == nil {
				s.latest = s.led.LatestCheckpoint()
			}
			if s.latest != nil {
				if err := s.write(append(sinks.HeartbeatRecord(time.Now(), s.latest), '\n')); err != nil {
					return err
				}
			}
			hb.Reset(s.cfg.HeartbeatInterval)
		}
	}
}

// Drain delivers everything committed so far and returns; the agent calls it
// at shutdown after the ledger's final checkpoint.
func (s *Sink) Drain() error {
	r, err := s.led.NewReader(s.next)
	if err != nil {
		return fmt.Errorf("file sink %s: %w", s.cfg.Name, err)
	}
	defer r.Close()
	var buf []byte
	for {
		n, err := s.batch(r, &buf)
		if err != nil || n == 0 {
			return err
		}
	}
}

// batch writes up to BatchEvents entries and the newest checkpoint read,
// fsyncs, moves the cursor, and returns how many entries it wrote.
func (s *Sink) batch(r *queue.Reader, buf *[]byte) (int, error) {
	b := (*buf)[:0]
	n := 0
	next := s.next
	for n < s.cfg.BatchEvents {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("file sink %s: read ledger: %w", s.cfg.Name, err)
		}
		switch rec.Kind {
		case queue.KindEntry:
			if rec.Seq < next {
				continue
			}
			b = append(append(b, rec.Line...), '\n')
			next = rec.Seq + 1
			n++
		case queue.KindCheckpoint:
			s.latest = rec.Checkpoint
		}
	}
	cpSize := s.cpSize
	if s.latest != nil && s.latest.Size > cpSize && n > 0 {
		b = append(append(b, sinks.CheckpointRecord(s.latest)...), '\n')
		cpSize = s.latest.Size
	}
	*buf = b
	if len(b) == 0 {
		return 0, nil
	}
	if err := s.write(b); err != nil {
		return 0, err
	}
	s.cpSize = cpSize
	atomic.StoreUint64(&s.next, next)
	s.sent.Add(uint64(n))
	if err := s.cursors.Store(s.key(), next); err != nil {
		return 0, fmt.Errorf("file sink %s: cursor: %w", s.cfg.Name, err)
	}
	return n, nil
}

// write appends b and fsyncs. On failure (a full disk) it cuts the file
// back to where it was, so a retry never leaves half a line behind.
func (s *Sink) write(b []byte) error {
	off, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("file sink %s: %w", s.cfg.Name, err)
	}
	_, err = s.f.Write(b)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if terr := s.f.Truncate(off); terr != nil {
			s.log.Error("file sink: cannot cut back a failed write; the next start will", "sink", s.cfg.Name, "err", terr)
		}
		return fmt.Errorf("file sink %s: write: %w", s.cfg.Name, err)
	}
	return nil
}

// Close closes the output file; it may be called twice.
func (s *Sink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
