// Command filesource measures the file source of the real kt agent end to
// end — a file of ~1 KB JSON-lines audit events read from its beginning,
// normalized, signed per entry, committed with fsync'd group commits and
// written out by the file sink — and, in the same run on the same file,
// rsyslog (Debian's package) reading it with imfile into a disk queue that
// syncs every record (queue.syncqueuefiles="on") and out through omfile.
//
//	go run ./bench/filesource [-lines 1000000] [-dir /var/tmp] [-timeout 20m] [-cpu-profile FILE]
//
// It prints a Markdown table for docs/BENCHMARKS.md. The output of kt is
// checked with `kt verify`; rsyslog's output is compared with the input
// byte for byte. rsyslog is installed with apt-get when it is missing; if it
// cannot run, the output says why and has no rsyslog figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keeptrusts/kt/bench/internal/benchkit"
)

const target = 40000 // events/s end to end, issue 3

func main() {
	lines := flag.Int("lines", 1000000, "events in the input file")
	dir := flag.String("dir", "/var/tmp", "where the temp dir goes (a disk, not tmpfs)")
	timeout := flag.Duration("timeout", 20*time.Minute, "longest each system may take to deliver all lines")
	noRsyslog := flag.Bool("no-rsyslog", false, "measure kt only")
	keep := flag.Bool("keep", false, "keep the temp dir (for debugging)")
	flag.StringVar(&cpuProfile, "cpu-profile", "", "write the kt agent's CPU profile here")
	flag.Parse()

	benchkit.Main("filesource", func() error { return run(*lines, *dir, *timeout, *noRsyslog, *keep) })
}

var cpuProfile string

// startChild starts cmd and makes sure it is killed on exit.
func startChild(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	p := cmd.Process
	benchkit.AtExit(func() { p.Kill() })
	return nil
}

type measurement struct {
	name     string
	ran      bool   // false: see why
	why      string // why there is no figure
	complete bool   // all lines delivered within the timeout
	elapsed  time.Duration
	lines    int // event lines in the output
	distinct int // distinct event ids among them
	cpu      time.Duration
	hwm      int64 // peak RSS, KiB
	verified string
	verifyOK bool
}

func (m measurement) rate() float64 { return float64(m.lines) / m.elapsed.Seconds() }

func run(n int, base string, timeout time.Duration, noRsyslog, keep bool) error {
	if n < 1 || n > 1e9 {
		return fmt.Errorf("bad -lines %d", n)
	}
	dir, err := os.MkdirTemp(base, "kt-bench-filesource-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		benchkit.AtExit(func() { os.RemoveAll(dir) })
	}
	fsType := filesystem(dir)
	if strings.HasPrefix(fsType, "tmpfs") {
		return fmt.Errorf("%s is on tmpfs: give -dir on a disk", dir)
	}

	input := filepath.Join(dir, "audit.log")
	t0 := time.Now()
	size, err := writeInput(input, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "input: %d lines, %d bytes (%.0f B/line) in %s on %s, written in %s\n",
		n, size, float64(size)/float64(n), dir, fsType, time.Since(t0).Round(time.Millisecond))

	sign1 := benchkit.KTSignRate(2 * time.Second)
	fmt.Fprintf(os.Stderr, "kt entry signer, 1 core: %.0f/s\n", sign1)

	ktm, err := runKT(dir, input, n, timeout)
	if err != nil {
		return fmt.Errorf("kt: %w", err)
	}
	// The agent's data is not needed any more; free the disk for rsyslog.
	os.RemoveAll(filepath.Join(dir, "kt"))

	rsm := measurement{name: "rsyslog"}
	if noRsyslog {
		rsm.why = "not run (-no-rsyslog)"
	} else {
		rsm = runRsyslog(dir, input, n, timeout)
	}

	// Report.
	cores := runtime.NumCPU()
	fmt.Printf("%d lines of %.0f bytes (%d MB) in one file on %s; %d cores\n\n", n, float64(size)/float64(n), size>>20, fsType, cores)
	fmt.Printf("| system | events/s | CPU s per 10,000 events | peak RSS | event lines out (distinct ids) | time | verified |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---|\n")
	for _, m := range []measurement{ktm, rsm} {
		if !m.ran {
			fmt.Printf("| %s | — | — | — | — | — | %s |\n", m.name, m.why)
			continue
		}
		rate := fmt.Sprintf("%.0f", m.rate())
		if !m.complete {
			rate = fmt.Sprintf("%.0f (incomplete: timed out)", m.rate())
		}
		fmt.Printf("| %s | %s | %.2f | %.0f MiB | %d (%d) | %.1f s | %s |\n", m.name, rate,
			m.cpu.Seconds()/float64(max(m.lines, 1))*10000, float64(m.hwm)/1024, m.lines, m.distinct, m.elapsed.Seconds(), m.verified)
	}
	fmt.Println()
	if rsm.ran && rsm.lines > 0 {
		fmt.Printf("kt / rsyslog = %.0f / %.0f = **%.1f×**\n", ktm.rate(), rsm.rate(), ktm.rate()/rsm.rate())
	} else {
		fmt.Printf("kt / rsyslog: no rsyslog figure (%s)\n", rsm.why)
	}
	met := "**met**"
	if !ktm.complete || !ktm.verifyOK || ktm.rate() < target {
		met = "**not met**"
	}
	fmt.Printf("target ≥ %d events/s end to end for kt: %s (%.0f/s)\n", target, met, ktm.rate())
	fmt.Printf("signing limit in this run: kt entry signer %.0f/s on 1 core, × %d cores = %.0f/s; kt end to end = %.0f%% of it\n",
		sign1, cores, sign1*float64(cores), 100*ktm.rate()/(sign1*float64(cores)))
	if !ktm.verifyOK {
		return errors.New("kt verify failed")
	}
	return nil
}

