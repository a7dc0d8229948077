package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/keeptrusts/kt/internal/atomicfile"
)

// fingerprintBytes bounds the head of a file its fingerprint covers.
const fingerprintBytes = 1024

// fingerprint returns the hex SHA-256 of the file's head: its first line
// (newline included) when that line ends within the first 1024 bytes, else
// its first 1024 bytes. "" means the file has neither yet: it holds no
// complete line, so there is nothing to read. The covered bytes never change
// while a file only grows, so the fingerprint is stable.
func fingerprint(f io.ReaderAt) (string, error) {
	buf := make([]byte, fingerprintBytes)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	buf = buf[:n]
	k := bytes.IndexByte(buf, '\n')
	switch {
	case k >= 0:
		k++
	case n == fingerprintBytes:
		k = n
	default:
		return "", nil
	}
	sum := sha256.Sum256(buf[:k])
	return hex.EncodeToString(sum[:]), nil
}

// position is one file's durable read position. Version 1 of the positions
// file is
//
//	{"version":1,"files":[{"fingerprint":"9f86d0…","dev":2049,"inode":1234,
//	  "path":"/var/log/keeptrusts/audit.log","offset":4096,"line":17}]}
//
// offset is the byte after the last line whose record the ledger holds (or
// that was dead-lettered); line is the number of lines before offset.
type position struct {
	Fingerprint string `json:"fingerprint"`
	Dev         uint64 `json:"dev"`
	Inode       uint64 `json:"inode"`
	Path        string `json:"path"`
	Offset      int64  `json:"offset"`
	Line        int    `json:"line"`
}

type positionsDoc struct {
	Version int        `json:"version"`
	Files   []position `json:"files"`
}

// loadPositions reads the positions file; ok is false when it does not exist.
func loadPositions(path string) (ps []position, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("positions: %w", err)
	}
	var doc positionsDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, false, fmt.Errorf("positions: %s: %w", path, err)
	}
	if doc.Version != 1 {
		return nil, false, fmt.Errorf("positions: %s: unknown version %d", path, doc.Version)
	}
	return doc.Files, true, nil
}

// savePositions writes ps atomically with mode 0600 (temp file, fsync,
// rename, directory fsync), creating its directory durably first.
func savePositions(path string, ps []position) error {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].Fingerprint < ps[j].Fingerprint
	})
	if ps == nil {
		ps = []position{}
	}
	b, err := json.Marshal(positionsDoc{Version: 1, Files: ps})
	if err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	return nil
}
