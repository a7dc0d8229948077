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

	"github.com/keeptrusts/kt/internal/atomicfile"
)

// Cursors stores, per sink, the seq of the next entry to deliver, in a
// file <dir>/<name>.cursor. A sink stores its cursor after every batch, so
// a store must be cheap: the file holds two fixed slots that are
// overwritten in place, in turn, each followed by one fdatasync (no
// rename, no directory sync, no size change). A slot is in one of two
// versions:
//
//	version 1: +--------+-------------+--------------+-------------+---------+
//	           | "ktc1" | gen (u64 LE)| next (u64 LE)| CRC-32C (LE)| 8 zeros |
//	           +--------+-------------+--------------+-------------+---------+
//	           CRC over bytes 0..19
//
//	version 2: +--------+-------------+--------------+-------------+-------------+
//	           | "ktc2" | gen (u64 LE)| next (u64 LE)| aux (u64 LE)| CRC-32C (LE)|
//	           +--------+-------------+--------------+-------------+-------------+
//	           CRC over bytes 0..27
//
// slot 0 is bytes 0..31, slot 1 bytes 32..63; CRC-32C is Castagnoli. A
// cursor stored without an aux value (Store, or Put with HasAux false)
// is written as version 1, with one as version 2; the file sink keeps in
// aux the size of its output file after the batch before next. Store
// writes the slot that does not hold the newest generation, so a write
// torn by a crash leaves the other slot, one store older, intact; Load
// takes the valid slot with the highest generation. A cursor that is
// older than the truth only makes the sink send some records again, with
// the same ids.
//
// For example, next 5 with aux 4096 at generation 7 is the slot
//
//	6b 74 63 32 07 00 00 00  00 00 00 00 05 00 00 00   |ktc2............|
//	00 00 00 00 00 10 00 00  00 00 00 00 bd f5 5a d2   |..............Z.|
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

// Cursor is a stored cursor.
type Cursor struct {
	Next   uint64 // seq of the next entry to deliver
	Aux    uint64 // a value the sink keeps with Next, when HasAux
	HasAux bool
}

type cursorFile struct {
	f   *os.File
	gen uint64
}

const (
	cursorMagic    = "ktc1"
	cursorMagicAux = "ktc2"
	cursorSlot     = 32
)

// OpenCursors opens (and creates, 0700, durably) the cursor directory.
func OpenCursors(dir string) (*Cursors, error) {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: cursors: %w", err)
	}
	return &Cursors{dir: dir, files: map[string]*cursorFile{}}, nil
}

const cursorSuffix = ".cursor"

func (c *Cursors) path(name string) (string, error) {
	if !validCursorName(name) {
		return "", fmt.Errorf("queue: cursor name %q: want letters, digits, '.', '_', '-'", name)
	}
	return filepath.Join(c.dir, name+cursorSuffix), nil
}

// validCursorName reports whether name may name a cursor: 1 to 200
// letters, digits, '.', '_' and '-', not starting with '.'.
func validCursorName(name string) bool {
	return name != "" && len(name) <= 200 && name[0] != '.' &&
		strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// encodeSlot returns the slot of cur at generation gen.
func encodeSlot(cur Cursor, gen uint64) [cursorSlot]byte {
	var s [cursorSlot]byte
	binary.LittleEndian.PutUint64(s[4:], gen)
	binary.LittleEndian.PutUint64(s[12:], cur.Next)
	if cur.HasAux {
		copy(s[:], cursorMagicAux)
		binary.LittleEndian.PutUint64(s[20:], cur.Aux)
		binary.LittleEndian.PutUint32(s[28:], crc32.Checksum(s[:28], crcTable))
		return s
	}
	copy(s[:], cursorMagic)
	binary.LittleEndian.PutUint32(s[20:], crc32.Checksum(s[:20], crcTable))
	return s
}

// decodeSlot returns the cursor and generation of a valid slot.
func decodeSlot(s []byte) (Cursor, uint64, bool) {
	switch string(s[:4]) {
	case cursorMagic:
		if binary.LittleEndian.Uint32(s[20:]) != crc32.Checksum(s[:20], crcTable) {
			return Cursor{}, 0, false
		}
		return Cursor{Next: binary.LittleEndian.Uint64(s[12:])}, binary.LittleEndian.Uint64(s[4:]), true
	case cursorMagicAux:
		if binary.LittleEndian.Uint32(s[28:]) != crc32.Checksum(s[:28], crcTable) {
			return Cursor{}, 0, false
		}
		return Cursor{Next: binary.LittleEndian.Uint64(s[12:]), Aux: binary.LittleEndian.Uint64(s[20:]), HasAux: true},
			binary.LittleEndian.Uint64(s[4:]), true
	}
	return Cursor{}, 0, false
}

// decodeCursor returns the newest valid slot of b, or the seq of a file in
// the old text format.
func decodeCursor(b []byte) (cur Cursor, gen uint64, ok bool, err error) {
	if len(b) == 0 {
		return Cursor{}, 0, false, nil
	}
	if b[0] >= '0' && b[0] <= '9' {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return Cursor{}, 0, false, err
		}
		return Cursor{Next: n}, 0, true, nil
	}
	for off := 0; off+cursorSlot <= len(b) && off < 2*cursorSlot; off += cursorSlot {
		c, g, valid := decodeSlot(b[off : off+cursorSlot])
		if valid && (!ok || g > gen) {
			cur, gen, ok = c, g, true
		}
	}
	if !ok {
		return Cursor{}, 0, false, errors.New("no valid slot")
	}
	return cur, gen, true, nil
}

