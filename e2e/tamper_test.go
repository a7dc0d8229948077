package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
)

// tamperFixture runs an agent over the samples and returns the data dir and
// the sink output's lines.
func tamperFixture(t *testing.T) (dataDir string, lines [][]byte) {
	t.Helper()
	dataDir = t.TempDir()
	a := startAgent(t, writeConfig(t, dataDir, ""))
	for _, l := range sampleLines(t) {
		r, err := post(context.Background(), a.webhook, l, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, r.Code, r.Body)
	}
	a.Stop()
	b, err := os.ReadFile(filepath.Join(dataDir, "out", "audit.ndjson"))
	require.NoError(t, err)
	lines = bytes.SplitAfter(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return dataDir, lines
}

// lineOf returns the index of the line holding entry seq.
func lineOf(t *testing.T, lines [][]byte, seq uint64) int {
	t.Helper()
	for i, l := range lines {
		if e, err := ledger.ParseLine(l); err == nil && e.Seq == seq {
			return i
		}
	}
	t.Fatalf("no line for seq %d", seq)
	return -1
}

// TestIntegrationTamper changes a SIEM copy (the file sink's output) and the
// data dir the ways an attacker would, and checks that kt verify names each
// change with the right code and seq.
func TestIntegrationTamper(t *testing.T) {
	dataDir, lines := tamperFixture(t)
	trust := filepath.Join(dataDir, "signing.key.pub")
	anchor := filepath.Join(dataDir, "ledger", "checkpoint")

	attacker := func() *ledger.Signer {
		skey, _, err := ledger.GenerateKey(rand.Reader, "attacker")
		require.NoError(t, err)
		s, err := ledger.NewSigner(skey)
		require.NoError(t, err)
		return s
	}()

	skey, err := os.ReadFile(filepath.Join(dataDir, "signing.key"))
	require.NoError(t, err)
	stolen, err := ledger.NewSigner(string(skey))
	require.NoError(t, err)

	clone := func() [][]byte {
		out := make([][]byte, len(lines))
		for i, l := range lines {
			out[i] = append([]byte(nil), l...)
		}
		return out
	}
	cases := []struct {
		name   string
		tamper func([][]byte) [][]byte
		want   []string
	}{
		{"flip a byte inside an entry", func(ls [][]byte) [][]byte {
			i := lineOf(t, ls, 5)
			j := bytes.Index(ls[i], []byte(`"action":"`)) + len(`"action":"`)
			ls[i][j] ^= 0x01
			return ls
		}, []string{"MODIFIED seq=5"}},
		{"delete an entry", func(ls [][]byte) [][]byte {
			i := lineOf(t, ls, 7)
			return append(ls[:i], ls[i+1:]...)
		}, []string{"GAP seq=7"}},
		{"swap two entries", func(ls [][]byte) [][]byte {
			i, j := lineOf(t, ls, 10), lineOf(t, ls, 11)
			ls[i], ls[j] = ls[j], ls[i]
			return ls
		}, []string{"REORDERED seq=10"}},
		{"truncate the tail", func(ls [][]byte) [][]byte {
			return ls[:lineOf(t, ls, 20)]
		}, []string{"TRUNCATED"}},
		{"re-sign an entry with another key", func(ls [][]byte) [][]byte {
			i := lineOf(t, ls, 12)
			e, err := ledger.ParseLine(ls[i])
			require.NoError(t, err)
			e.Sig = attacker.SignHash(e.Hash)
			e.KeyID = attacker.KeyID()
			ls[i] = append(e.AppendLine(nil), '\n')
			return ls
		}, []string{"UNKNOWN_KEY seq=12"}},
		{"forge a signature under the real key id", func(ls [][]byte) [][]byte {
			i := lineOf(t, ls, 13)
			e, err := ledger.ParseLine(ls[i])
			require.NoError(t, err)
			e.Sig = attacker.SignHash(e.Hash)
			ls[i] = append(e.AppendLine(nil), '\n')
			return ls
		}, []string{"BAD_SIGNATURE seq=13"}},
		{"rewrite an entry and re-chain everything after it", func(ls [][]byte) [][]byte {
			// The attacker changes seq 15 and fixes its hash, but cannot
			// sign it with the real key nor fix the next entry's prev_hash.
			i := lineOf(t, ls, 15)
			e, err := ledger.ParseLine(ls[i])
			require.NoError(t, err)
			e.Body = flipOutcome(t, e.Body)
			e.Hash = e.ComputeHash()
			ls[i] = append(e.AppendLine(nil), '\n')
			return ls
		}, []string{"BAD_SIGNATURE seq=15", "CHAIN_BREAK seq=16"}},
		{"rewrite history with the stolen key", func(ls [][]byte) [][]byte {
			return rechain(t, ls, 15, stolen)
		}, []string{"FORK"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "siem.ndjson")
			require.NoError(t, os.WriteFile(p, bytes.Join(tc.tamper(clone()), nil), 0o600))
			code, stdout, stderr := runKT(t, "verify", "--trust", trust, "--anchors", anchor, p)
			assert.Equal(t, 1, code, "exit code; output:\n%s%s", stdout, stderr)
			for _, w := range tc.want {
				assert.Contains(t, stdout, w)
			}
		})
	}

	t.Run("untouched copy is clean", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "siem.ndjson")
		require.NoError(t, os.WriteFile(p, bytes.Join(clone(), nil), 0o600))
		code, stdout, stderr := runKT(t, "verify", "--trust", trust, "--anchors", anchor, p)
		assert.Equal(t, 0, code, stdout+stderr)
	})

	t.Run("data dir: segment cut off", func(t *testing.T) {
		dir := copyDir(t, dataDir)
		segs, err := filepath.Glob(filepath.Join(dir, "ledger", "segments", "*"))
		require.NoError(t, err)
		require.NotEmpty(t, segs)
		sort.Strings(segs)
		last := segs[len(segs)-1]
		st, err := os.Stat(last)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(last, st.Size()/2))
		code, stdout, stderr := runKT(t, "verify", "--data-dir", dir, "--trust", trust,
			"--anchors", filepath.Join(dataDir, "out", "audit.ndjson"))
		assert.Equal(t, 1, code, stdout+stderr)
		assert.Contains(t, stdout, "TRUNCATED")
	})

	t.Run("data dir: a stored byte flipped", func(t *testing.T) {
		dir := copyDir(t, dataDir)
		segs, _ := filepath.Glob(filepath.Join(dir, "ledger", "segments", "*"))
		sort.Strings(segs)
		b, err := os.ReadFile(segs[0])
		require.NoError(t, err)
		i := bytes.Index(b, []byte(`"evt_0009"`))
		require.Positive(t, i)
		b[i+5] ^= 0x01
		require.NoError(t, os.WriteFile(segs[0], b, 0o600))
		code, stdout, stderr := runKT(t, "verify", "--data-dir", dir, "--trust", trust)
		assert.Equal(t, 1, code, stdout+stderr)
		assert.True(t, strings.Contains(stdout, "DAMAGED") || strings.Contains(stdout, "MODIFIED"), stdout)
	})
}

