package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keeptrusts/kt/index"
	"github.com/keeptrusts/kt/ingest"
	"github.com/keeptrusts/kt/internal/dirlock"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sources"
)

// daemon is what wire builds and run starts: every component of one agent.
type daemon struct {
	cfg     *Config
	opt     Options
	version string
	log     *slog.Logger

	lock      *dirlock.Lock // the data dir's lock, held while the daemon runs
	led       *queue.Ledger
	ledClosed bool
	cursors   *queue.Cursors
	norms     []*pipeline.Normalizer // the webhook's and the file sources'
	sinks     []*sinks.Engine
	sources   []sources.Source
	api       *query.Server
	idx       *index.Index  // the query index; nil without a query API
	idxEngine *sinks.Engine // the Engine that feeds idx (also in sinks)
	reg       *prometheus.Registry
	mon       *monitor
	addrs     Addrs
	ready     atomic.Bool
}

// close releases what wire opened; safe on a partly built daemon.
func (d *daemon) close() {
	for _, e := range d.sinks {
		e.Close()
	}
	if d.idx != nil {
		d.idx.Close()
	}
	if d.cursors != nil {
		d.cursors.Close()
	}
	if d.led != nil && !d.ledClosed {
		d.ledClosed = true
		d.led.Close()
	}
	d.lock.Release()
}

// pipelineOptions are the normalizer options of cfg, with key.
func pipelineOptions(cfg *Config, key []byte) pipeline.Options {
	o := pipeline.NewDefaultOptions()
	o.RedactKey = key
	o.RedactPaths = cfg.Redact.Paths
	o.RedactNames = cfg.Redact.Names
	o.RedactPatterns = cfg.Redact.Patterns
	o.CategoryMap = cfg.Normalize.CategoryMap
	o.ActorTypeMap = cfg.Normalize.ActorTypeMap
	if cfg.Normalize.MaxIDBytes > 0 {
		o.MaxIDBytes = cfg.Normalize.MaxIDBytes
	}
	if cfg.Normalize.MaxEventBytes > 0 {
		o.MaxEventBytes = cfg.Normalize.MaxEventBytes
	}
	return o
}

// wire opens the ledger and builds every source, sink and listener of cfg,
// without starting them. On error the caller closes what was built.
func wire(cfg *Config, opt Options) (*daemon, error) {
	log := opt.Logger
	d := &daemon{cfg: cfg, opt: opt, version: opt.Version, log: log, mon: newMonitor(cfg.Health.StallAfter),
		addrs: Addrs{Webhooks: map[string]string{}}}
	if err := CheckDataDir(cfg.DataDir); err != nil {
		return d, err
	}
	lock, err := dirlock.Acquire(layout.Lock(cfg.DataDir))
	if errors.Is(err, dirlock.ErrLocked) {
		return d, fmt.Errorf("data_dir %s is in use by another kt process (an agent, or kt reindex): %w", cfg.DataDir, err)
	}
	if err != nil {
		return d, err
	}
	d.lock = lock
	signer, err := LoadOrCreateSigner(cfg.Signing.KeyFile, cfg.Signing.KeyName, log)
	if err != nil {
		return d, err
	}
	redactKey, err := LoadOrCreateRedactKey(cfg.Redact.KeyFile, log)
	if err != nil {
		return d, err
	}
	// One normalizer per invalid-UTF-8 mode the sources ask for: refused
	// where the sender can be told, escaped where it cannot.
	norms := map[pipeline.UTF8Mode]*pipeline.Normalizer{}
	for _, mode := range []pipeline.UTF8Mode{pipeline.UTF8Reject, pipeline.UTF8Escape} {
		popts := pipelineOptions(cfg, redactKey)
		popts.InvalidUTF8 = mode
		n, err := pipeline.New(popts)
		if err != nil {
			return d, err
		}
		norms[mode] = n
		d.norms = append(d.norms, n)
	}
	norms[""] = norms[pipeline.UTF8Reject]
	ledDir := layout.Ledger(cfg.DataDir)
	d.led, err = queue.Open(queue.Options{
		Dir:                ledDir,
		Signer:             signer,
		Version:            opt.Version,
		Origin:             cfg.Signing.Origin,
		CheckpointInterval: cfg.Signing.CheckpointInterval,
		CommitInterval:     cfg.Signing.CommitInterval,
		SegmentBytes:       cfg.Ledger.SegmentBytes,
		CursorDir:          layout.Cursors(cfg.DataDir),
		Logger:             log,
	})
	if err != nil {
		return d, err
	}
	log.Info("ledger open", "dir", ledDir, "entries", d.led.Size(), "ledger_id", d.led.LedgerID(), "key_id", signer.KeyID())
	if d.cursors, err = queue.OpenCursors(layout.Cursors(cfg.DataDir)); err != nil {
		return d, err
	}

	d.reg = prometheus.NewRegistry()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.registerLedgerMetrics()
	d.watchLedger()

	for _, sb := range cfg.Sinks {
		if err := d.addSink(sb); err != nil {
			return d, err
		}
	}
	for _, sb := range cfg.Sources {
		if err := d.addSource(sb, norms[sb.Spec.InvalidUTF8]); err != nil {
			return d, err
		}
	}
	d.registerHealthMetrics()
	if cfg.QueryAPI != nil {
		// The query index follows the ledger like a sink, with its own
		// cursor; status shows it apart from the sinks, as "index".
		if d.idx, err = index.Open(layout.Index(cfg.DataDir)); err != nil {
			return d, err
		}
		if d.idx.Reset != "" {
			log.Warn("query index: " + d.idx.Reset)
		}
		if d.idxEngine, err = d.addEngine("index", index.Delivery(cfg.DataDir), d.idx.Transport(d.ingestBusy())); err != nil {
			return d, err
		}
		d.api, err = query.New(query.Options{Listener: cfg.QueryAPI.Config, Token: cfg.QueryAPI.Token, Registry: d.reg, Logger: log,
			Ready:  d.readiness,
			Status: d.status,
			Routes: d.apiRoutes(),
			Index:  d.idx,
		})
		if err != nil {
			return d, err
		}
		d.addrs.QueryAPI = d.api.Addr()
	}
	return d, nil
}

