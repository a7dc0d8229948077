package crashfs

import (
	"fmt"
	"io"
	"log"
	"maps"
	"slices"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Mount is a mounted FS.
type Mount struct {
	fs  *FS
	srv *fuse.Server
	dir string
}

// handle is an open file or directory.
type handle struct {
	n      *node
	append bool
	dir    []fuse.DirEntry // directories: the listing taken at opendir
}

// Mount serves the filesystem at dir, an existing directory, with mount(2)
// (no fusermount): it needs root and /dev/fuse. The kernel caches no
// names or attributes, so that the model sees every request.
func (f *FS) Mount(dir string) (*Mount, error) {
	f.mu.Lock()
	if f.mounted {
		f.mu.Unlock()
		return nil, ErrMounted
	}
	if f.boot.used {
		f.boot = newBoot()
	}
	f.boot.used = true
	f.mounted = true
	f.handles = map[uint64]*handle{}
	f.mu.Unlock()
	raw := &rawFS{RawFileSystem: fuse.NewDefaultRawFileSystem(), fs: f}
	srv, err := fuse.NewServer(raw, dir, &fuse.MountOptions{
		DirectMountStrict:  true,
		FsName:             "crashfs",
		Name:               "crashfs",
		DisableXAttrs:      true,
		DisableReadDirPlus: true,
		MaxWrite:           fuse.MAX_KERNEL_WRITE,
		Logger:             log.New(io.Discard, "", 0),
	})
	if err != nil {
		f.mu.Lock()
		f.mounted = false
		f.mu.Unlock()
		return nil, fmt.Errorf("crashfs: mount %s: %w", dir, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		f.mu.Lock()
		f.mounted = false
		f.mu.Unlock()
		return nil, fmt.Errorf("crashfs: mount %s: %w", dir, err)
	}
	return &Mount{fs: f, srv: srv, dir: dir}, nil
}

// Dir returns the mount point.
func (m *Mount) Dir() string { return m.dir }

// Unmount releases held requests (ReleaseBlocked) and unmounts. Processes
// that use the mount must have exited; if the kernel still finds the mount
// busy, it is detached lazily and Unmount waits up to 10s for it to go.
func (m *Mount) Unmount() error {
	m.fs.ReleaseBlocked()
	err := m.srv.Unmount()
	if err != nil {
		if derr := syscall.Unmount(m.dir, syscall.MNT_DETACH); derr != nil {
			return fmt.Errorf("crashfs: unmount %s: %v; detach: %w", m.dir, err, derr)
		}
		done := make(chan struct{})
		go func() { m.srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("crashfs: unmount %s: still in use 10s after a lazy unmount (%v)", m.dir, err)
		}
	}
	m.fs.mu.Lock()
	m.fs.mounted = false
	m.fs.handles = nil
	m.fs.mu.Unlock()
	return nil
}

// rawFS serves an FS over the FUSE protocol. Node ids are inode numbers.
type rawFS struct {
	fuse.RawFileSystem
	fs *FS
}

func (f *FS) fillAttr(n *node, a *fuse.Attr) {
	a.Ino = n.ino
	a.Mode = n.mode
	a.Nlink = n.nlink
	a.Uid, a.Gid = n.uid, n.gid
	switch {
	case n.isFile():
		a.Size = uint64(n.cur.size)
	case n.isDir():
		a.Size = pageSize
		a.Nlink = 2
		for _, k := range n.kids {
			if k.isDir() {
				a.Nlink++
			}
		}
	default:
		a.Size = uint64(len(n.target))
	}
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = pageSize
	a.Mtime, a.Mtimensec = uint64(n.mtime.Unix()), uint32(n.mtime.Nanosecond())
	a.Atime, a.Atimensec = a.Mtime, a.Mtimensec
	a.Ctime, a.Ctimensec = uint64(n.ctime.Unix()), uint32(n.ctime.Nanosecond())
}

func (f *FS) fillEntry(n *node, out *fuse.EntryOut) {
	out.NodeId = n.ino
	out.Generation = 1
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	f.fillAttr(n, &out.Attr)
}

// opPath is a node's path as ops name it: "." for the root.
func opPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// dirNode returns the directory with id ino; f.mu is held.
func (f *FS) dirNode(ino uint64) (*node, fuse.Status) {
	d := f.nodes[ino]
	if d == nil {
		return nil, fuse.ENOENT
	}
	if !d.isDir() {
		return nil, fuse.ENOTDIR
	}
	return d, fuse.OK
}

// apply runs op's bookkeeping and, unless the filesystem is frozen, fn;
// f.mu is held on entry and released on return.
func (f *FS) apply(op Op, fn func() fuse.Status) fuse.Status {
	if !f.begin(&op) {
		f.mu.Unlock()
		f.hold()
		return fuse.EIO
	}
	st := fn()
	f.collect()
	f.mu.Unlock()
	return st
}

func (r *rawFS) String() string { return "crashfs" }

func (r *rawFS) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	d, st := f.dirNode(h.NodeId)
	if !st.Ok() {
		return st
	}
	n := d.kids[name]
	if n == nil {
		return fuse.ENOENT
	}
	f.fillEntry(n, out)
	return fuse.OK
}

func (r *rawFS) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	f.fillAttr(n, &out.Attr)
	out.SetTimeout(0)
	return fuse.OK
}

