package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{
		"WriteFile":         WriteFile,
		"WriteFileUnsynced": WriteFileUnsynced,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "key")
			require.NoError(t, write(p, []byte("one"), 0o600))
			require.NoError(t, write(p, []byte("two"), 0o600))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, "two", string(b))
			st, err := os.Stat(p)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			left, err := filepath.Glob(filepath.Join(dir, ".*tmp*"))
			require.NoError(t, err)
			assert.Empty(t, left, "no temporary file is left behind")

			assert.Error(t, write(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600))
		})
	}
}

// TestRemoveTemps: the temporary files a crash leaves before the rename
// are removed, and nothing else is.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	// What a crash before the rename leaves: the temporary file of a
	// write, named as write names it.
	f, err := os.CreateTemp(dir, tempPrefix("checkpoint")+"*")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	leftover := f.Name()
	keep := []string{"checkpoint", "damage.json", ".hidden", ".x.tmpl", ".tmp123", "a.tmp123", ".x.tmp"}
	for _, n := range keep {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".d.tmp1"), 0o700))

	removed, err := RemoveTemps(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{leftover}, removed)
	assert.NoFileExists(t, leftover)
	for _, n := range keep {
		assert.FileExists(t, filepath.Join(dir, n))
	}
	assert.DirExists(t, filepath.Join(dir, ".d.tmp1"))

	removed, err = RemoveTemps(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	assert.Empty(t, removed)
}