// addSink makes the sink of block sb, an Engine driving the plugin's
// transport, and registers its metrics and stall watch.
func (d *daemon) addSink(sb SinkBlock) error {
	dl := sb.Spec.Delivery
	if dl.InsecureSkipVerify {
		d.log.Warn("tls.insecure_skip_verify is on: the receiver's certificate is not checked, so anyone on the path can read and change what this sink sends", "sink", dl.Key())
	}
	t, err := sb.Spec.New(d.log)
	if err != nil {
		return err
	}
	_, err = d.addEngine("sink", dl, t)
	return err
}

// addEngine makes the Engine that drives t with the settings dl, and
// registers its metrics and its stall watch as a kind ("sink", "index").
func (d *daemon) addEngine(kind string, dl sinks.Delivery, t sinks.Transport) (*sinks.Engine, error) {
	e, err := sinks.NewEngine(dl, d.led, d.cursors, t, d.log)
	if err != nil {
		t.Close()
		return nil, err
	}
	d.sinks = append(d.sinks, e)
	registerEngineMetrics(d.reg, dl, e, d.led)
	d.watchEngine(kind, e.Name(), e.Next)
	return e, nil
}

// addSource makes the source of block sb, which appends through norm, and
// registers its metrics and stall watch.
func (d *daemon) addSource(sb SourceBlock, norm *pipeline.Normalizer) error {
	src, err := sb.Spec.New(sources.Env{Emit: ingest.New(norm, d.led), Log: d.log, Metrics: d.reg})
	if err != nil {
		return err
	}
	d.sources = append(d.sources, src)
	if l, ok := src.(sources.Listener); ok {
		d.addrs.Webhooks[src.Name()] = l.Addr()
	}
	d.registerSourceMetrics(src)
	d.watchSource(src)
	return nil
}

// ingestBusy returns a func that says whether the ledger took new entries
// in the last 200 ms (the query index yields to ingest while it does).
func (d *daemon) ingestBusy() func() bool {
	var mu sync.Mutex
	var size uint64
	var changed time.Time
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if s := d.led.Size(); s != size {
			size, changed = s, now
		}
		return now.Sub(changed) < 200*time.Millisecond
	}
}
