package crashfs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"
)

// pageSize is the unit in which DataZeroPages loses or keeps data.
const pageSize = 4096

// maxFileSize bounds a file: the model keeps every byte in memory.
const maxFileSize = 1 << 30

// Names says which names survive a cut.
type Names string

// The names rules.
const (
	// NamesPOSIX keeps a name only if its directory was fsync'd after the
	// name was made.
	NamesPOSIX Names = "posix"
	// NamesJournal keeps every name change made before the last fsync or
	// fdatasync of anything on the filesystem.
	NamesJournal Names = "journal"
)

// Data says what survives of a file's unsynced writes.
type Data string

// The data rules.
const (
	// DataDrop drops every write, size change and truncation since the
	// file's last fsync.
	DataDrop Data = "drop"
	// DataZeroPages keeps the current size; each page written since the
	// last fsync holds either its new bytes or its bytes at the last fsync
	// (zeros where the file had none), at random.
	DataZeroPages Data = "zero-pages"
)

// Model is what a power cut keeps: a names rule and a data rule. Seed
// drives the random choices of DataZeroPages.
type Model struct {
	Names Names
	Data  Data
	Seed  uint64
}

// String returns e.g. "posix/drop".
func (m Model) String() string { return string(m.Names) + "/" + string(m.Data) }

// Validate reports an unknown rule.
func (m Model) Validate() error {
	if m.Names != NamesPOSIX && m.Names != NamesJournal {
		return fmt.Errorf("crashfs: names rule %q is not %q or %q", m.Names, NamesPOSIX, NamesJournal)
	}
	if m.Data != DataDrop && m.Data != DataZeroPages {
		return fmt.Errorf("crashfs: data rule %q is not %q or %q", m.Data, DataDrop, DataZeroPages)
	}
	return nil
}

// page is 4 KiB of a file. A frozen page is shared with a durable version
// or a clone and is copied before it is written.
type page struct {
	b      [pageSize]byte
	frozen bool
}

// content is a file's bytes: len(pages) == ceil(size/pageSize), a nil page
// reads as zeros, and the bytes of the last page past size are zero.
type content struct {
	pages []*page
	size  int64
}

func pagesFor(size int64) int64 { return (size + pageSize - 1) / pageSize }

func (c *content) readAt(p []byte, off int64) int {
	if off >= c.size {
		return 0
	}
	n := int(min(int64(len(p)), c.size-off))
	for done := 0; done < n; {
		idx, in := (off+int64(done))/pageSize, int((off+int64(done))%pageSize)
		k := min(pageSize-in, n-done)
		if pg := c.pages[idx]; pg != nil {
			copy(p[done:done+k], pg.b[in:in+k])
		} else {
			clear(p[done : done+k])
		}
		done += k
	}
	return n
}

// node is a file, directory or symlink.
type node struct {
	ino      uint64
	mode     uint32 // type and permission bits
	uid, gid uint32
	nlink    uint32 // names in the current tree
	parent   *node  // the directory of one current (or the last) name, for paths
	name     string
	mtime    time.Time
	ctime    time.Time
	handles  int // open file handles

	// Regular files.
	cur, dur content
	dirty    map[int64]struct{} // pages written since the last fsync
	cutTo    int64              // fewest pages the file had since the last fsync; -1: not cut

	// Directories.
	kids    map[string]*node
	posix   map[string]*node // durable names under NamesPOSIX
	journal map[string]*node // durable names under NamesJournal

	// Symlinks.
	target string
}

func (n *node) isDir() bool  { return n.mode&syscall.S_IFMT == syscall.S_IFDIR }
func (n *node) isFile() bool { return n.mode&syscall.S_IFMT == syscall.S_IFREG }

// path returns the node's path from the root, without a leading slash.
func (n *node) path() string {
	if n.parent == nil {
		return ""
	}
	if p := n.parent.path(); p != "" {
		return p + "/" + n.name
	}
	return n.name
}

func (n *node) child(name string) string {
	if p := n.path(); p != "" {
		return p + "/" + name
	}
	return name
}

// writeAt writes p at off into the current content.
func (n *node) writeAt(p []byte, off int64) {
	end := off + int64(len(p))
	if end > n.cur.size {
		n.resize(end)
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, in := pos/pageSize, int(pos%pageSize)
		k := min(pageSize-in, len(p)-done)
		pg := n.writablePage(idx)
		copy(pg.b[in:in+k], p[done:done+k])
		done += k
	}
}

// writablePage returns page idx for writing, copying a frozen one, and
// marks it dirty.
func (n *node) writablePage(idx int64) *page {
	pg := n.cur.pages[idx]
	switch {
	case pg == nil:
		pg = &page{}
		n.cur.pages[idx] = pg
	case pg.frozen:
		cp := &page{b: pg.b}
		n.cur.pages[idx] = cp
		pg = cp
	}
	n.dirty[idx] = struct{}{}
	return pg
}

