package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cursors stores, per sink, the seq of the next entry to deliver. Each
// cursor is a file <dir>/<name>.cursor holding the decimal seq and a
// newline, replaced atomically (temp file, fsync, rename, fsync dir).
// Different names may be used concurrently; one name by one goroutine.
type Cursors struct {
	dir string
}

// OpenCursors opens (and creates, 0700) the cursor directory.
func OpenCursors(dir string) (*Cursors, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: cursors: %w", err)
	}
	return &Cursors{dir: dir}, nil
}

func (c *Cursors) path(name string) (string, error) {
	if name == "" || len(name) > 200 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || name[0] == '.' {
		return "", fmt.Errorf("queue: cursor name %q: want letters, digits, '.', '_', '-'", name)
	}
	return filepath.Join(c.dir, name+".cursor"), nil
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
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return n, true, nil
}

// Store durably records next as the next seq of name.
func (c *Cursors) Store(name string, next uint64) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p, []byte(strconv.FormatUint(next, 10)+"\n"), true); err != nil {
		return fmt.Errorf("queue: cursor %s: %w", name, err)
	}
	return nil
}
