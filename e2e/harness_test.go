// Package e2e holds the integration tests: they build the real kt binary,
// start `kt agent` on real files and real HTTP, and check what comes out.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var ktBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kt-e2e-bin")
	if err != nil {
		panic(err)
	}
	ktBin = filepath.Join(dir, "kt")
	build := exec.Command("go", "build", "-o", ktBin, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kt:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentProc is a running `kt agent` owned by a test.
type agentProc struct {
	t *testing.T
	*ktProc
}

// writeConfig writes a config for a data dir and returns its path. extra is
// added inside the webhook block.
func writeConfig(t *testing.T, dataDir, webhookExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
data_dir = %q
signing {
  checkpoint_interval = "1s"
}
source "webhook" "test" {
  listen = "127.0.0.1:0"
  %s
}
sink "file" "out" {
  path = %q
  heartbeat_interval = "1s"
}
query_api {
  listen = "127.0.0.1:0"
}
`, dataDir, webhookExtra, filepath.Join(dataDir, "out", "audit.ndjson"))
	p := filepath.Join(t.TempDir(), "kt.hcl")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

// startAgent starts kt agent and waits until it reports its addresses.
func startAgent(t *testing.T, config string, env ...string) *agentProc {
	t.Helper()
	p, err := launchKT(config, env...)
	require.NoError(t, err)
	a := &agentProc{t: t, ktProc: p}
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("kt agent exited before it was ready:\n%s", a.Logs())
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		t.Fatalf("kt agent not ready after 30s:\n%s", a.Logs())
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// Logs returns what the agent logged so far.
func (a *agentProc) Logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs.String()
}

// Stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) Stop() {
	a.t.Helper()
	require.NoError(a.t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		a.t.Fatalf("kt agent did not stop within 30s of SIGTERM:\n%s", a.Logs())
	}
	require.True(a.t, a.cmd.ProcessState.Success(), "kt agent exit: %v\n%s", a.cmd.ProcessState, a.Logs())
}

// Kill sends SIGKILL and waits for the process to be gone.
func (a *agentProc) Kill() {
	a.t.Helper()
	_ = a.cmd.Process.Kill()
	<-a.done
}

type postResult struct {
	Code       int
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
	Error      string `json:"error"`
	Errors     []struct {
		Line  int    `json:"line"`
		Field string `json:"field"`
		Error string `json:"error"`
	} `json:"errors"`
	Body string
}

func post(ctx context.Context, url string, body []byte, hdr map[string]string) (*postResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &postResult{Code: resp.StatusCode, Body: string(b)}
	_ = json.Unmarshal(b, r)
	return r, nil
}

// runKT runs a kt subcommand and returns its exit code, stdout and stderr.
func runKT(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(ktBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String(), errb.String()
}

// sampleLines returns the good sample events of the control plane.
func sampleLines(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "control-plane-audit.ndjson"))
	require.NoError(t, err)
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// readNDJSON returns the JSON objects of a file, one per line.
func readNDJSON(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []map[string]any
	for i, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %d", i+1)
		out = append(out, m)
	}
	return out
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