// resize sets the current size, zeroing what a shrink cuts from the last
// page so that a later grow reads zeros there.
func (n *node) resize(size int64) {
	np := pagesFor(size)
	if size < n.cur.size {
		clear(n.cur.pages[np:])
		n.cur.pages = n.cur.pages[:np]
		if n.cutTo < 0 || np < n.cutTo {
			n.cutTo = np
		}
		for idx := range n.dirty {
			if idx >= np {
				delete(n.dirty, idx)
			}
		}
		if in := size % pageSize; in != 0 && n.cur.pages[np-1] != nil {
			pg := n.writablePage(np - 1)
			clear(pg.b[in:])
		}
	} else {
		for int64(len(n.cur.pages)) < np {
			n.cur.pages = append(n.cur.pages, nil)
		}
	}
	n.cur.size = size
}

// sync makes the current content durable (fsync, fdatasync).
func (n *node) sync() {
	d := &n.dur
	if n.cutTo >= 0 && int64(len(d.pages)) > n.cutTo {
		clear(d.pages[n.cutTo:])
		d.pages = d.pages[:n.cutTo]
	}
	if len(d.pages) > len(n.cur.pages) {
		clear(d.pages[len(n.cur.pages):])
		d.pages = d.pages[:len(n.cur.pages)]
	}
	for len(d.pages) < len(n.cur.pages) {
		d.pages = append(d.pages, nil)
	}
	for idx := range n.dirty {
		pg := n.cur.pages[idx]
		if pg != nil {
			pg.frozen = true
		}
		d.pages[idx] = pg
	}
	d.size = n.cur.size
	clear(n.dirty)
	n.cutTo = -1
}

// afterCut returns the content a cut leaves under rule d.
func (n *node) afterCut(d Data, rng *rand.Rand) content {
	if d == DataDrop {
		return content{pages: slices.Clone(n.dur.pages), size: n.dur.size}
	}
	out := content{pages: make([]*page, len(n.cur.pages)), size: n.cur.size}
	for idx := range out.pages {
		_, dirty := n.dirty[int64(idx)]
		if !dirty && (n.cutTo < 0 || int64(idx) < n.cutTo) {
			out.pages[idx] = n.cur.pages[idx]
			continue
		}
		if rng.IntN(2) == 0 {
			out.pages[idx] = n.cur.pages[idx] // written back
		} else if idx < len(n.dur.pages) {
			out.pages[idx] = n.dur.pages[idx] // the old block
		}
	}
	if in := out.size % pageSize; in != 0 {
		last := len(out.pages) - 1
		if pg := out.pages[last]; pg != nil && pg.b != ([pageSize]byte{}) {
			cp := &page{b: pg.b}
			clear(cp.b[in:])
			out.pages[last] = cp
		}
	}
	return out
}

// FS is the filesystem model. It outlives mounts: mount it, cut, mount it
// again. Its methods are safe for concurrent use.
type FS struct {
	mu      sync.Mutex
	nodes   map[uint64]*node
	root    *node
	nextIno uint64
	jdirty  map[*node]struct{} // directories changed since the last journal commit
	garbage int                // names dropped since the last collect

	mounted bool
	boot    *boot              // cut control of the current (or next) mount
	handles map[uint64]*handle // open files and directories of the mount
	nextFh  uint64
}

// New returns an empty filesystem: a root directory, durable.
func New() *FS {
	f := &FS{nodes: map[uint64]*node{}, nextIno: 2, jdirty: map[*node]struct{}{}, boot: newBoot()}
	now := time.Now()
	f.root = &node{ino: 1, mode: syscall.S_IFDIR | 0o755, nlink: 1, mtime: now, ctime: now,
		kids: map[string]*node{}, posix: map[string]*node{}, journal: map[string]*node{}}
	f.nodes[1] = f.root
	return f
}

func (f *FS) newNode(mode, uid, gid uint32) *node {
	now := time.Now()
	n := &node{ino: f.nextIno, mode: mode, uid: uid, gid: gid, mtime: now, ctime: now, cutTo: -1}
	f.nextIno++
	switch {
	case n.isFile():
		n.dirty = map[int64]struct{}{}
	case n.isDir():
		n.kids, n.posix, n.journal = map[string]*node{}, map[string]*node{}, map[string]*node{}
		f.jdirty[n] = struct{}{}
	}
	f.nodes[n.ino] = n
	return n
}

// link adds name -> n to dir.
func (f *FS) link(dir *node, name string, n *node) {
	dir.kids[name] = n
	n.nlink++
	n.parent, n.name = dir, name
	f.jdirty[dir] = struct{}{}
	dir.mtime = time.Now()
}

// unlink removes name from dir.
func (f *FS) unlink(dir *node, name string) {
	n := dir.kids[name]
	delete(dir.kids, name)
	n.nlink--
	f.jdirty[dir] = struct{}{}
	dir.mtime = time.Now()
	f.garbage++
}

