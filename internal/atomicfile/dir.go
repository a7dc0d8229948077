package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, which makes the names in it (files
// created, renamed or removed there) durable: under POSIX a new name
// survives a power cut only once its directory is synced.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: fsync dir %s: %w", dir, err)
	}
	return nil
}

// SyncParent fsyncs the directory that holds path, making path's name
// durable after it was created or renamed.
func SyncParent(path string) error { return SyncDir(filepath.Dir(path)) }

// MkdirAll is os.MkdirAll that makes every directory it creates durable:
// each new directory is fsync'd (so that names later made durable in it
// have a durable home) and so is its parent (so that its own name
// survives a power cut). Directories that already exist are left as they
// are. perm is used for every new directory, as os.MkdirAll does.
func MkdirAll(path string, perm os.FileMode) error {
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("atomicfile: %s exists and is not a directory", path)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	parent := filepath.Dir(path)
	if parent != path {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Created meanwhile by someone else: still make it durable.
			return errors.Join(SyncDir(path), SyncDir(parent))
		}
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := SyncDir(path); err != nil {
		return err
	}
	return SyncDir(parent)
}

// CreateDurable opens path for read and write, creating it with perm if it
// does not exist; a file it creates is fsync'd and so is its directory, so
// that the (empty) file's name survives a power cut before anything is
// written into it. flag is added to os.O_RDWR|os.O_CREATE (os.O_APPEND,
// say).
func CreateDurable(path string, flag int, perm os.FileMode) (*os.File, error) {
	if f, err := os.OpenFile(path, os.O_RDWR|flag, 0); err == nil {
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|flag, perm)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("atomicfile: fsync %s: %w", path, err)
	}
	if err := SyncParent(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
