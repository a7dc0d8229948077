package crashfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rig is a mounted FS and the helpers the tests write with.
type rig struct {
	t   *testing.T
	fs  *FS
	m   *Mount
	dir string
}

func needFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("crashfs: mounting with mount(2) needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("crashfs: no /dev/fuse: %v", err)
	}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	needFUSE(t)
	r := &rig{t: t, fs: New(), dir: t.TempDir()}
	r.mount()
	t.Cleanup(func() {
		if r.m != nil {
			assert.NoError(t, r.m.Unmount())
		}
	})
	return r
}

func (r *rig) mount() {
	r.t.Helper()
	m, err := r.fs.Mount(r.dir)
	require.NoError(r.t, err)
	r.m = m
}

// cut unmounts, cuts the power under model m, and mounts again.
func (r *rig) cut(m Model) {
	r.t.Helper()
	require.NoError(r.t, r.m.Unmount())
	r.m = nil
	require.NoError(r.t, r.fs.PowerCut(m))
	r.mount()
}

func (r *rig) p(name string) string { return filepath.Join(r.dir, name) }

// write creates or truncates name and writes data; sync fsyncs it.
func (r *rig) write(name, data string, sync bool) {
	r.t.Helper()
	f, err := os.OpenFile(r.p(name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	require.NoError(r.t, err)
	_, err = f.WriteString(data)
	require.NoError(r.t, err)
	if sync {
		require.NoError(r.t, f.Sync())
	}
	require.NoError(r.t, f.Close())
}

func (r *rig) syncDir(name string) {
	r.t.Helper()
	d, err := os.Open(r.p(name))
	require.NoError(r.t, err)
	require.NoError(r.t, d.Sync())
	require.NoError(r.t, d.Close())
}

// read returns name's content, or "<absent>".
func (r *rig) read(name string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.p(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "<absent>"
	}
	require.NoError(r.t, err)
	return string(b)
}

var (
	posixDrop   = Model{Names: NamesPOSIX, Data: DataDrop}
	journalDrop = Model{Names: NamesJournal, Data: DataDrop}
	posixZero   = Model{Names: NamesPOSIX, Data: DataZeroPages}
)

// TestPowerCut runs one sequence of calls per case, cuts the power under
// each model given, and checks what the files hold after it.
func TestPowerCut(t *testing.T) {
	type want map[string]string // file -> content, or "<absent>"
	cases := []struct {
		name string
		run  func(r *rig)
		want map[Model]want
	}{
		{
			name: "write without fsync is gone",
			run: func(r *rig) {
				r.write("a", "", true)
				r.syncDir(".")
				f, err := os.OpenFile(r.p("a"), os.O_WRONLY, 0)
				require.NoError(r.t, err)
				_, err = f.WriteString("lost")
				require.NoError(r.t, err)
				require.NoError(r.t, f.Close())
				assert.Equal(r.t, "lost", r.read("a"), "before the cut, reads see the write")
			},
			want: map[Model]want{posixDrop: {"a": ""}, journalDrop: {"a": ""}},
		},
		{
			name: "fsync of the file but not of its directory",
			run:  func(r *rig) { r.write("a", "data", true) },
			// Under a journal the fsync commits the create.
			want: map[Model]want{posixDrop: {"a": "<absent>"}, journalDrop: {"a": "data"}},
		},
		{
			name: "directory fsync without file fsync keeps an empty file",
			run: func(r *rig) {
				r.write("a", "data", false)
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"a": ""}, journalDrop: {"a": ""}},
		},
		{
			name: "file and directory fsync",
			run: func(r *rig) {
				r.write("a", "data", true)
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"a": "data"}, journalDrop: {"a": "data"}, posixZero: {"a": "data"}},
		},
		{
			name: "rename over a name, then directory fsync",
			run: func(r *rig) {
				r.write("a", "old", true)
				r.syncDir(".")
				r.write("a.tmp", "new", true)
				require.NoError(r.t, os.Rename(r.p("a.tmp"), r.p("a")))
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"a": "new", "a.tmp": "<absent>"}, journalDrop: {"a": "new", "a.tmp": "<absent>"}},
		},
		{
			name: "rename over a name without directory fsync brings the old file back",
			run: func(r *rig) {
				r.write("a", "old", true)
				r.syncDir(".")
				r.write("a.tmp", "new", true)
				require.NoError(r.t, os.Rename(r.p("a.tmp"), r.p("a")))
				assert.Equal(r.t, "new", r.read("a"))
			},
			want: map[Model]want{
				posixDrop: {"a": "old", "a.tmp": "<absent>"},
				// The fsync of a.tmp committed its create, not the rename after it.
				journalDrop: {"a": "old", "a.tmp": "new"},
			},
		},
		{
			name: "rename without data fsync, committed by a later fsync (the zero-length file)",
			run: func(r *rig) {
				r.write("a", "old", true)
				r.syncDir(".")
				r.write("a.tmp", "new", false)
				require.NoError(r.t, os.Rename(r.p("a.tmp"), r.p("a")))
				r.write("other", "x", true) // any fsync commits the journal
			},
			want: map[Model]want{posixDrop: {"a": "old"}, journalDrop: {"a": "", "other": "x"}},
		},
		{
			name: "unlink without directory fsync comes back",
			run: func(r *rig) {
				r.write("a", "kept", true)
				r.syncDir(".")
				require.NoError(r.t, os.Remove(r.p("a")))
			},
			want: map[Model]want{posixDrop: {"a": "kept"}, journalDrop: {"a": "kept"}},
		},
		{
			name: "unlink with directory fsync is gone",
			run: func(r *rig) {
				r.write("a", "kept", true)
				r.syncDir(".")
				require.NoError(r.t, os.Remove(r.p("a")))
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"a": "<absent>"}, journalDrop: {"a": "<absent>"}},
		},
		{
			name: "a file whose only durable name is gone is gone",
			run: func(r *rig) {
				r.write("a", "data", true)
				r.syncDir(".")
				require.NoError(r.t, os.Rename(r.p("a"), r.p("b")))
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"a": "<absent>", "b": "data"}},
		},
		{
			name: "directories need their parent fsync'd",
			run: func(r *rig) {
				require.NoError(r.t, os.MkdirAll(r.p("d/e"), 0o700))
				r.write("d/e/f", "data", true)
				r.syncDir("d/e")
				r.syncDir("d")
			},
			want: map[Model]want{posixDrop: {"d/e/f": "<absent>"}, journalDrop: {"d/e/f": "data"}},
		},
		{
			name: "every level fsync'd",
			run: func(r *rig) {
				require.NoError(r.t, os.MkdirAll(r.p("d/e"), 0o700))
				r.write("d/e/f", "data", true)
				r.syncDir("d/e")
				r.syncDir("d")
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"d/e/f": "data"}},
		},
		{
			name: "rmdir with parent fsync removes the directory and what it held",
			run: func(r *rig) {
				require.NoError(r.t, os.Mkdir(r.p("d"), 0o700))
				r.write("d/f", "data", true)
				r.syncDir("d")
				r.syncDir(".")
				require.NoError(r.t, os.Remove(r.p("d/f")))
				require.NoError(r.t, os.Remove(r.p("d")))
				r.syncDir(".")
			},
			// Under POSIX d/f's removal was never made durable in d, but d
			// itself is gone; under a journal both removals were committed.
			want: map[Model]want{posixDrop: {"d/f": "<absent>"}, journalDrop: {"d/f": "<absent>"}},
		},
		{
			name: "rmdir without parent fsync brings the directory back",
			run: func(r *rig) {
				require.NoError(r.t, os.Mkdir(r.p("d"), 0o700))
				r.write("d/f", "data", true)
				r.syncDir("d")
				r.syncDir(".")
				require.NoError(r.t, os.Remove(r.p("d/f")))
				require.NoError(r.t, os.Remove(r.p("d")))
			},
			want: map[Model]want{posixDrop: {"d/f": "data"}, journalDrop: {"d/f": "data"}},
		},
		{
			name: "hard link: the durable names survive",
			run: func(r *rig) {
				r.write("a", "data", true)
				require.NoError(r.t, os.Link(r.p("a"), r.p("b")))
				r.syncDir(".")
				require.NoError(r.t, os.Remove(r.p("a")))
			},
			want: map[Model]want{posixDrop: {"a": "data", "b": "data"}},
		},
		{
			name: "O_APPEND: synced lines stay, the unsynced tail goes",
			run: func(r *rig) {
				f, err := os.OpenFile(r.p("log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				require.NoError(r.t, err)
				r.syncDir(".")
				for _, l := range []string{"one\n", "two\n"} {
					_, err = f.WriteString(l)
					require.NoError(r.t, err)
					require.NoError(r.t, f.Sync())
				}
				_, err = f.WriteAt([]byte("XXX"), 0)
				assert.Error(r.t, err, "os refuses WriteAt in append mode")
				_, err = f.WriteString("three\n")
				require.NoError(r.t, err)
				require.NoError(r.t, f.Close())
				assert.Equal(r.t, "one\ntwo\nthree\n", r.read("log"))
			},
			want: map[Model]want{posixDrop: {"log": "one\ntwo\n"}},
		},
		{
			name: "truncate without fsync is undone",
			run: func(r *rig) {
				r.write("a", strings.Repeat("x", 10000), true)
				r.syncDir(".")
				require.NoError(r.t, os.Truncate(r.p("a"), 100))
			},
			want: map[Model]want{posixDrop: {"a": strings.Repeat("x", 10000)}},
		},
		{
			name: "truncate then fdatasync keeps the new size",
			run: func(r *rig) {
				r.write("a", strings.Repeat("x", 10000), true)
				r.syncDir(".")
				f, err := os.OpenFile(r.p("a"), os.O_RDWR, 0)
				require.NoError(r.t, err)
				require.NoError(r.t, f.Truncate(100))
				require.NoError(r.t, syscall.Fdatasync(int(f.Fd())))
				require.NoError(r.t, f.Close())
			},
			want: map[Model]want{posixDrop: {"a": strings.Repeat("x", 100)}},
		},
		{
			name: "fdatasync makes appended data and the size durable",
			run: func(r *rig) {
				r.write("a", "head", true)
				r.syncDir(".")
				f, err := os.OpenFile(r.p("a"), os.O_RDWR, 0)
				require.NoError(r.t, err)
				_, err = f.WriteAt([]byte("+tail"), 4)
				require.NoError(r.t, err)
				require.NoError(r.t, syscall.Fdatasync(int(f.Fd())))
				_, err = f.WriteAt([]byte("!lost"), 9)
				require.NoError(r.t, err)
				require.NoError(r.t, f.Close())
			},
			want: map[Model]want{posixDrop: {"a": "head+tail"}, journalDrop: {"a": "head+tail"}},
		},
		{
			name: "an overwrite in place without fsync reads back as before",
			run: func(r *rig) {
				r.write("a", "AAAABBBB", true)
				r.syncDir(".")
				f, err := os.OpenFile(r.p("a"), os.O_RDWR, 0)
				require.NoError(r.t, err)
				_, err = f.WriteAt([]byte("CCCC"), 4)
				require.NoError(r.t, err)
				require.NoError(r.t, f.Close())
			},
			want: map[Model]want{posixDrop: {"a": "AAAABBBB"}},
		},
		{
			name: "fallocate extends the size, KEEP_SIZE does not",
			run: func(r *rig) {
				r.write("a", "ab", true)
				r.syncDir(".")
				f, err := os.OpenFile(r.p("a"), os.O_RDWR, 0)
				require.NoError(r.t, err)
				require.NoError(r.t, syscall.Fallocate(int(f.Fd()), fallocKeepSize, 0, 100))
				fi, err := f.Stat()
				require.NoError(r.t, err)
				assert.EqualValues(r.t, 2, fi.Size())
				require.NoError(r.t, syscall.Fallocate(int(f.Fd()), 0, 0, 5))
				require.NoError(r.t, f.Sync())
				require.NoError(r.t, f.Close())
			},
			want: map[Model]want{posixDrop: {"a": "ab\x00\x00\x00"}},
		},
		{
			name: "symlink with directory fsync",
			run: func(r *rig) {
				r.write("a", "data", true)
				require.NoError(r.t, os.Symlink("a", r.p("l")))
				r.syncDir(".")
			},
			want: map[Model]want{posixDrop: {"l": "data"}},
		},
	}
	for _, c := range cases {
		for m, files := range c.want {
			t.Run(c.name+"/"+m.String(), func(t *testing.T) {
				r := newRig(t)
				c.run(r)
				r.cut(m)
				for name, content := range files {
					assert.Equal(t, content, r.read(name), "%s after a %s cut", name, m)
				}
			})
		}
	}
}