// Load returns the stored next seq of name; ok is false if none is stored.
func (c *Cursors) Load(name string) (next uint64, ok bool, err error) {
	cur, ok, err := c.Get(name)
	return cur.Next, ok, err
}

// Get returns the stored cursor of name; ok is false if none is stored.
func (c *Cursors) Get(name string) (cur Cursor, ok bool, err error) {
	p, err := c.path(name)
	if err != nil {
		return Cursor{}, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	cur, _, ok, err = decodeCursor(b)
	if err != nil {
		return Cursor{}, false, fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return cur, ok, nil
}

// NamedCursor is a stored cursor with the name it is stored under.
type NamedCursor struct {
	Name string
	Cursor
}

// List returns every cursor stored in the directory, sorted by name: the
// cursors of every sink that ever stored one, whether it is configured
// now or not. A file that holds no cursor (empty) is not listed. A cursor
// file that cannot be read or holds no valid slot makes List fail, naming
// the file, rather than leave a cursor out: a caller that needs the
// lowest cursor (retention) must not guess. List reads the files, so it
// sees what Put made durable, from any goroutine and while sinks store
// their cursors.
func (c *Cursors) List() ([]NamedCursor, error) {
	curs, errs := readCursors(c.dir)
	if len(errs) > 0 {
		return nil, fmt.Errorf("queue: list cursors: %w", errors.Join(errs...))
	}
	return curs, nil
}

// readCursors reads every cursor file of dir, sorted by name, and
// returns those it read and an error for each one it could not.
func readCursors(dir string) ([]NamedCursor, []error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	var out []NamedCursor
	var errs []error
	for _, de := range des { // os.ReadDir sorts by file name
		name, ok := strings.CutSuffix(de.Name(), cursorSuffix)
		if !ok || !validCursorName(name) || !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cur, _, ok, err := decodeCursor(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("cursor file %s: %w", p, err))
			continue
		}
		if ok {
			out = append(out, NamedCursor{Name: name, Cursor: cur})
		}
	}
	return out, errs
}

// maxCursor returns the largest next seq stored in the cursor files of
// dir, and the file's name; files it cannot read are ignored.
func maxCursor(dir string) (string, uint64) {
	curs, _ := readCursors(dir)
	best, max := "", uint64(0)
	for _, c := range curs {
		if c.Next > max {
			best, max = c.Name+cursorSuffix, c.Next
		}
	}
	return best, max
}

// Store durably records next as the next seq of name.
func (c *Cursors) Store(name string, next uint64) error {
	return c.Put(name, Cursor{Next: next})
}

// Put durably records cur as the cursor of name.
func (c *Cursors) Put(name string, cur Cursor) error {
	cf, err := c.open(name)
	if err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	cf.gen++
	s := encodeSlot(cur, cf.gen)
	if _, err := cf.f.WriteAt(s[:], int64(cf.gen%2)*cursorSlot); err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	if err := datasync(cf.f); err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return nil
}

// open returns the open cursor file of name, creating it (two slots, the
// current value in both, replaced atomically and durably) when it is
// missing or in the old format.
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
	cur, gen, _, derr := decodeCursor(b)
	if len(b) != 2*cursorSlot || (b[0] != cursorMagic[0]) || derr != nil {
		if derr != nil {
			return nil, fmt.Errorf("%s is damaged (%v); remove it to deliver from the start, or write the seq to resume from into it", p, derr)
		}
		// Lay out the two-slot file first (atomically), then use it.
		var init [2 * cursorSlot]byte
		for i := range 2 {
			s := encodeSlot(cur, gen)
			copy(init[i*cursorSlot:], s[:])
		}
		if err := atomicfile.WriteFile(p, init[:], 0o600); err != nil {
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
