package dirlock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOneHolderAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kt.lock")
	l, err := Acquire(path)
	require.NoError(t, err)
	// flock is per open file: a second Acquire, even in this process, fails.
	_, err = Acquire(path)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))
	require.NoError(t, l.Release())
	require.NoError(t, l.Release(), "twice")
	l, err = Acquire(path)
	require.NoError(t, err, "free again after Release")
	require.NoError(t, l.Release())
}

func TestAnotherProcessIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kt.lock")
	// flock(1) from util-linux holds the lock in another process.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) is not installed")
	}
	cmd := exec.Command("flock", "-x", path, "sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // sleep inherits the lock: kill both
	require.NoError(t, cmd.Start())
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	defer kill()
	require.Eventually(t, func() bool {
		l, err := Acquire(path)
		if err == nil {
			l.Release()
			return false
		}
		return assert.ErrorIs(t, err, ErrLocked)
	}, 5e9, 1e7)
	kill()
	// flock(1) is reaped at once; its child sleep, killed with it, may
	// close the inherited lock a moment later.
	var err error
	require.Eventually(t, func() bool {
		var l *Lock
		if l, err = Acquire(path); err != nil {
			return false
		}
		l.Release()
		return true
	}, 5e9, 1e7, "the kernel dropped the lock of the killed processes: %v", err)
}