// TestZeroPages checks the XFS-like outcome: the size survives, and each
// page written since the last fsync reads back as written or as it was at
// the fsync (zeros where the file had nothing), never anything else.
func TestZeroPages(t *testing.T) {
	r := newRig(t)
	synced := bytes.Repeat([]byte("s"), 2*pageSize+100)
	require.NoError(t, os.WriteFile(r.p("a"), synced, 0o600))
	f, err := os.OpenFile(r.p("a"), os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	r.syncDir(".")
	// Overwrite inside page 0, append across pages 2..5.
	_, err = f.WriteAt([]byte("OVER"), 10)
	require.NoError(t, err)
	tail := bytes.Repeat([]byte("t"), 3*pageSize)
	_, err = f.WriteAt(tail, int64(len(synced)))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	newContent := append(append([]byte{}, synced...), tail...)
	copy(newContent[10:], "OVER")

	require.NoError(t, r.m.Unmount())
	r.m = nil
	seen := map[string]bool{}
	for seed := uint64(0); seed < 16; seed++ {
		c := r.fs.Clone()
		require.NoError(t, c.PowerCut(Model{Names: NamesPOSIX, Data: DataZeroPages, Seed: seed}))
		dir := t.TempDir()
		m, err := c.Mount(dir)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, "a"))
		require.NoError(t, m.Unmount())
		require.NoError(t, err)

		require.Len(t, got, len(newContent), "the size survives")
		for idx := 0; idx*pageSize < len(got); idx++ {
			lo, hi := idx*pageSize, min((idx+1)*pageSize, len(got))
			old := make([]byte, hi-lo)
			if lo < len(synced) {
				copy(old, synced[lo:min(hi, len(synced))])
			}
			switch pg := got[lo:hi]; {
			case bytes.Equal(pg, newContent[lo:hi]):
				seen["new"] = true
			case bytes.Equal(pg, old):
				seen["old"] = true
			default:
				t.Fatalf("seed %d page %d is neither the written nor the synced bytes: %q", seed, idx, pg[:16])
			}
		}
		assert.Equal(t, "ssssssssss", string(got[:10]), "bytes before the overwrite were synced")
	}
	assert.True(t, seen["new"] && seen["old"], "over 16 seeds both outcomes occur: %v", seen)
}

