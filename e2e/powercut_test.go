package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/crashfs"
)

// TestIntegrationPowerCut cuts the power under a running agent, again and
// again, on crashfs (internal/crashfs): a FUSE filesystem that keeps only
// what was made durable (fsync'd data, names whose directory was fsync'd;
// or, under the journal rule, every name change before any fsync) and
// drops the rest or leaves it as zero pages. It cuts at each step of the
// first start of a fresh data dir, of a file-source position save and of a
// ledger segment roll, and at random moments under load. After each cut,
// before the agent restarts, `kt verify --data-dir` must find no tamper
// evidence, every acknowledged webhook event must be in the ledger, and the
// saved file position must not be ahead of the ledger; the agent must start
// again, take events, and verify again; at the end every acknowledged event
// and every line of the tailed file is in the ledger exactly once and the
// file sink's output verifies.
//
// Knobs: KT_POWERCUT_CUTS (random cuts, default 24), KT_POWERCUT_SEED,
// KT_POWERCUT_STEP_MODELS=all (each step under every model instead of one
// model per step, in turn), KT_POWERCUT_STEPS=all (the second op of each
// kind on each file of the first start too, and every op of a segment roll,
// not only those on the segment, the hash store and the checkpoint).
// Needs root and /dev/fuse.
func TestIntegrationPowerCut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("power cut: mounting the FUSE filesystem with mount(2) needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("power cut: no /dev/fuse: %v", err)
	}
	seed := envUint(t, "KT_POWERCUT_SEED", uint64(time.Now().UnixNano()))
	t.Logf("power cut: seed %d (KT_POWERCUT_SEED)", seed)
	p := &powerCut{seed: seed, rng: rand.New(rand.NewPCG(seed, 0)), log: &findings{}}
	p.cuts = int(envUint(t, "KT_POWERCUT_CUTS", 24))
	p.allModels = os.Getenv("KT_POWERCUT_STEP_MODELS") == "all"
	p.allSteps = os.Getenv("KT_POWERCUT_STEPS") == "all"

	t.Run("FirstStart", p.firstStart)
	t.Run("PositionSave", p.positionSave)
	t.Run("SegmentRoll", p.segmentRoll)
	t.Run("Random", p.random)

	if f := p.log.all(); len(f) > 0 {
		t.Logf("power cut: %d finding(s):\n%s", len(f), strings.Join(f, "\n"))
	}
}

func envUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, name)
	return v
}

// cutModels are the power-cut models the test applies, in turn.
var cutModels = []crashfs.Model{
	{Names: crashfs.NamesPOSIX, Data: crashfs.DataDrop},
	{Names: crashfs.NamesJournal, Data: crashfs.DataZeroPages},
	{Names: crashfs.NamesJournal, Data: crashfs.DataDrop},
	{Names: crashfs.NamesPOSIX, Data: crashfs.DataZeroPages},
}

type powerCut struct {
	seed      uint64
	rng       *rand.Rand
	cuts      int
	allModels bool
	allSteps  bool
	log       *findings
	n         int // models handed out
}

// model returns the next model, with a fresh seed for its random choices.
func (p *powerCut) model() crashfs.Model {
	m := cutModels[p.n%len(cutModels)]
	p.n++
	m.Seed = p.rng.Uint64()
	return m
}

// modelsForStep returns the models a step cut runs under.
func (p *powerCut) modelsForStep() []crashfs.Model {
	if !p.allModels {
		return []crashfs.Model{p.model()}
	}
	out := make([]crashfs.Model, len(cutModels))
	for i := range out {
		out[i] = p.model()
	}
	return out
}

// stepRules turns the ops of a trace into cut rules: from the first op
// matching after (all of the trace if nil), each op that keep selects,
// named by its kind, its path pattern and its count from there; at most
// perPattern ops of one kind and pattern.
func stepRules(trace []crashfs.Op, after *crashfs.Match, keep func(crashfs.Op) bool, perPattern int) []crashfs.Rule {
	start := 0
	if after != nil {
		start = -1
		for i, op := range trace {
			if (after.Kind == "" || op.Kind == after.Kind) && matchGlob(after.Glob, op) {
				start = i
				break
			}
		}
		if start < 0 {
			return nil
		}
	}
	var rules []crashfs.Rule
	seen := map[crashfs.Match]int{}
	for i := start; i < len(trace); i++ {
		op := trace[i]
		if !keep(op) {
			continue
		}
		at := crashfs.Match{Kind: op.Kind, Glob: op.Pattern()}
		n := 0
		for _, o := range trace[start : i+1] {
			if o.Kind == at.Kind && matchGlob(at.Glob, o) {
				n++
			}
		}
		if seen[at] >= perPattern || n <= seen[at] {
			continue
		}
		seen[at]++
		rules = append(rules, crashfs.Rule{After: after, At: at, N: n})
	}
	return rules
}

