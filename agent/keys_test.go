package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyFilesMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	sk := filepath.Join(dir, "signing.key")
	_, err := LoadOrCreateSigner(sk, "kt-test", log)
	require.NoError(t, err, "first start generates the key")
	_, err = LoadOrCreateSigner(sk, "kt-test", log)
	require.NoError(t, err, "a 0600 key loads")
	rk := filepath.Join(dir, "redact.key")
	_, err = LoadOrCreateRedactKey(rk, log)
	require.NoError(t, err)

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		require.NoError(t, os.Chmod(sk, mode))
		_, err = LoadOrCreateSigner(sk, "kt-test", log)
		require.Error(t, err, "mode %04o", mode)
		assert.Contains(t, err.Error(), "chmod 600 "+sk)
		require.NoError(t, os.Chmod(rk, mode))
		_, err = LoadOrCreateRedactKey(rk, log)
		require.Error(t, err, "mode %04o", mode)
		assert.Contains(t, err.Error(), "redaction key")
	}
	require.NoError(t, os.Chmod(sk, 0o400))
	_, err = LoadOrCreateSigner(sk, "kt-test", log)
	assert.NoError(t, err, "a read-only key for its owner is fine")
}

func TestDataDirMustNotBeWritableByOthers(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "new", "data")
	require.NoError(t, CheckDataDir(dir), "created when absent")
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	for _, mode := range []os.FileMode{0o777, 0o770, 0o1777, 0o702} {
		require.NoError(t, os.Chmod(dir, mode))
		err := CheckDataDir(dir)
		require.Error(t, err, "mode %04o", mode)
		assert.Contains(t, err.Error(), "chmod go-w")
	}
	require.NoError(t, os.Chmod(dir, 0o750))
	assert.NoError(t, CheckDataDir(dir), "readable by the group is fine (monitoring may read the sink output)")
}

func TestDefaultKeyName(t *testing.T) {
	n := DefaultKeyName()
	assert.True(t, strings.HasPrefix(n, "kt-"), n)
	assert.NotContains(t, n, "+")
	assert.NotContains(t, n, " ")
}

func TestPublicKeyFileRestored(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	sk := filepath.Join(dir, "signing.key")
	s, err := LoadOrCreateSigner(sk, "kt-test", log)
	require.NoError(t, err)
	require.NoError(t, os.Remove(sk+".pub"))
	_, err = LoadOrCreateSigner(sk, "kt-test", log)
	require.NoError(t, err)
	b, err := os.ReadFile(sk + ".pub")
	require.NoError(t, err, "a missing public key file is written again")
	assert.Equal(t, s.VerifierKey()+"\n", string(b))

	other := filepath.Join(dir, "other.key")
	o, err := LoadOrCreateSigner(other, "kt-other", log)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(sk+".pub", []byte(o.VerifierKey()+"\n"), 0o644))
	_, err = LoadOrCreateSigner(sk, "kt-test", log)
	require.Error(t, err, "a public key file of another key is refused")
	assert.Contains(t, err.Error(), "not the public key of the signing key")
}
