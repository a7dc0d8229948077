package deadletter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendCreatesDurablyAndAppends(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "dead-letter.ndjson")
	w := New(path)
	_, err := os.Stat(filepath.Dir(path))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is created before the first record")

	require.NoError(t, w.Append(nil))
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "an empty batch writes nothing")

	require.NoError(t, w.Append([]byte("{\"n\":1}\n{\"n\":2}\n")))
	require.NoError(t, w.Append([]byte("{\"n\":3}\n")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", string(b))

	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {filepath.Dir(path), 0o700 | os.ModeDir}, {filepath.Join(dir, "a"), 0o700 | os.ModeDir}} {
		fi, err := os.Stat(p.path)
		require.NoError(t, err)
		assert.Equal(t, p.mode, fi.Mode(), p.path)
	}
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close twice")

	// A new Writer (a restart) appends after what is there.
	w = New(path)
	require.NoError(t, w.Append([]byte("{\"n\":4}\n")))
	require.NoError(t, w.Close())
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n", string(b))
}

// TestTornLineKept: a record a crash cut short stays as it is (it is
// evidence), and the next record starts on a line of its own.
func TestTornLineKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead-letter.ndjson")
	require.NoError(t, os.WriteFile(path, []byte("{\"n\":1}\n{\"n\":2,\"tex"), 0o600))
	w := New(path)
	require.NoError(t, w.Append([]byte("{\"n\":3}\n")))
	require.NoError(t, w.Append([]byte("{\"n\":4}\n")))
	require.NoError(t, w.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\"n\":1}\n{\"n\":2,\"tex\n{\"n\":3}\n{\"n\":4}\n", string(b))
}

func TestAppendFailsNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "blocker")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	w := New(filepath.Join(blocker, "dead-letter.ndjson"))
	err := w.Append([]byte("{}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dead-letter: ")
	assert.Contains(t, err.Error(), blocker)
	assert.NoError(t, w.Close())
}
