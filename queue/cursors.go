package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Cursors stores, per sink, the seq of the next entry to deliver, in a
// file <dir>/<name>.cursor. A sink stores its cursor after every batch, so
// a store must be cheap: the file holds two fixed slots that are
// overwritten in place, in turn, each followed by one fdatasync (no
// rename, no directory sync, no size change):
//
//	+--------+----------------+----------------+-------------+---------+
//	| "ktc1" | gen (u64 LE)   | next (u64 LE)  | CRC-32C (LE)| 8 zeros |   slot 0, bytes 0..31
//	+--------+----------------+----------------+-------------+---------+
//	|                     the same layout                              |   slot 1, bytes 32..63
//	+------------------------------------------------------------------+
//
// The CRC covers the first 20 bytes of its slot. Store writes the slot
// that does not hold the newest generation, so a write torn by a crash
// leaves the other slot, one store older, intact; Load takes the valid
// slot with the highest generation. A cursor that is older than the truth
// only makes the sink send some records again, with the same ids.
//
// Files written by earlier versions hold the decimal seq and a newline;
// Load reads them and the next Store replaces them (atomically).
//
// Different names may be used concurrently; one name by one goroutine.
type Cursors struct {
	dir string

	mu    sync.Mutex
	files map[string]*cursorFile
}

type cursorFile struct {
	f   *os.File
	gen uint64
}

const (
	cursorMagic = "ktc1"
	cursorSlot  = 32
)

// OpenCursors opens (and creates, 0700) the cursor directory.
func OpenCursors(dir string) (*Cursors, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: cursors: %w", err)
	}
	return &Cursors{dir: dir, files: map[string]*cursorFile{}}, nil
}

func (c *Cursors) path(name string) (string, error) {
	if name == "" || len(name) > 200 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || name[0] == '.' {
		return "", fmt.Errorf("queue: cursor name %q: want letters, digits, '.', '_', '-'", name)
	}
	return filepath.Join(c.dir, name+".cursor"), nil
}

// decodeCursor returns the newest valid slot of b, or the seq of a file in
// the old text format.
func decodeCursor(b []byte) (next, gen uint64, ok bool, err error) {
	if len(b) == 0 {
		return 0, 0, false, nil
	}
	if b[0] >= '0' && b[0] <= '9' {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, 0, false, err
		}
		return n, 0, true, nil
	}
	for off := 0; off+cursorSlot <= len(b) && off < 2*cursorSlot; off += cursorSlot {
		s := b[off : off+cursorSlot]
		if string(s[:4]) != cursorMagic || binary.LittleEndian.Uint32(s[20:]) != crc32.Checksum(s[:20], crcTable) {
			continue
		}
		if g := binary.LittleEndian.Uint64(s[4:]); !ok || g > gen {
			gen, next, ok = g, binary.LittleEndian.Uint64(s[12:]), true
		}
	}
	if !ok {
		return 0, 0, false, errors.New("no valid slot")
	}
	return next, gen, true, nil
}

// Load returns the stored next seq of name; ok is false if none is stored.
func (c *Cursors) Load(name string) (next uint64, ok bool, err error) {
	p, err := c.path(name)
	if err != nil {
		return 0, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	next, _, ok, err = decodeCursor(b)
	if err != nil {
		return 0, false, fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return next, ok, nil
}

// Store durably records next as the next seq of name.
func (c *Cursors) Store(name string, next uint64) error {
	cf, err := c.open(name)
	if err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	cf.gen++
	var s [cursorSlot]byte
	copy(s[:], cursorMagic)
	binary.LittleEndian.PutUint64(s[4:], cf.gen)
	binary.LittleEndian.PutUint64(s[12:], next)
	binary.LittleEndian.PutUint32(s[20:], crc32.Checksum(s[:20], crcTable))
	if _, err := cf.f.WriteAt(s[:], int64(cf.gen%2)*cursorSlot); err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	if err := datasync(cf.f); err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return nil
}

// open returns the open cursor file of name, creating it (two slots, the
// current value in both, replaced atomically) when it is missing or in the
// old format.
func (c *Cursors) open(name string) (*cursorFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cf := c.files[name]; cf != nil {
		return cf, nil
	}
	p, err := c.path(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	next, gen, _, derr := decodeCursor(b)
	if len(b) != 2*cursorSlot || b[0] != cursorMagic[0] || derr != nil {
		// Lay out the two-slot file first (atomically), then use it.
		var init [2 * cursorSlot]byte
		for i := range 2 {
			s := init[i*cursorSlot : (i+1)*cursorSlot]
			copy(s, cursorMagic)
			binary.LittleEndian.PutUint64(s[4:], gen)
			binary.LittleEndian.PutUint64(s[12:], next)
			binary.LittleEndian.PutUint32(s[20:], crc32.Checksum(s[:20], crcTable))
		}
		if derr != nil {
			return nil, fmt.Errorf("%s is damaged (%v); remove it to deliver from the start, or write the seq to resume from into it", p, derr)
		}
		if err := writeFileAtomic(p, init[:], true); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	cf := &cursorFile{f: f, gen: gen}
	c.files[name] = cf
	return cf, nil
}

// Close closes the cursor files; it may be called twice.
func (c *Cursors) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for name, cf := range c.files {
		errs = append(errs, cf.f.Close())
		delete(c.files, name)
	}
	return errors.Join(errs...)
}
