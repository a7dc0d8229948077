package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/keeptrusts/kt/internal/atomicfile"
)

// Segment files: naming, listing, creating, rolling. The writer (commit.go)
// appends to the open segment; recovery (recover.go, tail.go) opens the
// last one for writing.

// segInfo is a segment as the readers see it: they read up to end, the
// end of the last commit published in it.
type segInfo struct {
	first uint64
	path  string
	end   int64 // committed bytes
}

type segFile struct {
	name  string
	first uint64
	path  string
}

// listSegments returns the segment files of dir/segments in seq order.
func listSegments(segDir string) ([]segFile, error) {
	des, err := os.ReadDir(segDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("queue: list segments: %w", err)
	}
	var out []segFile
	for _, de := range des {
		name := de.Name()
		base, ok := strings.CutSuffix(name, segSuffix)
		if !ok || len(base) != segNameDigits || !de.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, segFile{name: name, first: first, path: filepath.Join(segDir, name)})
	}
	slices.SortFunc(out, func(a, b segFile) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return out, nil
}

func segName(first uint64) string { return fmt.Sprintf("%0*d%s", segNameDigits, first, segSuffix) }

// createSegment creates the segment file of first seq first in segDir,
// with its header, durably: the file and its name are fsync'd before it
// returns, so that a commit in it never precedes the segment on disk. An
// existing file of that name is truncated.
func createSegment(segDir string, first uint64) (*os.File, string, error) {
	path := filepath.Join(segDir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("queue: create segment: %w", err)
	}
	if _, err := f.Write(appendSegHeader(nil, first)); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("queue: create segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("queue: create segment: %w", err)
	}
	if err := atomicfile.SyncDir(segDir); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("queue: create segment: %w", err)
	}
	return f, path, nil
}

// useSegment makes f, the segment of first seq first, the one the writer
// appends to, at offset end, and shows it to the readers.
func (l *Ledger) useSegment(f *os.File, first uint64, path string, end int64) {
	l.seg, l.segFirst, l.segOff = f, first, end
	l.mu.Lock()
	l.segs = append(l.segs, segInfo{first: first, path: path, end: end})
	l.mu.Unlock()
}

// roll starts a new segment at the next seq. The writer calls it between
// commits, once every commit is synced (the syncer holds the old segment
// until then).
func (l *Ledger) roll() error {
	f, path, err := createSegment(l.segDir, l.next)
	if err != nil {
		return err
	}
	l.seg.Close()
	l.useSegment(f, l.next, path, segHeaderSize)
	return nil
}

// truncateSeg cuts the segment back to the end of the last commit written
// after a failed write. The syncer must be idle.
func (l *Ledger) truncateSeg() {
	if err := l.seg.Truncate(l.segOff); err != nil {
		l.log.Error("queue: truncate after failed write", "err", err)
	}
}
