package ledger

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// exampleSkey returns the fixed signing key of the worked example. It is a
// published test key: never use it for anything else.
func exampleSkey(tb testing.TB) string {
	b, err := os.ReadFile("testdata/example.skey")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// workedExample is the worked example of the package doc and of
// docs/VERIFICATION.md, computed from the fixed key.
type workedExample struct {
	VerifierKey string `json:"verifier_key"`
	KeyID       string `json:"key_id"`
	Genesis     string `json:"genesis_line"`
	PrevHash    string `json:"prev_hash"`
	Body        string `json:"body"`
	HashInput   string `json:"hash_input_hex"`
	Hash        string `json:"hash"`
	Sig         string `json:"sig"`
	Line        string `json:"line"`
	Leaf0       string `json:"leaf_0"`
	Leaf1       string `json:"leaf_1"`
	Root        string `json:"root"`
	Checkpoint  string `json:"checkpoint"`
}

func computeWorkedExample(t *testing.T) workedExample {
	s, err := NewSigner(exampleSkey(t))
	require.NoError(t, err)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	gbody, err := GenesisBody("ev-0", at, Genesis{LedgerID: "example", Origin: "kt.example/ledger",
		VerifierKey: s.VerifierKey(), KeyID: s.KeyID(), Version: "v0.1.0"})
	require.NoError(t, err)
	g := &Entry{Seq: 0, Body: gbody}
	g.Hash = g.ComputeHash()
	g.Sig, g.KeyID = s.SignHash(g.Hash), s.KeyID()

	body := []byte(`{"action":"auth.login","actor":{"id":"alice","type":"user"},"category":"authentication","id":"ev-1","outcome":"success","time":"2025-03-01T12:00:01.000000Z"}`)
	e := &Entry{Seq: 1, PrevHash: g.Hash, Body: body}
	e.Hash = e.ComputeHash()
	e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()

	var tree Tree
	tree.Append(g.Hash)
	tree.Append(e.Hash)
	root, err := tree.Root(2)
	require.NoError(t, err)
	cp, err := SignCheckpoint(s, "kt.example/ledger", 2, root)
	require.NoError(t, err)

	input := []byte(entryDomain)
	input = append(input, 0, 0, 0, 0, 0, 0, 0, 1)
	input = append(input, e.PrevHash[:]...)
	input = append(input, body...)
	l0, l1 := LeafHash(g.Hash), LeafHash(e.Hash)
	return workedExample{
		VerifierKey: s.VerifierKey(),
		KeyID:       s.KeyID(),
		Genesis:     string(g.AppendLine(nil)),
		PrevHash:    e.PrevHash.String(),
		Body:        string(body),
		HashInput:   hexString(input),
		Hash:        e.Hash.String(),
		Sig:         base64.StdEncoding.EncodeToString(e.Sig),
		Line:        string(e.AppendLine(nil)),
		Leaf0:       hexString(l0[:]),
		Leaf1:       hexString(l1[:]),
		Root:        base64.StdEncoding.EncodeToString(root[:]),
		Checkpoint:  string(cp.Note),
	}
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

const goldenExample = "testdata/worked_example.json"

// TestWorkedExample recomputes the worked example from the fixed key,
// compares it with the golden file (go test -run TestWorkedExample -update
// rewrites it), and checks that the package doc and docs/VERIFICATION.md
// show the same numbers.
func TestWorkedExample(t *testing.T) {
	got := computeWorkedExample(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(goldenExample, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(goldenExample)
	require.NoError(t, err)
	var want workedExample
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got)

	// The example verifies.
	v, err := NewVerifier(got.VerifierKey)
	require.NoError(t, err)
	c := NewCheck(Keyring{v.KeyID(): v})
	c.Line([]byte(got.Genesis), "genesis")
	c.Line([]byte(got.Line), "example")
	c.Checkpoint([]byte(got.Checkpoint), "checkpoint", true)
	findings, st := c.Finish()
	assert.Empty(t, findings)
	assert.Equal(t, int64(2), st.Anchored)

	for _, doc := range []string{"doc.go", "../docs/VERIFICATION.md"} {
		t.Run(filepath.Base(doc), func(t *testing.T) {
			b, err := os.ReadFile(doc)
			require.NoError(t, err)
			text := string(b)
			for _, s := range []string{got.VerifierKey, got.KeyID, got.PrevHash, got.Body,
				got.Hash, got.Sig, got.Line, got.Root} {
				assert.Contains(t, text, s)
			}
			for _, s := range strings.Split(strings.TrimSpace(got.Checkpoint), "\n") {
				assert.Contains(t, text, s)
			}
			if doc == "doc.go" {
				for i := 0; i < len(got.HashInput); i += 64 {
					assert.Contains(t, text, got.HashInput[i:min(i+64, len(got.HashInput))])
				}
				assert.Contains(t, text, got.Leaf0)
				assert.Contains(t, text, got.Leaf1)
			}
		})
	}
}

// TestPythonVerifier runs docs/verify_entry.py, the stand-alone checker for
// SOC engineers, on the worked example line and on a modified copy.
func TestPythonVerifier(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ex := computeWorkedExample(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ndjson")
	bad := filepath.Join(dir, "bad.ndjson")
	require.NoError(t, os.WriteFile(good, []byte(ex.Line+"\n"), 0o644))
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(ex.Line, `"alice"`, `"mallory"`, 1)+"\n"), 0o644))

	// A SIEM's re-serialization (other key order, spacing, escapes) still checks.
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(ex.Line), &m))
	pretty, err := json.MarshalIndent(m, "", " ")
	require.NoError(t, err)
	reser := filepath.Join(dir, "reser.ndjson")
	require.NoError(t, os.WriteFile(reser, []byte(strings.ReplaceAll(string(pretty), "\n", "")+"\n"), 0o644))

	script := filepath.Join("..", "docs", "verify_entry.py")
	for _, tc := range []struct {
		file, want string
		ok         bool
	}{{good, "hash OK", true}, {reser, "hash OK", true}, {bad, "hash MISMATCH", false}} {
		out, err := exec.Command(py, script, tc.file, ex.VerifierKey).CombinedOutput()
		t.Logf("%s: %s", filepath.Base(tc.file), out)
		assert.Contains(t, string(out), tc.want)
		if tc.ok {
			assert.NoError(t, err)
			if !strings.Contains(string(out), "skipped") {
				assert.Contains(t, string(out), "signature OK")
			}
		} else {
			assert.Error(t, err)
		}
	}
}
