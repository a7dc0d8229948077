// Command ingest measures webhook ingest of the real kt agent — 1 KB
// events, batches of 500, several concurrent clients, per-entry signing and
// fsync'd group commits — next to the limits that bound it, measured in the
// same run on the same machine: the raw Ed25519 signing rate (one core and
// all cores), the rate of the normalize + RFC 8785 path, the JCS rate of a
// generic canonicalizer, and the fsync'd append rate of the disk.
//
//	go run ./bench/ingest [-duration 20s] [-clients 4] [-batch 500]
//
// It prints a Markdown table for docs/BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/keeptrusts/kt/bench/internal/benchkit"
	"github.com/keeptrusts/kt/pipeline"
)

func main() {
	duration := flag.Duration("duration", 20*time.Second, "how long the ingest load runs")
	clients := flag.Int("clients", 4, "concurrent webhook clients")
	batch := flag.Int("batch", 500, "events per POST")
	limits := flag.Duration("limits", 3*time.Second, "how long each limit is measured")
	flag.StringVar(&commitInterval, "commit-interval", "10ms", "the agent's signing.commit_interval")
	flag.StringVar(&cpuProfile, "cpu-profile", "", "write the agent's CPU profile here")
	flag.Parse()
	if err := run(*duration, *clients, *batch, *limits); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

var template = benchkit.Template()

// event returns a ~1 KB audit event with a unique id, cheaply: the load
// generator shares the machine with the agent.
func event(i int64, client int) []byte {
	return bytes.Replace(template, []byte("__ID__"), fmt.Appendf(nil, "bench-%d-%012d", client, i), 2)
}

// idSlots returns the offsets of the 12-digit counters in an event.
func idSlots(ev []byte, client int) []int {
	prefix := fmt.Appendf(nil, "bench-%d-", client)
	var out []int
	for i := 0; ; {
		j := bytes.Index(ev[i:], prefix)
		if j < 0 {
			return out
		}
		out = append(out, i+j+len(prefix))
		i += j + len(prefix)
	}
}

var cpuProfile, commitInterval string

type result struct {
	name  string
	rate  float64
	notes string
}

func run(duration time.Duration, clients, batch int, limitDur time.Duration) error {
	cores := runtime.NumCPU()
	ev := event(1, 0)
	fmt.Fprintf(os.Stderr, "event size %d bytes, %d cores\n", len(ev), cores)
	var rows []result

	// Limits, each measured here and now. The two single-core signing
	// rates are taken in alternating rounds after a warm-up, so that CPU
	// frequency changes do not favour either.
	signRate(cores, time.Second)
	var sign1, ktSign1 float64
	const rounds = 6
	for r := 0; r < rounds; r++ {
		sign1 += signRate(1, limitDur/rounds) / rounds
		ktSign1 += benchkit.KTSignRate(limitDur/rounds) / rounds
	}
	signN := signRate(cores, limitDur)
	rows = append(rows, result{"Ed25519 sign, 1 core", sign1, "crypto/ed25519 over a 32-byte hash"},
		result{"kt entry signer, 1 core", ktSign1, "ledger.Signer.SignHash: the same signatures, R encoded once"},
		result{fmt.Sprintf("Ed25519 sign, %d goroutines", cores), signN, "crypto/ed25519, all cores"})
	norm, err := normalizeRate(ev, limitDur)
	if err != nil {
		return err
	}
	rows = append(rows, result{"normalize + redact + canonical body, 1 core", norm, "pipeline.Normalize: parse, schema, redaction, RFC 8785 encoding"})
	rows = append(rows, result{"generic JCS (gowebpki/jcs), 1 core", jcsRate(ev, limitDur), "jcs.Transform of the same event, for comparison"})
	dir, err := os.MkdirTemp(".", ".bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fs, err := fsyncRate(dir, len(ev)+300, batch, limitDur)
	if err != nil {
		return err
	}
	rows = append(rows, result{fmt.Sprintf("append + fdatasync, %d × %d B per sync", batch, len(ev)+300), fs, "raw disk limit of group commit"})
	fs1, err := fsyncRate(dir, len(ev)+300, 1, limitDur)
	if err != nil {
		return err
	}
	rows = append(rows, result{"append + fdatasync, 1 entry per sync", fs1, "what a shipper that syncs each record gets"})

	// The real agent.
	bin := filepath.Join(dir, "kt")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build kt: %w", err)
	}
	cfg := filepath.Join(dir, "kt.hcl")
	data := filepath.Join(dir, "data")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
data_dir = %q
signing {
  commit_interval = %q
}
source "webhook" "bench" {
  listen = "127.0.0.1:0"
}
query_api {
  listen = "127.0.0.1:0"
}
`, data, commitInterval)), 0o600)
	args := []string{"agent", "--config", cfg, "--log-format", "json"}
	if cpuProfile != "" {
		args = append(args, "--cpu-profile", cpuProfile)
	}
	agent := exec.Command(bin, args...)
	stderr, _ := agent.StderrPipe()
	if err := agent.Start(); err != nil {
		return err
	}
	defer agent.Process.Kill()
	url, err := waitAddr(stderr)
	if err != nil {
		return err
	}
	var cpuBefore, cpuAfter time.Duration
	cpuBefore = benchkit.ProcCPU(agent.Process.Pid)
	selfBefore := benchkit.ProcCPU(os.Getpid())
	idleBefore, totalBefore := machineIdle()
	var accepted atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One batch body, built once; each POST overwrites the
			// fixed-width counters in place, so ids stay unique and the
			// load generator costs little CPU next to the agent.
			var body []byte
			var slots []int
			for i := 0; i < batch; i++ {
				ev := event(0, c)
				for _, j := range idSlots(ev, c) {
					slots = append(slots, len(body)+j)
				}
				body = append(append(body, ev...), '\n')
			}
			var n int64
			for ctx.Err() == nil {
				for k, off := range slots {
					// two slots (id and request_id) per event
					copy(body[off:off+12], fmt.Appendf(nil, "%012d", n+int64(k/2)))
				}
				n += int64(batch)
				resp, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					continue
				}
				var r struct {
					Accepted int `json:"accepted"`
				}
				json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted && time.Since(start) <= duration {
					accepted.Add(int64(r.Accepted))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := min(time.Since(start), duration)
	cpuAfter = benchkit.ProcCPU(agent.Process.Pid)
	selfCPU := benchkit.ProcCPU(os.Getpid()) - selfBefore
	idleAfter, totalAfter := machineIdle()
	agent.Process.Signal(os.Interrupt)
	agent.Wait()
	ingest := float64(accepted.Load()) / elapsed.Seconds()
	cpuPer10k := (cpuAfter - cpuBefore).Seconds() / float64(accepted.Load()) * 10000
	rows = append(rows, result{fmt.Sprintf("kt webhook ingest, %d clients × %d events/POST", clients, batch), ingest,
		fmt.Sprintf("per-entry Ed25519, group-commit fdatasync, signed checkpoint per commit; agent CPU %.2f s per 10,000 events", cpuPer10k)})

	fmt.Printf("| measurement | events/s | notes |\n|---|---:|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %.0f | %s |\n", r.name, r.rate, r.notes)
	}
	target := 0.5 * sign1 * float64(cores)
	fmt.Printf("\nkt ingest / (1-core sign rate × %d cores) = %.0f / %.0f = **%.0f%%** (target ≥ 50%%, i.e. ≥ %.0f/s)\n",
		cores, ingest, sign1*float64(cores), 100*ingest/(sign1*float64(cores)), target)
	fmt.Printf("against kt's own signer: %.0f / (%.0f × %d) = **%.0f%%**\n", ingest, ktSign1, cores, 100*ingest/(ktSign1*float64(cores)))
	fmt.Printf("load generator on the same %d cores: %.2f CPU s per 10,000 events; machine idle during the load: %.0f%%\n",
		cores, selfCPU.Seconds()/float64(accepted.Load())*10000, 100*float64(idleAfter-idleBefore)/float64(totalAfter-totalBefore))
	return nil
}

func waitAddr(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m struct {
			Msg      string            `json:"msg"`
			Webhooks map[string]string `json:"webhooks"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "kt agent running" {
			go io.Copy(io.Discard, r)
			for _, a := range m.Webhooks {
				return "http://" + a + "/v1/events", nil
			}
		}
	}
	return "", fmt.Errorf("agent exited before it was ready")
}

