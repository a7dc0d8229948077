package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCursorsList: List returns every stored cursor (both slot versions
// and the old text format) sorted by name, whichever Cursors stored it,
// skips what is not a cursor file and files that hold none, and fails,
// naming the file, on a cursor it cannot read rather than leave it out.
func TestCursorsList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cursors")
	c, err := OpenCursors(dir)
	require.NoError(t, err)
	defer c.Close()
	list, err := c.List()
	require.NoError(t, err)
	assert.Empty(t, list)

	require.NoError(t, c.Store("splunk_hec.soc", 41))
	require.NoError(t, c.Store("splunk_hec.soc", 42))
	require.NoError(t, c.Put("file.local", Cursor{Next: 7, Aux: 4096, HasAux: true}))
	other, err := OpenCursors(dir)
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Store("elasticsearch.siem", 3))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.cursor"), []byte("12\n"), 0o600))
	// Not cursors: another file, a leftover temporary file, a directory,
	// a name Cursors never makes, and an empty file (no cursor stored).
	for _, n := range []string{"notes.txt", ".file.local.cursor.tmp123", ".hidden.cursor", "empty.cursor"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.cursor"), 0o700))

	want := []NamedCursor{
		{Name: "elasticsearch.siem", Cursor: Cursor{Next: 3}},
		{Name: "file.local", Cursor: Cursor{Next: 7, Aux: 4096, HasAux: true}},
		{Name: "old", Cursor: Cursor{Next: 12}},
		{Name: "splunk_hec.soc", Cursor: Cursor{Next: 42}},
	}
	for _, cs := range []*Cursors{c, other} {
		list, err = cs.List()
		require.NoError(t, err)
		assert.Equal(t, want, list)
	}
	name, next := maxCursor(dir)
	assert.Equal(t, "splunk_hec.soc.cursor", name)
	assert.Equal(t, uint64(42), next)

	// A damaged cursor fails the list, named; the rest is not taken for
	// all there is.
	bad := filepath.Join(dir, "broken.cursor")
	require.NoError(t, os.WriteFile(bad, make([]byte, 2*cursorSlot), 0o600))
	list, err = c.List()
	require.ErrorContains(t, err, bad)
	require.ErrorContains(t, err, "no valid slot")
	assert.Nil(t, list)
	name, next = maxCursor(dir)
	assert.Equal(t, "splunk_hec.soc.cursor", name, "evidence of a ledger ignores what it cannot read")
	assert.Equal(t, uint64(42), next)
}

func TestCursors(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	_, ok, err := c.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Store("splunk_hec.soc", 42))
	require.NoError(t, c.Store("splunk_hec.soc", 43))
	n, ok, err := c.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(43), n)
	fi, err := os.Stat(filepath.Join(dir, "cursors", "splunk_hec.soc.cursor"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	des, err := os.ReadDir(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	assert.Len(t, des, 1, "no temp files left")
	require.Error(t, c.Store("../x", 1))
	for i := range 5 {
		require.NoError(t, c.Store("splunk_hec.soc", uint64(100+i)))
	}
	require.NoError(t, c.Close())

	// A torn write of the newest slot leaves the one before.
	p := filepath.Join(dir, "cursors", "splunk_hec.soc.cursor")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Len(t, b, 64)
	c2, err := OpenCursors(filepath.Join(dir, "cursors"))
	require.NoError(t, err)
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(104), n)
	newest := 0
	if binary.LittleEndian.Uint64(b[36:]) > binary.LittleEndian.Uint64(b[4:]) {
		newest = 32
	}
	b[newest+13] ^= 0xff
	require.NoError(t, os.WriteFile(p, b, 0o600))
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(103), n)
	require.NoError(t, c2.Store("splunk_hec.soc", 105))
	n, _, err = c2.Load("splunk_hec.soc")
	require.NoError(t, err)
	assert.Equal(t, uint64(105), n)

	// The old text format is read, and replaced at the next store.
	old := filepath.Join(dir, "cursors", "file.out.cursor")
	require.NoError(t, os.WriteFile(old, []byte("77\n"), 0o600))
	n, ok, err = c2.Load("file.out")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, uint64(77), n)
	require.NoError(t, c2.Store("file.out", 78))
	n, _, err = c2.Load("file.out")
	require.NoError(t, err)
	assert.Equal(t, uint64(78), n)

	// Both slots damaged: a clear error, not a silent restart from 0.
	require.NoError(t, os.WriteFile(old, make([]byte, 64), 0o600))
	_, _, err = c2.Load("file.out")
	require.ErrorContains(t, err, "no valid slot")
}

// TestCursorAux: a cursor with an aux value is a version 2 slot; both
// versions read, and the doc's example is what Put writes.
func TestCursorAux(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursors(dir)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Store("s", 3))
	cur, ok, err := c.Get("s")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Cursor{Next: 3}, cur)
	require.NoError(t, c.Put("s", Cursor{Next: 5, Aux: 4096, HasAux: true}))
	cur, _, err = c.Get("s")
	require.NoError(t, err)
	assert.Equal(t, Cursor{Next: 5, Aux: 4096, HasAux: true}, cur)
	n, _, err := c.Load("s")
	require.NoError(t, err)
	assert.Equal(t, uint64(5), n)
	// A torn version 2 slot leaves the version 1 slot before it.
	b := mustRead(t, filepath.Join(dir, "s.cursor"))
	newest := 0
	if binary.LittleEndian.Uint64(b[36:]) > binary.LittleEndian.Uint64(b[4:]) {
		newest = 32
	}
	b[newest+25] ^= 1
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s.cursor"), b, 0o600))
	cur, _, err = c.Get("s")
	require.NoError(t, err)
	assert.Equal(t, Cursor{Next: 3}, cur)

	// The package doc's example slot.
	s := encodeSlot(Cursor{Next: 5, Aux: 4096, HasAux: true}, 7)
	src := string(mustRead(t, "cursors.go"))
	var lines []string
	for _, l := range bytes.Split([]byte(src), []byte("\n")) {
		if bytes.HasPrefix(l, []byte("//\t6b 74 63 32")) || bytes.HasPrefix(l, []byte("//\t00 00 00 00 00 10")) {
			lines = append(lines, string(bytes.TrimPrefix(l, []byte("//\t"))))
		}
	}
	require.Len(t, lines, 2)
	assert.Equal(t, fmt.Sprintf("% x  % x   |", s[:8], s[8:16]), lines[0][:len(fmt.Sprintf("% x  % x   |", s[:8], s[8:16]))])
	assert.Equal(t, fmt.Sprintf("% x  % x   |", s[16:24], s[24:32]), lines[1][:len(fmt.Sprintf("% x  % x   |", s[16:24], s[24:32]))])
}
