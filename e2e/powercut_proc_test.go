package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keeptrusts/kt/internal/crashfs"
)

// ktProc is a running `kt agent` process: its log, and the addresses it
// logged once it was ready. startAgent and the power-cut rig start it.
type ktProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	ready   chan struct{}
	webhook string // POST URL, set before ready is closed
	api     string // query API base URL
	mu      sync.Mutex
	logs    bytes.Buffer
}

// launchKT starts `kt agent --config config` with env added to the
// environment; ready is closed once it logs that it runs, done when it
// exits.
func launchKT(config string, env ...string) (*ktProc, error) {
	a := &ktProc{done: make(chan struct{}), ready: make(chan struct{})}
	a.cmd = exec.Command(ktBin, "agent", "--config", config, "--log-format", "json")
	a.cmd.Env = append(os.Environ(), env...)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Bytes()
			a.mu.Lock()
			a.logs.Write(line)
			a.logs.WriteByte('\n')
			a.mu.Unlock()
			var m struct {
				Msg      string            `json:"msg"`
				Webhooks map[string]string `json:"webhooks"`
				QueryAPI string            `json:"query_api"`
			}
			if json.Unmarshal(line, &m) == nil && m.Msg == "kt agent running" {
				for _, addr := range m.Webhooks {
					a.webhook = "http://" + addr + "/v1/events"
				}
				a.api = "http://" + m.QueryAPI
				once.Do(func() { close(a.ready) })
			}
		}
		_ = a.cmd.Wait()
	}()
	return a, nil
}

// errCut says the filesystem froze before the agent was ready.
var errCut = errors.New("the filesystem froze")

// waitReady waits until the agent runs, exits, or cut is closed.
func (a *ktProc) waitReady(cut <-chan struct{}) error {
	select {
	case <-a.ready:
		return nil
	case <-a.done:
		return fmt.Errorf("kt agent exited before it was ready (%v):\n%s", a.cmd.ProcessState, a.tail(15))
	case <-cut:
		return errCut
	case <-time.After(60 * time.Second):
		return fmt.Errorf("kt agent not ready after 60s:\n%s", a.tail(15))
	}
}

// tail returns the last n lines the agent logged.
func (a *ktProc) tail(n int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	lines := strings.Split(strings.TrimRight(a.logs.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// kill is the power going out: SIGKILL, then the requests the frozen
// filesystem holds are failed so that the process can exit.
func (a *ktProc) kill(f *crashfs.FS) error {
	_ = a.cmd.Process.Kill()
	f.ReleaseBlocked()
	select {
	case <-a.done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("kt agent still running 30s after SIGKILL")
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *ktProc) stop() error {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(60 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		return fmt.Errorf("kt agent did not stop within 60s of SIGTERM:\n%s", a.tail(15))
	}
	if !a.cmd.ProcessState.Success() {
		return fmt.Errorf("kt agent exit after SIGTERM: %v:\n%s", a.cmd.ProcessState, a.tail(15))
	}
	return nil
}