// filesystem names the filesystem of dir ("ext4 on /dev/vda").
func filesystem(dir string) string {
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", dir).Output()
	if err == nil {
		if f := strings.Fields(string(out)); len(f) == 2 {
			return f[0] + " on " + f[1]
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("fs type 0x%x", st.Type)
}

const idPrefix = "fsbench-"

// lineMaker builds input line i: the template's line, built once, with its
// 12-digit counters overwritten.
type lineMaker struct {
	line  []byte
	slots []int
}

func newLineMaker() *lineMaker {
	l := &lineMaker{line: append(bytes.ReplaceAll(benchkit.Template(), []byte("__ID__"), []byte(idPrefix+"000000000000")), '\n')}
	for i := 0; ; {
		j := bytes.Index(l.line[i:], []byte(idPrefix))
		if j < 0 {
			return l
		}
		l.slots = append(l.slots, i+j+len(idPrefix))
		i += j + len(idPrefix)
	}
}

func (l *lineMaker) make(i int) []byte {
	var digits [12]byte
	for k := 11; k >= 0; k-- {
		digits[k] = byte('0' + i%10)
		i /= 10
	}
	for _, s := range l.slots {
		copy(l.line[s:s+12], digits[:])
	}
	return l.line
}

// writeInput writes n events, one a line, and fsyncs the file.
func writeInput(path string, n int) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	lm := newLineMaker()
	for i := 0; i < n; i++ {
		if _, err := w.Write(lm.make(i)); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return int64(n) * int64(len(lm.line)), nil
}

// countEvents counts the lines of path that carry a bench event id and
// the distinct ids among them.
func countEvents(path string, n int) (lines, distinct int, err error) {
	c, err := check(path, n, false)
	return c.lines, c.distinct, err
}

type checked struct {
	lines, distinct int
	exact           int // lines byte for byte equal to the input line of their id
	late            int // lines after a line with a higher id
}

// check reads path and counts its event lines, their distinct ids, and,
// when raw, the lines equal to the input line of their id and the lines
// out of input order.
func check(path string, n int, raw bool) (c checked, err error) {
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	lm := newLineMaker()
	maxID := -1
	seen := make([]bool, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	p := []byte(idPrefix)
	for sc.Scan() {
		b := sc.Bytes()
		j := bytes.Index(b, p)
		if j < 0 || j+len(p)+12 > len(b) {
			continue
		}
		c.lines++
		id, err := strconv.Atoi(string(b[j+len(p) : j+len(p)+12]))
		if err != nil || id < 0 || id >= n {
			continue
		}
		if !seen[id] {
			seen[id] = true
			c.distinct++
		}
		if raw {
			if bytes.Equal(append(b, '\n'), lm.make(id)) {
				c.exact++
			}
			if id < maxID {
				c.late++
			}
			maxID = max(maxID, id)
		}
	}
	return c, sc.Err()
}

// ---- kt ----

func runKT(dir, input string, n int, timeout time.Duration) (measurement, error) {
	m := measurement{name: "kt (file source → ledger → file sink)", ran: true}
	bin := filepath.Join(dir, "kt-bin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return m, fmt.Errorf("build kt: %w", err)
	}
	ktDir := filepath.Join(dir, "kt")
	os.MkdirAll(ktDir, 0o700)
	data := filepath.Join(ktDir, "data")
	out := filepath.Join(ktDir, "out.ndjson")
	cfg := filepath.Join(ktDir, "kt.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
data_dir = %q
source "file" "bench" {
  paths    = [%q]
  start_at = "beginning"
}
sink "file" "out" {
  path = %q
}
query_api {
  listen = "127.0.0.1:0"
}
`, data, input, out)), 0o600); err != nil {
		return m, err
	}
	logPath := filepath.Join(ktDir, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return m, err
	}
	defer logFile.Close()
	args := []string{"agent", "--config", cfg, "--log-format", "json"}
	if cpuProfile != "" {
		args = append(args, "--cpu-profile", cpuProfile)
	}
	agent := exec.Command(bin, args...)
	stderr, err := agent.StderrPipe()
	if err != nil {
		return m, err
	}
	start := time.Now()
	if err := startChild(agent); err != nil {
		return m, err
	}
	exited := make(chan error, 1)
	addr, err := waitQueryAddr(stderr, logFile)
	if err != nil {
		agent.Process.Kill()
		agent.Wait()
		return m, fmt.Errorf("%w\n%s", err, benchkit.Tail(logPath, 20))
	}
	go func() { exited <- agent.Wait() }()
	pid := agent.Process.Pid
	fmt.Fprintf(os.Stderr, "kt agent pid %d, status at %s\n", pid, addr)

	deadline := start.Add(timeout)
	lastLog := time.Now()
	var emitted, dead, lag float64
	for {
		select {
		case err := <-exited:
			return m, fmt.Errorf("agent exited early: %v\n%s", err, benchkit.Tail(logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
		st, err := status(addr)
		if err == nil {
			emitted, dead, lag = -1, -1, -1
			for _, src := range st.Sources {
				if src.Name == "bench" {
					emitted, dead = float64(src.Accepted), float64(src.DeadLettered)
				}
			}
			for _, sk := range st.Sinks {
				if sk.Name == "out" {
					lag = float64(sk.LagEntries)
				}
			}
			if emitted < 0 || lag < 0 {
				return m, fmt.Errorf("/v1/status has no source \"bench\" or sink \"out\"")
			}
			if int(emitted+dead) >= n && lag == 0 {
				m.complete = true
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			fmt.Fprintf(os.Stderr, "kt: %.0f s, %.0f lines in the ledger, sink lag %.0f\n", time.Since(start).Seconds(), emitted, lag)
		}
	}
	m.elapsed = time.Since(start)
	m.cpu = benchkit.ProcCPU(pid)
	m.hwm = procHWM(pid)
	if dead > 0 {
		fmt.Fprintf(os.Stderr, "kt: %.0f lines dead-lettered\n", dead)
	}
	fmt.Fprintf(os.Stderr, "kt: done=%v in %s, CPU %s, VmHWM %d KiB\n", m.complete, m.elapsed.Round(time.Millisecond), m.cpu, m.hwm)

	agent.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		agent.Process.Kill()
		<-exited
		return m, fmt.Errorf("agent did not stop within 60 s of SIGINT\n%s", benchkit.Tail(logPath, 20))
	}

	m.lines, m.distinct, err = countEvents(out, n)
	if err != nil {
		return m, err
	}
	args = []string{"verify", "-q"}
	if pub := filepath.Join(data, "signing.key.pub"); fileExists(pub) {
		args = append(args, "--trust", pub)
	}
	args = append(args, out)
	vstart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	vout, verr := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(verr, &ee) {
		code = ee.ExitCode()
	} else if verr != nil {
		return m, fmt.Errorf("kt verify: %w", verr)
	}
	m.verifyOK = code == 0
	m.verified = fmt.Sprintf("`kt verify` exit %d", code)
	fmt.Fprintf(os.Stderr, "kt verify %s: exit %d in %s\n%s", strings.Join(args[1:], " "), code, time.Since(vstart).Round(time.Millisecond), firstLines(vout, 10))
	return m, nil
}

func waitQueryAddr(r io.Reader, log io.Writer) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		log.Write(append(sc.Bytes(), '\n'))
		var m struct {
			Msg      string `json:"msg"`
			QueryAPI string `json:"query_api"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "kt agent running" {
			go io.Copy(log, r)
			if m.QueryAPI == "" {
				return "", errors.New("agent runs without a query API address")
			}
			return "http://" + m.QueryAPI + "/v1/status", nil
		}
	}
	return "", errors.New("agent exited before it was ready")
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// agentStatus is the part of GET /v1/status the bench reads (polled rather
// than /metrics, whose Go and process collectors cost the agent CPU).
type agentStatus struct {
	Sources []struct {
		Name         string `json:"name"`
		Accepted     uint64 `json:"accepted"`
		DeadLettered uint64 `json:"dead_lettered"`
	} `json:"sources"`
	Sinks []struct {
		Name       string `json:"name"`
		LagEntries uint64 `json:"lag_entries"`
	} `json:"sinks"`
}

func status(url string) (agentStatus, error) {
	var st agentStatus
	resp, err := httpClient.Get(url)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// ---- rsyslog ----

const rsyslogConf = `# written by bench/filesource: a private rsyslogd instance, not the system one
global(
  workDirectory="{{WORK}}"
  maxMessageSize="64k"
)
module(load="imfile" mode="inotify")

# the audit file, read from its beginning (no state file yet), one line a message
input(type="imfile" File="{{INPUT}}" Tag="audit" ruleset="bench"
      readMode="0" freshStartTail="off")

template(name="raw" type="string" string="%msg%\n")

ruleset(name="bench") {
  action(type="omfile" file="{{OUTPUT}}" template="raw"
         queue.type="Disk"
         queue.filename="benchq"
         queue.syncqueuefiles="on"
         queue.maxdiskspace="20g"
         queue.saveonshutdown="on")
}

# rsyslog's own messages go to a log of their own, not into the output
*.* action(type="omfile" file="{{INTERNAL}}")
`

func runRsyslog(dir, input string, n int, timeout time.Duration) measurement {
	m := measurement{name: "rsyslog (imfile → disk queue, syncqueuefiles=on → omfile)"}
	bin, err := findRsyslogd()
	if err != nil {
		m.why = err.Error()
		fmt.Fprintln(os.Stderr, "rsyslog:", m.why)
		return m
	}
	if v, err := exec.Command(bin, "-v").Output(); err == nil {
		fmt.Fprintf(os.Stderr, "rsyslog: %s\n", strings.SplitN(string(v), "\n", 2)[0])
		m.name = fmt.Sprintf("rsyslog %s (imfile → disk queue, syncqueuefiles=on → omfile)", strings.Fields(string(v))[1])
	}
	rsDir := filepath.Join(dir, "rsyslog")
	work := filepath.Join(rsDir, "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		m.why = err.Error()
		return m
	}
	out := filepath.Join(rsDir, "out.log")
	internal := filepath.Join(rsDir, "rsyslogd-internal.log")
	conf := filepath.Join(rsDir, "rsyslog.conf")
	text := strings.NewReplacer("{{WORK}}", work, "{{INPUT}}", input, "{{OUTPUT}}", out, "{{INTERNAL}}", internal).Replace(rsyslogConf)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		m.why = err.Error()
		return m
	}
	if vout, err := exec.Command(bin, "-N1", "-f", conf).CombinedOutput(); err != nil {
		m.why = fmt.Sprintf("rsyslogd -N1 rejected the config: %v: %s", err, strings.TrimSpace(string(vout)))
		fmt.Fprintln(os.Stderr, "rsyslog:", m.why)
		return m
	}
	pidFile := filepath.Join(rsDir, "rsyslogd.pid")
	logPath := filepath.Join(rsDir, "rsyslogd.stderr")
	logFile, _ := os.Create(logPath)
	defer logFile.Close()
	cmd := exec.Command(bin, "-n", "-f", conf, "-i", pidFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := startChild(cmd); err != nil {
		m.why = fmt.Sprintf("rsyslogd did not start: %v", err)
		return m
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	fmt.Fprintf(os.Stderr, "rsyslogd pid %d\n", pid)

	// Count output lines as they arrive, reading only what is new.
	var counted int
	var off int64
	buf := make([]byte, 4<<20)
	count := func() {
		f, err := os.Open(out)
		if err != nil {
			return
		}
		defer f.Close()
		for {
			k, err := f.ReadAt(buf, off)
			counted += bytes.Count(buf[:k], []byte{'\n'})
			off += int64(k)
			if err != nil || k == 0 {
				return
			}
		}
	}
	deadline := start.Add(timeout)
	lastLog := time.Now()
	m.ran = true
	for {
		select {
		case err := <-exited:
			m.ran = false
			m.why = fmt.Sprintf("rsyslogd exited after %d of %d lines: %v: %s %s", counted, n, err, benchkit.Tail(logPath, 10), benchkit.Tail(internal, 10))
			fmt.Fprintln(os.Stderr, "rsyslog:", m.why)
			return m
		case <-time.After(50 * time.Millisecond):
		}
		count()
		if counted >= n {
			m.complete = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			fmt.Fprintf(os.Stderr, "rsyslog: %.0f s, %d lines out\n", time.Since(start).Seconds(), counted)
		}
	}
	m.elapsed = time.Since(start)
	m.cpu = benchkit.ProcCPU(pid)
	m.hwm = procHWM(pid)
	fmt.Fprintf(os.Stderr, "rsyslog: done=%v in %s, CPU %s, VmHWM %d KiB\n", m.complete, m.elapsed.Round(time.Millisecond), m.cpu, m.hwm)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	if s := benchkit.Tail(internal, 5); strings.TrimSpace(s) != "" {
		fmt.Fprintf(os.Stderr, "rsyslogd's own messages (last 5):\n%s", s)
	}
	c, err := check(out, n, true)
	if err != nil {
		m.verified = "output unreadable: " + err.Error()
		return m
	}
	m.lines, m.distinct = c.lines, c.distinct
	if !m.complete {
		m.lines = counted
		m.verified = fmt.Sprintf("incomplete: %d of %d lines in %s", counted, n, timeout)
		return m
	}
	m.verified = fmt.Sprintf("%d of %d lines byte for byte equal to their input line", c.exact, c.lines)
	if c.late > 0 {
		m.verified += fmt.Sprintf("; %d lines out of input order", c.late)
	} else {
		m.verified += ", in input order"
	}
	return m
}

// findRsyslogd returns rsyslogd's path, installing Debian's package first
// when it is missing.
func findRsyslogd() (string, error) {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if fileExists(p) {
			return p, nil
		}
	}
	fmt.Fprintln(os.Stderr, "rsyslog: installing Debian's package")
	install := func() ([]byte, error) {
		c := exec.Command("apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "rsyslog")
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return c.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		upd := exec.Command("apt-get", "update", "-qq", "-o", "DPkg::Lock::Timeout=300")
		if uout, uerr := upd.CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("rsyslog missing and apt-get update failed: %v: %s", uerr, lastLine(uout))
		}
		if out, err = install(); err != nil {
			return "", fmt.Errorf("rsyslog missing and apt-get install rsyslog failed: %v: %s", err, lastLine(out))
		}
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if fileExists(p) {
			return p, nil
		}
	}
	return "", errors.New("rsyslog installed but no rsyslogd binary found")
}

// ---- helpers ----

// procHWM returns a process's peak resident set size in KiB.
func procHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func firstLines(b []byte, k int) string {
	ls := strings.SplitN(string(b), "\n", k+1)
	if len(ls) > k {
		ls = ls[:k]
	}
	s := strings.Join(ls, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func lastLine(b []byte) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	return ls[len(ls)-1]
}
