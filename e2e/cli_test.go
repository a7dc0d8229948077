package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntegrationCLI checks the command line a new user meets first.
func TestIntegrationCLI(t *testing.T) {
	code, out, _ := runKT(t, "--version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "kt version")

	code, out, _ = runKT(t, "--help")
	assert.Equal(t, 0, code)
	for _, c := range []string{"agent", "config", "keygen", "verify"} {
		assert.Contains(t, out, c)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	require.NoError(t, os.WriteFile(bad, []byte(`source "webhook" "w" {
  listen = "127.0.0.1:8780"
  replay_window = "five minutes"
}
sink "file" "a" {
  path = "/tmp/a"
}
sink "file" "a" {
  path = "/tmp/b"
}
sink "kafka" "k" {
  brokers = ["k:9092"]
}
`), 0o600))
	code, _, stderr := runKT(t, "config", "validate", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, bad+":3:19: error: Invalid duration")
	assert.Contains(t, stderr, "Invalid duration")
	assert.Contains(t, stderr, "Duplicate sink name")
	assert.Contains(t, stderr, "Not available yet: sink kafka")

	// kt agent checks the same way before it starts anything.
	code, _, stderr = runKT(t, "agent", "--config", bad)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Invalid duration")

	good := filepath.Join(dir, "good.hcl")
	require.NoError(t, os.WriteFile(good, []byte(`source "webhook" "w" {
  listen = "127.0.0.1:8780"
}
`), 0o600))
	code, out, _ = runKT(t, "config", "validate", good)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "valid")
	for _, f := range []string{"../configs/default.hcl", "../packaging/kt.hcl"} {
		code, out, stderr = runKT(t, "config", "validate", f)
		assert.Equal(t, 0, code, f+out+stderr)
	}

	key := filepath.Join(dir, "keys", "signing.key")
	code, out, _ = runKT(t, "keygen", "--out", key, "--name", "prod-kt")
	require.Equal(t, 0, code)
	st, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub, err := os.ReadFile(key + ".pub")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(pub), "prod-kt+"), string(pub))
	assert.Contains(t, out, strings.TrimSpace(string(pub)))
	code, _, stderr = runKT(t, "keygen", "--out", key)
	assert.Equal(t, 1, code, "an existing key is never overwritten")
	assert.Contains(t, stderr, "already exists")

	code, _, stderr = runKT(t, "verify")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "nothing to verify")
	code, _, _ = runKT(t, "verify", "--data-dir", filepath.Join(dir, "nope"))
	assert.Equal(t, 2, code)
}