func (r *rawFS) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	n := f.nodes[in.NodeId]
	if n == nil {
		f.mu.Unlock()
		return fuse.ENOENT
	}
	kind := OpSetattr
	if in.Valid&fuse.FATTR_SIZE != 0 {
		kind = OpTruncate
		switch {
		case n.isDir():
			f.mu.Unlock()
			return fuse.Status(syscall.EISDIR)
		case !n.isFile():
			f.mu.Unlock()
			return fuse.EINVAL
		case in.Size > maxFileSize:
			f.mu.Unlock()
			return fuse.Status(syscall.EFBIG)
		}
	}
	return f.apply(Op{Kind: kind, Path: opPath(n.path())}, func() fuse.Status {
		now := time.Now()
		if in.Valid&fuse.FATTR_SIZE != 0 {
			n.resize(int64(in.Size))
			n.mtime = now
		}
		if in.Valid&fuse.FATTR_MODE != 0 {
			n.mode = n.mode&syscall.S_IFMT | in.Mode&0o7777
		}
		if in.Valid&fuse.FATTR_UID != 0 {
			n.uid = in.Uid
		}
		if in.Valid&fuse.FATTR_GID != 0 {
			n.gid = in.Gid
		}
		if in.Valid&fuse.FATTR_MTIME != 0 {
			n.mtime = time.Unix(int64(in.Mtime), int64(in.Mtimensec))
		}
		if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
			n.mtime = now
		}
		n.ctime = now
		f.fillAttr(n, &out.Attr)
		out.SetTimeout(0)
		return fuse.OK
	})
}

// newChild checks that name is free in directory ino; f.mu is held.
func (f *FS) newChild(ino uint64, name string) (*node, fuse.Status) {
	d, st := f.dirNode(ino)
	if !st.Ok() {
		return nil, st
	}
	if d.kids[name] != nil {
		return nil, fuse.Status(syscall.EEXIST)
	}
	if len(name) > 255 {
		return nil, fuse.Status(syscall.ENAMETOOLONG)
	}
	return d, fuse.OK
}

func (r *rawFS) Mknod(_ <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fuse.EPERM
	}
	f := r.fs
	f.mu.Lock()
	d, st := f.newChild(in.NodeId, name)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	return f.apply(Op{Kind: OpCreate, Path: d.child(name)}, func() fuse.Status {
		n := f.newNode(syscall.S_IFREG|in.Mode&0o7777, in.Uid, in.Gid)
		f.link(d, name, n)
		f.fillEntry(n, out)
		return fuse.OK
	})
}

func (r *rawFS) Mkdir(_ <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	d, st := f.newChild(in.NodeId, name)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	return f.apply(Op{Kind: OpMkdir, Path: d.child(name)}, func() fuse.Status {
		n := f.newNode(syscall.S_IFDIR|in.Mode&0o7777, in.Uid, in.Gid)
		f.link(d, name, n)
		f.fillEntry(n, out)
		return fuse.OK
	})
}

