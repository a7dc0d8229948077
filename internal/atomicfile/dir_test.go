package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMkdirAllCreatesEveryLevel(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "a", "b", "c")
	require.NoError(t, MkdirAll(p, 0o700))
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		fi, err := os.Stat(filepath.Join(base, d))
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}
	require.NoError(t, MkdirAll(p, 0o700), "existing directory")
	f := filepath.Join(base, "file")
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	assert.Error(t, MkdirAll(f, 0o700), "a file in the way")
	assert.Error(t, MkdirAll(filepath.Join(f, "sub"), 0o700), "a file as a parent")
}

func TestCreateDurable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.ndjson")
	f, err := CreateDurable(p, os.O_APPEND, 0o640)
	require.NoError(t, err)
	_, err = f.WriteString("one\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	f, err = CreateDurable(p, os.O_APPEND, 0o640)
	require.NoError(t, err)
	_, err = f.WriteString("two\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\n", string(b), "an existing file is opened, not truncated")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
}