// TestRule cuts at a named op: it is held, later mutations too, reads go
// on, and after the cut only what was synced before it is there.
func TestRule(t *testing.T) {
	r := newRig(t)
	require.NoError(t, os.Mkdir(r.p("d"), 0o700))
	r.syncDir("d")
	r.syncDir(".")
	r.fs.SetRule(&Rule{At: Match{Kind: OpFsync, Glob: "d/*.log"}, N: 2})
	f, err := os.OpenFile(r.p("d/1.log"), os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	r.syncDir("d")
	_, err = f.WriteString("first")
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	_, err = f.WriteString("second")
	require.NoError(t, err)
	select {
	case <-r.fs.Cut():
		t.Fatal("frozen before the second fsync")
	default:
	}
	done := make(chan error, 1)
	go func() { done <- f.Sync() }()
	select {
	case <-r.fs.Cut():
	case <-time.After(10 * time.Second):
		t.Fatal("the second fsync did not freeze the filesystem")
	}
	assert.Equal(t, "at fsync #2 of d/*.log (rule: fsync #2 of d/*.log)", r.fs.CutPoint())
	assert.Equal(t, "firstsecond", r.read("d/1.log"), "reads go on")
	select {
	case err := <-done:
		t.Fatalf("the held fsync returned before the release: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.fs.ReleaseBlocked()
	assert.Error(t, <-done, "a held request fails with EIO once released")
	_, err = f.WriteString("third")
	assert.Error(t, err, "mutations after the cut fail")
	require.NoError(t, f.Close())

	trace := r.fs.Trace()
	var names []string
	for _, op := range trace {
		names = append(names, op.String())
	}
	assert.Contains(t, names, "fsync #1 of d/*.log")
	assert.Contains(t, names, "create #1 of d/*.log")
	assert.NotContains(t, names, "fsync #2 of d/*.log", "the held op was not applied")

	r.cut(posixDrop)
	assert.Equal(t, "first", r.read("d/1.log"))
}

// TestRuleAfter counts from a trigger op.
func TestRuleAfter(t *testing.T) {
	r := newRig(t)
	r.fs.SetRule(&Rule{After: &Match{Kind: OpCreate, Glob: "*.seg"}, AfterN: 2, At: Match{Kind: OpWrite, Glob: "*.seg"}, N: 2})
	for i, name := range []string{"1.seg", "2.seg"} {
		f, err := os.Create(r.p(name))
		require.NoError(t, err)
		_, err = f.WriteString("a")
		require.NoError(t, err)
		if i == 0 {
			_, err = f.WriteString("b")
			require.NoError(t, err, "writes to the first segment come before the trigger")
		}
		require.NoError(t, f.Close())
	}
	assert.False(t, r.fs.Frozen())
	go func() {
		f, err := os.OpenFile(r.p("2.seg"), os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.WriteString("b")
			f.Close()
		}
	}()
	select {
	case <-r.fs.Cut():
	case <-time.After(10 * time.Second):
		t.Fatal("not frozen")
	}
	assert.Equal(t, "at write #4 of *.seg (rule: write #2 of *.seg after create #2 of *.seg)", r.fs.CutPoint())
}

// TestFreeze cuts at a random moment: the next mutation is held.
func TestFreeze(t *testing.T) {
	r := newRig(t)
	r.write("a", "x", true)
	r.fs.Freeze()
	assert.True(t, r.fs.Frozen())
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(r.p("b"), []byte("y"), 0o600) }()
	time.Sleep(50 * time.Millisecond)
	r.fs.ReleaseBlocked()
	assert.Error(t, <-done)
	assert.Equal(t, "at a random moment, after fsync #1 of a; first held: create #1 of b", r.fs.CutPoint())
}

// TestCloneSettle: a clone is independent; Settle makes everything durable.
func TestCloneSettle(t *testing.T) {
	r := newRig(t)
	require.NoError(t, os.Mkdir(r.p("d"), 0o700))
	r.write("d/a", strings.Repeat("a", 3*pageSize), false)
	require.NoError(t, r.m.Unmount())
	r.m = nil
	r.fs.Settle()
	c := r.fs.Clone()
	r.mount()
	r.write("d/a", "changed", true)

	require.NoError(t, c.PowerCut(posixDrop))
	dir := t.TempDir()
	m, err := c.Mount(dir)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "d/a"))
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("a", 3*pageSize), string(b), "settled before the clone; the original's later write is not in it")
	require.NoError(t, m.Unmount())
	assert.Equal(t, "changed", r.read("d/a"))
}