func (r *rawFS) Symlink(_ <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	d, st := f.newChild(h.NodeId, name)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	return f.apply(Op{Kind: OpSymlink, Path: d.child(name)}, func() fuse.Status {
		n := f.newNode(syscall.S_IFLNK|0o777, h.Uid, h.Gid)
		n.target = target
		f.link(d, name, n)
		f.fillEntry(n, out)
		return fuse.OK
	})
}

func (r *rawFS) Readlink(_ <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[h.NodeId]
	if n == nil {
		return nil, fuse.ENOENT
	}
	if n.mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, fuse.EINVAL
	}
	return []byte(n.target), fuse.OK
}

func (r *rawFS) Link(_ <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	n := f.nodes[in.Oldnodeid]
	if n == nil {
		f.mu.Unlock()
		return fuse.ENOENT
	}
	if n.isDir() {
		f.mu.Unlock()
		return fuse.EPERM
	}
	d, st := f.newChild(in.NodeId, name)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	return f.apply(Op{Kind: OpLink, Path: d.child(name), From: opPath(n.path())}, func() fuse.Status {
		f.link(d, name, n)
		n.ctime = time.Now()
		f.fillEntry(n, out)
		return fuse.OK
	})
}

func (r *rawFS) Unlink(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return r.remove(h.NodeId, name, false)
}

func (r *rawFS) Rmdir(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return r.remove(h.NodeId, name, true)
}

func (r *rawFS) remove(dir uint64, name string, isDir bool) fuse.Status {
	f := r.fs
	f.mu.Lock()
	d, st := f.dirNode(dir)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	n := d.kids[name]
	switch {
	case n == nil:
		st = fuse.ENOENT
	case isDir && !n.isDir():
		st = fuse.ENOTDIR
	case !isDir && n.isDir():
		st = fuse.Status(syscall.EISDIR)
	case isDir && len(n.kids) > 0:
		st = fuse.Status(syscall.ENOTEMPTY)
	}
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	kind := OpUnlink
	if isDir {
		kind = OpRmdir
	}
	return f.apply(Op{Kind: kind, Path: d.child(name)}, func() fuse.Status {
		f.unlink(d, name)
		n.ctime = time.Now()
		return fuse.OK
	})
}

// The rename flags of renameat2(2).
const (
	renameNoReplace = 1
	renameExchange  = 2
)

func (r *rawFS) Rename(_ <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	f := r.fs
	f.mu.Lock()
	od, st := f.dirNode(in.NodeId)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	nd, st := f.dirNode(in.Newdir)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	n, t := od.kids[oldName], nd.kids[newName]
	switch {
	case n == nil:
		st = fuse.ENOENT
	case in.Flags&^(renameNoReplace|renameExchange) != 0 || in.Flags == renameNoReplace|renameExchange:
		st = fuse.EINVAL
	case in.Flags&renameNoReplace != 0 && t != nil:
		st = fuse.Status(syscall.EEXIST)
	case in.Flags&renameExchange != 0 && t == nil:
		st = fuse.ENOENT
	case t == n:
		f.mu.Unlock()
		return fuse.OK // two names of one file: nothing to do
	case in.Flags == 0 && t != nil && n.isDir() && !t.isDir():
		st = fuse.ENOTDIR
	case in.Flags == 0 && t != nil && !n.isDir() && t.isDir():
		st = fuse.Status(syscall.EISDIR)
	case in.Flags == 0 && t != nil && t.isDir() && len(t.kids) > 0:
		st = fuse.Status(syscall.ENOTEMPTY)
	}
	if st.Ok() && n.isDir() {
		for p := nd; p != nil; p = p.parent {
			if p == n {
				st = fuse.EINVAL // into itself
				break
			}
		}
	}
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	op := Op{Kind: OpRename, Path: nd.child(newName), From: od.child(oldName)}
	return f.apply(op, func() fuse.Status {
		now := time.Now()
		if in.Flags&renameExchange != 0 {
			od.kids[oldName], nd.kids[newName] = t, n
			t.parent, t.name = od, oldName
			n.parent, n.name = nd, newName
			f.jdirty[od], f.jdirty[nd] = struct{}{}, struct{}{}
			od.mtime, nd.mtime, n.ctime, t.ctime = now, now, now, now
			return fuse.OK
		}
		if t != nil {
			f.unlink(nd, newName)
			t.ctime = now
		}
		f.unlink(od, oldName)
		f.link(nd, newName, n)
		n.ctime = now
		return fuse.OK
	})
}