func matchGlob(glob string, op crashfs.Op) bool {
	if ok, _ := filepath.Match(glob, op.Path); ok {
		return true
	}
	ok, _ := filepath.Match(glob, op.From)
	return op.From != "" && ok
}

// stepName names the subtest of step i under model m, e.g. "03-posix-drop".
func stepName(i int, m crashfs.Model) string {
	return fmt.Sprintf("%02d-%s-%s", i, m.Names, m.Data)
}

// runStep cuts at rule on a rig, checks, recovers and finishes.
func (p *powerCut) runStep(t *testing.T, r *pcRig, rule crashfs.Rule, m crashfs.Model) {
	r.fs.SetRule(&rule)
	if err := r.start(); err != nil && err != errCut {
		r.fail(rule.String(), "the agent does not start: %v", err)
		return
	}
	r.startLoad()
	select {
	case <-r.fs.Cut():
	case <-time.After(30 * time.Second):
		t.Logf("power cut %s: %s not reached within 30s; no cut", r.name, rule)
		return
	}
	where := r.cut(m)
	t.Logf("power cut %s: %s", r.name, where)
	r.checkCut(where)
	if !r.restart(where, false) {
		return
	}
	r.finish(where)
}

// firstStart cuts at each step of the first start of a fresh data dir:
// directories, keys, the genesis entry, the first commits, the first
// position save and the first sink write.
func (p *powerCut) firstStart(t *testing.T) {
	opts := pcOptions{source: true, sink: true}
	dry := newPCRig(t, "fs-dry", nil, opts, p.log)
	require.NoError(t, dry.start())
	dry.startLoad()
	pcWaitFor(t, "the first acknowledged events, position save and sink write", func() bool {
		_, errP := os.Stat(filepath.Join(dry.dataDir, "sources", "file", "tail", "positions.json"))
		fi, errS := os.Stat(dry.sinkOut)
		return dry.hook.batches.Load() >= 1 && errP == nil && errS == nil && fi.Size() > 0
	})
	trace := dry.fs.Trace()
	dry.finish("first start without a cut")
	perPattern := 1
	if p.allSteps {
		perPattern = 2
	}
	rules := stepRules(trace, nil, func(crashfs.Op) bool { return true }, perPattern)
	t.Logf("power cut: the first start made %d ops; cutting at %d of them", len(trace), len(rules))
	for i, rule := range rules {
		for _, m := range p.modelsForStep() {
			t.Run(stepName(i, m), func(t *testing.T) {
				p.runStep(t, newPCRig(t, fmt.Sprintf("fs%02d", i), nil, opts, p.log), rule, m)
			})
		}
	}
}

// positionSave cuts at each step of a file-source position save: temp
// file, write, fsync, rename, directory fsync.
func (p *powerCut) positionSave(t *testing.T) {
	opts := pcOptions{source: true}
	base := newPCRig(t, "pos", nil, opts, p.log)
	require.NoError(t, base.start())
	require.NoError(t, base.writer.write(20))
	lines := base.writer.all()
	pcWaitFor(t, "20 lines in the ledger", func() bool {
		counts, _, err := ledgerIDs(base.dataDir)
		n, _ := missing(lines, counts)
		return err == nil && n == 0
	})
	base.template(t)

	trigger := &crashfs.Match{Kind: crashfs.OpCreate, Glob: "kt/sources/file/tail/.positions.json.tmp*"}
	dry := base.clone(t, "pos-dry")
	require.NoError(t, dry.start())
	dry.startLoad()
	pcWaitFor(t, "two position saves", func() bool {
		n := 0
		for _, op := range dry.fs.Trace() {
			if op.Kind == crashfs.OpRename && op.Path == "kt/sources/file/tail/positions.json" {
				n++
			}
		}
		return n >= 2
	})
	trace := dry.fs.Trace()
	dry.finish("position save without a cut")
	dry.close(t)
	rules := stepRules(trace, trigger, func(op crashfs.Op) bool {
		return strings.HasPrefix(op.Path, "kt/sources/file/tail")
	}, 1)
	require.NotEmpty(t, rules, "a position save in the trace")
	for i, rule := range rules {
		for _, m := range p.modelsForStep() {
			t.Run(stepName(i, m), func(t *testing.T) {
				r := base.clone(t, fmt.Sprintf("pos%02d", i))
				p.runStep(t, r, rule, m)
				r.close(t)
			})
		}
	}
}

