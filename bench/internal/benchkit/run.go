package benchkit

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// cleanups run in reverse order on exit, on error and on SIGINT/SIGTERM.
var (
	cleanMu  sync.Mutex
	cleanups []func()
)

// AtExit registers f to run when the benchmark ends, however it ends:
// stopping the processes and removing the files it made.
func AtExit(f func()) {
	cleanMu.Lock()
	cleanups = append(cleanups, f)
	cleanMu.Unlock()
}

func cleanup() {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// Main runs a benchmark command: run, then the AtExit functions (also on
// SIGINT and SIGTERM), and exit 1 with the error prefixed by name.
func Main(name string, run func() error) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintln(os.Stderr, name+": got", s, "- cleaning up")
		cleanup()
		os.Exit(1)
	}()
	err := run()
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Tail returns the last k lines of the file at path ("" if unreadable).
func Tail(path string, k int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > k {
		ls = ls[len(ls)-k:]
	}
	return strings.Join(ls, "\n") + "\n"
}