func (r *rawFS) Access(_ <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes[in.NodeId] == nil {
		return fuse.ENOENT
	}
	return fuse.OK
}

// newHandle registers an open handle on n; f.mu is held.
func (f *FS) newHandle(h *handle) uint64 {
	f.nextFh++
	f.handles[f.nextFh] = h
	h.n.handles++
	return f.nextFh
}

func (r *rawFS) Create(_ <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	d, st := f.dirNode(in.NodeId)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	appendMode := in.Flags&syscall.O_APPEND != 0
	if n := d.kids[name]; n != nil {
		// The name appeared since the kernel looked it up.
		switch {
		case in.Flags&syscall.O_EXCL != 0:
			st = fuse.Status(syscall.EEXIST)
		case n.isDir():
			st = fuse.Status(syscall.EISDIR)
		case !n.isFile():
			st = fuse.EINVAL
		}
		if !st.Ok() {
			f.mu.Unlock()
			return st
		}
		open := func() fuse.Status {
			f.fillEntry(n, &out.EntryOut)
			out.Fh = f.newHandle(&handle{n: n, append: appendMode})
			return fuse.OK
		}
		if in.Flags&syscall.O_TRUNC == 0 {
			defer f.mu.Unlock()
			return open()
		}
		return f.apply(Op{Kind: OpTruncate, Path: d.child(name)}, func() fuse.Status {
			n.resize(0)
			return open()
		})
	}
	if len(name) > 255 {
		f.mu.Unlock()
		return fuse.Status(syscall.ENAMETOOLONG)
	}
	return f.apply(Op{Kind: OpCreate, Path: d.child(name)}, func() fuse.Status {
		n := f.newNode(syscall.S_IFREG|in.Mode&0o7777, in.Uid, in.Gid)
		f.link(d, name, n)
		f.fillEntry(n, &out.EntryOut)
		out.Fh = f.newHandle(&handle{n: n, append: appendMode})
		return fuse.OK
	})
}

func (r *rawFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	n := f.nodes[in.NodeId]
	if n == nil {
		f.mu.Unlock()
		return fuse.ENOENT
	}
	if n.isDir() {
		f.mu.Unlock()
		return fuse.Status(syscall.EISDIR)
	}
	h := &handle{n: n, append: in.Flags&syscall.O_APPEND != 0}
	if in.Flags&syscall.O_TRUNC != 0 && n.isFile() {
		return f.apply(Op{Kind: OpTruncate, Path: opPath(n.path())}, func() fuse.Status {
			n.resize(0)
			out.Fh = f.newHandle(h)
			return fuse.OK
		})
	}
	defer f.mu.Unlock()
	out.Fh = f.newHandle(h)
	return fuse.OK
}

// fileOf returns the regular file of handle fh (or of node ino); f.mu is held.
func (f *FS) fileOf(fh, ino uint64) (*handle, *node, fuse.Status) {
	h := f.handles[fh]
	n := f.nodes[ino]
	if h != nil {
		n = h.n
	}
	if n == nil {
		return nil, nil, fuse.EBADF
	}
	if !n.isFile() {
		return nil, nil, fuse.Status(syscall.EISDIR)
	}
	return h, n, fuse.OK
}

func (r *rawFS) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, st := f.fileOf(in.Fh, in.NodeId)
	if !st.Ok() {
		return nil, st
	}
	buf = buf[:min(len(buf), int(in.Size))]
	k := n.cur.readAt(buf, int64(in.Offset))
	return fuse.ReadResultData(buf[:k]), fuse.OK
}

func (r *rawFS) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	f := r.fs
	f.mu.Lock()
	h, n, st := f.fileOf(in.Fh, in.NodeId)
	if !st.Ok() {
		f.mu.Unlock()
		return 0, st
	}
	off := int64(in.Offset)
	if h != nil && h.append {
		off = n.cur.size
	}
	if off+int64(len(data)) > maxFileSize {
		f.mu.Unlock()
		return 0, fuse.Status(syscall.EFBIG)
	}
	st = f.apply(Op{Kind: OpWrite, Path: opPath(n.path())}, func() fuse.Status {
		n.writeAt(data, off)
		n.mtime = time.Now()
		return fuse.OK
	})
	if !st.Ok() {
		return 0, st
	}
	return uint32(len(data)), fuse.OK
}