// segmentBytes is the ledger's segment size in the power-cut configs
// (ledger.segment_bytes): small, so that the load rolls segments often and
// the roll test fills one quickly.
const segmentBytes = 256 << 10

// segmentRoll fills a segment to just below its size, then cuts at each
// step of the roll to the next one: create, header write, fsync, directory
// fsync, first commit.
func (p *powerCut) segmentRoll(t *testing.T) {
	opts := pcOptions{}
	base := newPCRig(t, "roll", nil, opts, p.log)
	require.NoError(t, base.start())
	base.fillSegment(t, segmentBytes-48<<10)
	base.template(t)

	trigger := &crashfs.Match{Kind: crashfs.OpCreate, Glob: "kt/ledger/segments/*.seg"}
	dry := base.clone(t, "roll-dry")
	require.NoError(t, dry.start())
	dry.startLoad()
	pcWaitFor(t, "a second segment and two commits into it", func() bool {
		n := 0
		for _, op := range dry.fs.Trace() {
			if op.Kind == crashfs.OpCreate && strings.HasPrefix(op.Path, "kt/ledger/segments/") {
				n = 1
			} else if n > 0 && op.Kind == crashfs.OpFdatasync && strings.HasPrefix(op.Path, "kt/ledger/segments/") {
				n++
			}
		}
		return n >= 3
	})
	trace := dry.fs.Trace()
	dry.finish("segment roll without a cut")
	dry.close(t)
	keep := func(op crashfs.Op) bool {
		return p.allSteps || strings.HasPrefix(op.Path, "kt/ledger/") && !strings.Contains(op.Path, ".tmp")
	}
	rules := stepRules(trace, trigger, keep, 2)
	if !p.allSteps {
		// One cut per kind and file, but two segment writes: its header
		// and the first commit into it.
		rules = slices.DeleteFunc(rules, func(r crashfs.Rule) bool {
			return r.N > 1 && !(r.At.Kind == crashfs.OpWrite && strings.HasSuffix(r.At.Glob, ".seg"))
		})
	}
	require.NotEmpty(t, rules, "a segment roll in the trace")
	for i, rule := range rules {
		for _, m := range p.modelsForStep() {
			t.Run(stepName(i, m), func(t *testing.T) {
				r := base.clone(t, fmt.Sprintf("roll%02d", i))
				p.runStep(t, r, rule, m)
				r.close(t)
			})
		}
	}
}

// random cuts at random moments under load, up to 8 times on one data
// dir, then starts over on a fresh one. A data dir is also given up at the
// first cut with a finding: what comes after would repeat it.
func (p *powerCut) random(t *testing.T) {
	const perRound = 8
	opts := pcOptions{source: true, sink: true}
	for round, done := 0, 0; done < p.cuts; round++ {
		n, before := min(perRound, p.cuts-done), done
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			r := newPCRig(t, fmt.Sprintf("r%d", round), nil, opts, p.log)
			require.NoError(t, r.start())
			r.startLoad()
			where := "no cut"
			for c := range n {
				time.Sleep(time.Duration(200+p.rng.IntN(1000)) * time.Millisecond)
				m := p.model()
				done++
				where = fmt.Sprintf("cut %d/%d %s", c+1, n, r.cut(m))
				t.Logf("power cut %s: %s", r.name, where)
				r.checkCut(where)
				if r.failed || !r.restart(where, true) {
					t.Logf("power cut %s: the data dir is given up after its first finding", r.name)
					return
				}
			}
			r.finish("after " + where)
		})
		if done == before {
			return // the round failed before its first cut
		}
	}
}