// machineIdle returns idle and total jiffies of all CPUs from /proc/stat.
func machineIdle() (idle, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 1
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	for i, v := range f[1:] {
		var n int64
		fmt.Sscan(v, &n)
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total
}

func signRate(workers int, d time.Duration) float64 {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var total atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h [32]byte
			n := int64(0)
			for time.Now().Before(deadline) {
				for i := 0; i < 100; i++ {
					h[0]++
					ed25519.Sign(priv, h[:])
				}
				n += 100
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return float64(total.Load()) / d.Seconds()
}

func normalizeRate(ev []byte, d time.Duration) (float64, error) {
	o := pipeline.NewDefaultOptions()
	o.RedactKey = bytes.Repeat([]byte{7}, 32)
	n, err := pipeline.New(o)
	if err != nil {
		return 0, err
	}
	src := pipeline.Source{Kind: "webhook", Name: "bench"}
	now := time.Now()
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 100; i++ {
			if _, err := n.Normalize(ev, src, now, ""); err != nil {
				return 0, err
			}
		}
		count += 100
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

func jcsRate(ev []byte, d time.Duration) float64 {
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 100; i++ {
			jcs.Transform(ev)
		}
		count += 100
	}
	return float64(count) / time.Since(start).Seconds()
}

func fsyncRate(dir string, size, perSync int, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bytes.Repeat([]byte{'x'}, size*perSync)
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := fdatasync(f); err != nil {
			return 0, err
		}
		count += perSync
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