func (r *rawFS) Flush(_ <-chan struct{}, _ *fuse.FlushIn) fuse.Status { return fuse.OK }

func (r *rawFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) { r.release(in.Fh) }

func (r *rawFS) ReleaseDir(in *fuse.ReleaseIn) { r.release(in.Fh) }

func (r *rawFS) release(fh uint64) {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.handles[fh]; h != nil {
		delete(f.handles, fh)
		h.n.handles--
	}
}

func (r *rawFS) Fsync(_ <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	f := r.fs
	f.mu.Lock()
	h := f.handles[in.Fh]
	n := f.nodes[in.NodeId]
	if h != nil {
		n = h.n
	}
	if n == nil {
		f.mu.Unlock()
		return fuse.EBADF
	}
	kind := OpFsync
	if in.FsyncFlags&1 != 0 {
		kind = OpFdatasync
	}
	if n.isDir() {
		kind = OpFsyncDir
	}
	return f.apply(Op{Kind: kind, Path: opPath(n.path())}, func() fuse.Status {
		switch {
		case n.isFile():
			n.sync()
		case n.isDir():
			n.posix = maps.Clone(n.kids)
		}
		f.commitJournal()
		return fuse.OK
	})
}

func (r *rawFS) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status { return r.Fsync(c, in) }

// The fallocate(2) modes served.
const (
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
	fallocZeroRange = 0x10
)

func (r *rawFS) Fallocate(_ <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	f := r.fs
	f.mu.Lock()
	_, n, st := f.fileOf(in.Fh, in.NodeId)
	if !st.Ok() {
		f.mu.Unlock()
		return st
	}
	mode := in.Mode
	off, end := int64(in.Offset), int64(in.Offset+in.Length)
	switch {
	case mode&^(fallocKeepSize|fallocPunchHole|fallocZeroRange) != 0,
		mode&fallocPunchHole != 0 && mode&fallocKeepSize == 0,
		mode&fallocPunchHole != 0 && mode&fallocZeroRange != 0:
		f.mu.Unlock()
		return fuse.Status(syscall.EOPNOTSUPP)
	case end > maxFileSize:
		f.mu.Unlock()
		return fuse.Status(syscall.EFBIG)
	}
	return f.apply(Op{Kind: OpFallocate, Path: opPath(n.path())}, func() fuse.Status {
		if mode&(fallocPunchHole|fallocZeroRange) != 0 {
			if zend := min(end, n.cur.size); zend > off {
				n.writeAt(make([]byte, zend-off), off)
			}
		}
		if mode&fallocKeepSize == 0 && end > n.cur.size {
			n.resize(end)
		}
		n.mtime = time.Now()
		return fuse.OK
	})
}

func (r *rawFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	d, st := f.dirNode(in.NodeId)
	if !st.Ok() {
		return st
	}
	parent := d.parent
	if parent == nil {
		parent = d
	}
	list := []fuse.DirEntry{{Name: ".", Ino: d.ino, Mode: syscall.S_IFDIR}, {Name: "..", Ino: parent.ino, Mode: syscall.S_IFDIR}}
	for _, name := range slices.Sorted(maps.Keys(d.kids)) {
		k := d.kids[name]
		list = append(list, fuse.DirEntry{Name: name, Ino: k.ino, Mode: k.mode})
	}
	out.Fh = f.newHandle(&handle{n: d, dir: list})
	return fuse.OK
}

func (r *rawFS) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f := r.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.handles[in.Fh]
	if h == nil || h.dir == nil {
		return fuse.EBADF
	}
	for i := int(in.Offset); i < len(h.dir); i++ {
		e := h.dir[i]
		e.Off = uint64(i + 1)
		if !out.AddDirEntry(e) {
			break
		}
	}
	return fuse.OK
}

func (r *rawFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize, out.Frsize, out.NameLen = pageSize, pageSize, 255
	out.Blocks, out.Bfree, out.Bavail = 1<<24, 1<<24, 1<<24
	out.Files, out.Ffree = 1<<20, 1<<20
	return fuse.OK
}