// TestManyFiles writes more files than the collector's threshold and
// replaces one file atomically many times, as kt's checkpoint writer does.
func TestManyFiles(t *testing.T) {
	r := newRig(t)
	for i := range 600 {
		tmp := r.p(".cp.tmp")
		require.NoError(t, os.WriteFile(tmp, []byte(strings.Repeat("c", i)), 0o600))
		require.NoError(t, os.Rename(tmp, r.p("cp")))
	}
	r.syncDir(".")
	r.cut(posixDrop)
	assert.Equal(t, "", r.read("cp"), "the name is durable, the data never was")
	r.fs.mu.Lock()
	n := len(r.fs.nodes)
	r.fs.mu.Unlock()
	assert.Less(t, n, 10, "replaced files are forgotten")
}

func TestPattern(t *testing.T) {
	for in, want := range map[string]string{
		"kt/ledger/segments/00000000000000000042.seg": "kt/ledger/segments/*.seg",
		"kt/.signing.key.tmp123456":                   "kt/.signing.key.tmp*",
		"kt/ledger/checkpoint":                        "kt/ledger/checkpoint",
		".":                                           ".",
	} {
		assert.Equal(t, want, Pattern(in))
	}
}

func TestModelValidate(t *testing.T) {
	assert.NoError(t, posixZero.Validate())
	assert.ErrorContains(t, Model{Names: "ext4", Data: DataDrop}.Validate(), `names rule "ext4"`)
	assert.ErrorContains(t, Model{Names: NamesPOSIX, Data: "none"}.Validate(), `data rule "none"`)
	assert.ErrorIs(t, func() error {
		needFUSE(t)
		r := newRig(t)
		return r.fs.PowerCut(posixDrop)
	}(), ErrMounted)
}
