//go:build linux

package queue

import (
	"os"
	"syscall"
)

// datasync flushes the data of f and the metadata needed to read it back,
// such as a new file size, but not times (fdatasync(2)). It is enough for
// appends to a segment; creating a segment still needs fsync of the file
// and of the directory.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
