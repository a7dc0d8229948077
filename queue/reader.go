package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keeptrusts/kt/ledger"
)

// ItemKind says what an Item holds.
type ItemKind int

// Item kinds. They are not stored: the frame types of the package doc are.
const (
	ItemEntry      ItemKind = 1 // a ledger entry
	ItemCheckpoint ItemKind = 2 // a commit checkpoint
)

// String returns "entry" or "checkpoint".
func (k ItemKind) String() string {
	switch k {
	case ItemEntry:
		return "entry"
	case ItemCheckpoint:
		return "checkpoint"
	}
	return fmt.Sprintf("ItemKind(%d)", int(k))
}

// Item is one frame of the ledger as Reader and Scan return it: an entry
// or a commit checkpoint.
type Item struct {
	Kind       ItemKind
	Seq        uint64             // entries: the seq
	ID         []byte             // entries: the event id, valid until the next call
	Line       []byte             // entries: the NDJSON wire line, no newline
	Checkpoint *ledger.Checkpoint // checkpoints: the signed commit checkpoint
}

// Reader reads committed items in order: entries with seq >= from and
// the commit checkpoints after them. It skips damaged byte ranges. A Reader
// is for one goroutine; many Readers may run at once.
type Reader struct {
	l      *Ledger
	want   uint64 // next entry seq to return
	from   uint64
	seg    segInfo
	f      *os.File
	pos    int64
	buf    []byte
	bufOff int64
	line   []byte
	e      wentry
}

const readChunk = 256 << 10

// NewReader returns a Reader of the entries with seq >= from and the
// commit checkpoints of size > from.
func (l *Ledger) NewReader(from uint64) (*Reader, error) {
	l.mu.Lock()
	if len(l.segs) == 0 {
		l.mu.Unlock()
		return nil, errors.New("queue: no segments")
	}
	seg := l.segs[0]
	for _, s := range l.segs {
		if s.first <= from {
			seg = s
		}
	}
	l.mu.Unlock()
	r := &Reader{l: l, want: from, from: from}
	if err := r.open(seg); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) open(s segInfo) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("queue: reader: %w", err)
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.seg, r.pos, r.buf, r.bufOff = f, s, segHeaderSize, r.buf[:0], segHeaderSize
	return nil
}

// segState returns the committed end of the segment that starts at first
// and the segment after it, if any.
func (l *Ledger) segState(first uint64) (end int64, next segInfo, hasNext bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.segs {
		if s.first == first {
			if i+1 < len(l.segs) {
				return s.end, l.segs[i+1], true
			}
			return s.end, segInfo{}, false
		}
	}
	return 0, segInfo{}, false
}

// window returns the buffered bytes from pos, at least need bytes when the
// segment has them, never past end.
func (r *Reader) window(end int64, need int) ([]byte, error) {
	have := r.bufOff + int64(len(r.buf))
	if r.pos >= r.bufOff && r.pos+int64(need) <= have && r.pos <= have {
		return r.buf[r.pos-r.bufOff : len(r.buf)], nil
	}
	size := int64(max(need, readChunk))
	size = min(size, end-r.pos)
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	n, err := r.f.ReadAt(r.buf, r.pos)
	r.buf, r.bufOff = r.buf[:n], r.pos
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("queue: reader: %w", err)
	}
	return r.buf, nil
}

// Next returns the next item. It returns io.EOF when it has caught up
// with the committed data; call it again after Ledger.Changed fires. An
// entry's Line is valid until the next call.
func (r *Reader) Next() (Item, error) {
	if r.f == nil {
		return Item{}, ErrClosed
	}
	for {
		end, next, hasNext := r.l.segState(r.seg.first)
		if r.pos >= end {
			if hasNext {
				if err := r.open(next); err != nil {
					return Item{}, err
				}
				continue
			}
			return Item{}, io.EOF
		}
		data, err := r.window(end, frameHeaderSize)
		if err != nil {
			return Item{}, err
		}
		data = data[:min(int64(len(data)), end-r.pos)]
		typ, p, n, err := parseFrame(data)
		if errors.Is(err, errShort) && len(data) >= frameHeaderSize && int64(len(data)) < end-r.pos {
			need := frameHeaderSize + int(binary.LittleEndian.Uint32(data))
			if data, err = r.window(end, need); err != nil {
				return Item{}, err
			}
			data = data[:min(int64(len(data)), end-r.pos)]
			typ, p, n, err = parseFrame(data)
		}
		if err != nil {
			// Damage: resync on the rest of the committed segment.
			rest, rerr := r.window(end, int(end-r.pos))
			if rerr != nil {
				return Item{}, rerr
			}
			if i := resync(rest, 0); i > 0 {
				r.pos += int64(i)
			} else {
				r.pos = end
			}
			continue
		}
		off := r.pos
		r.pos += int64(n)
		if r.l.isRejected(r.seg.path, off) {
			continue
		}
		if isCheckpoint(typ) {
			c := decodeCheckpoint(typ, p)
			if uint64(c.Size) <= r.from {
				continue
			}
			return Item{Kind: ItemCheckpoint, Checkpoint: c}, nil
		}
		decodeEntry(p, &r.e)
		if r.e.seq < r.want {
			continue
		}
		r.want = r.e.seq + 1
		r.line = r.e.appendLine(r.line[:0])
		return Item{Kind: ItemEntry, Seq: r.e.seq, ID: r.e.id, Line: r.line}, nil
	}
}

// Close releases the reader's file. It is safe to call twice.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