// commitJournal makes every name change so far durable under NamesJournal.
func (f *FS) commitJournal() {
	for d := range f.jdirty {
		d.journal = maps.Clone(d.kids)
	}
	clear(f.jdirty)
}

// collect forgets nodes that can never be seen again: no current or
// durable name leads to them and no handle is open on them.
func (f *FS) collect() {
	if f.garbage < 256 {
		return
	}
	f.garbage = 0
	seen := map[*node]bool{f.root: true}
	stack := []*node{f.root}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range []map[string]*node{d.kids, d.posix, d.journal} {
			for _, k := range m {
				if !seen[k] {
					seen[k] = true
					if k.isDir() {
						stack = append(stack, k)
					}
				}
			}
		}
	}
	for ino, n := range f.nodes {
		if !seen[n] && n.handles == 0 {
			delete(f.nodes, ino)
			delete(f.jdirty, n)
		}
	}
}

// ErrMounted is returned by operations that need the filesystem unmounted.
var ErrMounted = errors.New("crashfs: the filesystem is mounted")

// PowerCut replaces the current state with what model m says survives,
// and makes it durable. The filesystem must not be mounted.
func (f *FS) PowerCut(m Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mounted {
		return ErrMounted
	}
	rng := rand.New(rand.NewPCG(m.Seed, 0x6b74))
	durable := func(d *node) map[string]*node {
		if m.Names == NamesJournal {
			return d.journal
		}
		return d.posix
	}
	// Walk the durable names from the root, in name order so that the
	// random choices depend on the seed only.
	kept := map[*node]bool{f.root: true}
	newKids := map[*node]map[string]*node{}
	stack := []*node{f.root}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		names := slices.Sorted(maps.Keys(durable(d)))
		kids := map[string]*node{}
		for _, name := range names {
			k := durable(d)[name]
			if k.isDir() && kept[k] {
				continue // a directory durably named twice keeps its first name
			}
			kids[name] = k
			if !kept[k] {
				kept[k] = true
				if k.isDir() {
					stack = append(stack, k)
				}
			}
		}
		newKids[d] = kids
	}
	order := slices.Collect(maps.Keys(kept))
	sort.Slice(order, func(i, j int) bool { return order[i].ino < order[j].ino })
	for _, n := range order {
		n.nlink, n.handles = 0, 0
		if n.isFile() {
			c := n.afterCut(m.Data, rng)
			for _, pg := range c.pages {
				if pg != nil {
					pg.frozen = true
				}
			}
			n.cur = c
			n.dur = content{pages: slices.Clone(c.pages), size: c.size}
			clear(n.dirty)
			n.cutTo = -1
		}
	}
	f.root.nlink = 1
	for _, d := range order {
		if !d.isDir() {
			continue
		}
		d.kids = newKids[d]
		d.posix, d.journal = maps.Clone(d.kids), maps.Clone(d.kids)
		for _, name := range slices.Sorted(maps.Keys(d.kids)) {
			k := d.kids[name]
			k.nlink++
			if k.nlink == 1 {
				k.parent, k.name = d, name
			}
		}
	}
	for ino, n := range f.nodes {
		if !kept[n] {
			delete(f.nodes, ino)
		}
	}
	clear(f.jdirty)
	f.garbage = 0
	return nil
}

// Settle makes everything durable, as time and a clean shutdown do: every
// file's data and every name.
func (f *FS) Settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		switch {
		case n.isFile():
			n.sync()
		case n.isDir():
			n.posix, n.journal = maps.Clone(n.kids), maps.Clone(n.kids)
		}
	}
	clear(f.jdirty)
}

// Clone returns an independent copy of the filesystem, current and durable
// state alike, unmounted. Pages are shared until either side writes them.
func (f *FS) Clone() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &FS{nodes: map[uint64]*node{}, nextIno: f.nextIno, jdirty: map[*node]struct{}{}, boot: newBoot()}
	m := map[*node]*node{}
	for ino, n := range f.nodes {
		cp := *n
		cp.handles = 0
		if n.isFile() {
			for _, pg := range n.cur.pages {
				if pg != nil {
					pg.frozen = true
				}
			}
			cp.cur.pages = slices.Clone(n.cur.pages)
			cp.dur.pages = slices.Clone(n.dur.pages)
			cp.dirty = maps.Clone(n.dirty)
		}
		c.nodes[ino] = &cp
		m[n] = &cp
	}
	remap := func(src map[string]*node) map[string]*node {
		if src == nil {
			return nil
		}
		out := make(map[string]*node, len(src))
		for k, v := range src {
			if w, ok := m[v]; ok {
				out[k] = w
			}
		}
		return out
	}
	for old, n := range m {
		n.parent = m[old.parent]
		if n.isDir() {
			n.kids, n.posix, n.journal = remap(old.kids), remap(old.posix), remap(old.journal)
		}
	}
	for d := range f.jdirty {
		if w, ok := m[d]; ok {
			c.jdirty[w] = struct{}{}
		}
	}
	c.root = m[f.root]
	return c
}