// rechain changes entry seq from and re-chains and re-signs every entry after
// it with s, dropping the checkpoint records (they would not match): what an
// attacker holding the signing key can do. Only an anchor kept elsewhere
// catches it.
func rechain(t *testing.T, ls [][]byte, from uint64, s *ledger.Signer) [][]byte {
	t.Helper()
	var out [][]byte
	var prev ledger.Hash
	for _, l := range ls {
		e, err := ledger.ParseLine(l)
		if err != nil {
			continue // checkpoint records
		}
		if e.Seq == from {
			e.Body = flipOutcome(t, e.Body)
		}
		if e.Seq >= from {
			e.PrevHash = prev
			e.Hash = e.ComputeHash()
			e.Sig = s.SignHash(e.Hash)
		}
		prev = e.Hash
		out = append(out, append(e.AppendLine(nil), '\n'))
	}
	return out
}

// flipOutcome turns "success" into "failure" or back.
func flipOutcome(t *testing.T, body []byte) []byte {
	t.Helper()
	for _, p := range [][2]string{{`"outcome":"success"`, `"outcome":"failure"`}, {`"outcome":"failure"`, `"outcome":"success"`}} {
		if bytes.Contains(body, []byte(p[0])) {
			return bytes.Replace(body, []byte(p[0]), []byte(p[1]), 1)
		}
	}
	t.Fatalf("no outcome in %s", body)
	return nil
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	require.NoError(t, err, fmt.Sprint(src))
	return dst
}
