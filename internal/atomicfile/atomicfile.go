// Package atomicfile writes files so that a reader, or a restart after a
// crash, sees either the old content or the new, never a mix.
//
// Both writers go through a temporary file in the target's directory,
// named "." + the target's base name + ".tmp" + a random suffix, which is
// renamed over the target. A process that dies before the rename leaves
// that temporary file behind; RemoveTemps removes such leftovers.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes data to a temporary file in path's directory with perm,
// fsyncs it, renames it over path and fsyncs the directory. Once it
// returns nil, path holds data after a crash or a power cut; a crash
// before that leaves path with its old content or with data, never a mix
// (and maybe a temporary file, see RemoveTemps).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// WriteFileUnsynced replaces path with data through a temporary file and
// a rename like WriteFile, without any fsync: for a file that is
// rewritten often and that a restart may find stale. A reader never sees a
// mix of the old and the new content. What a crash may leave:
//
//   - a process crash (the kernel keeps running): path with its old
//     content or with data, never a mix;
//   - a power cut or a kernel crash: path with its old content, with data,
//     or, on a file system that makes the rename durable before the data
//     (ext4 with data=writeback, XFS, btrfs), empty or with only part of
//     data; and the newest content that reached the disk may be older than
//     the last call that returned.
//
// Either way a temporary file may be left next to path (see RemoveTemps).
// A reader of such a file must treat it as a hint: check what it reads,
// and expect it to be missing, empty, torn or stale.
func WriteFileUnsynced(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

func write(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(filepath.Base(path))+"*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("atomicfile: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("atomicfile: fsync %s: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if durable {
		return SyncDir(dir)
	}
	return nil
}

// tempPrefix is the start of the name of a temporary file for base.
func tempPrefix(base string) string { return "." + base + ".tmp" }

// RemoveTemps removes the temporary files that WriteFile and
// WriteFileUnsynced left in dir when the process died before their
// rename, and returns their paths. Call it only while nothing writes into
// dir through this package (at start-up): it cannot tell a leftover from a
// write under way. A missing dir holds none.
func RemoveTemps(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	var removed []string
	var errs []error
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !isTemp(name) {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("atomicfile: %w", err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// isTemp reports whether name is the name of a temporary file of this
// package: "." + base + ".tmp" + the digits os.CreateTemp adds, with a
// non-empty base.
func isTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, ".tmp")
	if i <= 0 {
		return false
	}
	suffix := rest[i+len(".tmp"):]
	return suffix != "" && strings.Trim(suffix, "0123456789") == ""
}