// pcWaitFor polls cond for up to 60s.
func pcWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("power cut: no %s within 60s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// template stops the agent cleanly, unmounts and makes everything durable
// (as a clean shutdown and time do), so that clones start from it.
func (r *pcRig) template(t *testing.T) {
	t.Helper()
	require.NoError(t, r.agent.stop())
	r.agent = nil
	require.NoError(t, r.m.Unmount())
	r.m = nil
	r.fs.Settle()
}

// clone returns a rig on a copy of r's (unmounted) filesystem, at r's
// paths, with r's source file and acknowledged events.
func (r *pcRig) clone(t *testing.T, name string) *pcRig {
	t.Helper()
	c := &pcRig{t: t, name: name, opts: r.opts, fs: r.fs.Clone(), mnt: r.mnt, dataDir: r.dataDir,
		srcFile: r.srcFile, sinkOut: r.sinkOut, config: r.config, pubFile: r.pubFile, log: r.log,
		lost: map[string]bool{}, seen: map[string]bool{}}
	c.hook = newHookLoad("pch-" + name)
	maps.Copy(c.hook.acked, r.hook.acked)
	c.writer = newLineWriter(r.srcFile, r.writer.prefix)
	c.writer.ids, c.writer.ends = slices.Clone(r.writer.ids), slices.Clone(r.writer.ends)
	if r.opts.source {
		// Back to the file as the template's agent last read it.
		size := int64(0)
		if n := len(r.writer.ends); n > 0 {
			size = r.writer.ends[n-1]
		}
		require.NoError(t, os.Truncate(r.srcFile, size))
	}
	c.mount()
	t.Cleanup(func() { c.close(t) })
	return c
}

// close stops the load, kills the agent, if any, and unmounts; it may be
// called twice.
func (r *pcRig) close(t *testing.T) {
	r.hook.stop()
	r.writer.stop()
	if r.agent != nil {
		_ = r.agent.kill(r.fs)
		r.agent = nil
	}
	if r.m != nil {
		if err := r.m.Unmount(); err != nil {
			t.Errorf("power cut %s: %v", r.name, err)
		}
		r.m = nil
	}
}

// fillSegment posts large events until the newest segment is at least
// target bytes long, without reaching segmentBytes.
func (r *pcRig) fillSegment(t *testing.T, target int64) {
	t.Helper()
	segSize := func() int64 {
		des, err := os.ReadDir(filepath.Join(r.dataDir, "ledger", "segments"))
		require.NoError(t, err)
		var size int64
		for _, de := range des {
			fi, err := de.Info()
			require.NoError(t, err)
			size = fi.Size() // names sort by first seq: the last is the newest
		}
		return size
	}
	blob := strings.Repeat("b", 512<<10)
	for i := 0; ; i++ {
		size := segSize()
		if size >= target {
			break
		}
		var body []byte
		if size < target-(1<<20) {
			ev, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("pcf-%d", i), "time": "2026-03-01T10:00:00Z",
				"action": "config.update", "actor": map[string]any{"type": "system", "id": "filler"},
				"target": map[string]any{"type": "config", "id": "cfg_1"}, "blob": blob})
			body = ev
		} else {
			for j := range 20 {
				ev, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("pcf-%d-%d", i, j), "time": "2026-03-01T10:00:00Z",
					"action": "config.update", "actor": map[string]any{"type": "system", "id": "filler"},
					"target": map[string]any{"type": "config", "id": "cfg_1"}})
				body = append(append(body, ev...), '\n')
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := post(ctx, r.agent.webhook, body, nil)
		cancel()
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, res.Code, res.Body)
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var m struct {
				ID string `json:"id"`
			}
			require.NoError(t, json.Unmarshal([]byte(l), &m))
			ids = append(ids, m.ID)
		}
		r.hook.mu.Lock()
		for _, id := range ids {
			r.hook.acked[id] = true
		}
		r.hook.mu.Unlock()
	}
	size := segSize()
	require.Less(t, size, int64(segmentBytes), "the fill rolled the segment")
	t.Logf("power cut %s: segment filled to %d bytes", r.name, size)
}
