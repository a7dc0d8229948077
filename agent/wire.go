package agent

import (
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	filesink "github.com/keeptrusts/kt/sinks/file"
	"github.com/keeptrusts/kt/sources/tail"
	"github.com/keeptrusts/kt/sources/webhook"
)

// daemon is what wire builds and run starts: every component of one agent.
type daemon struct {
	cfg     *Config
	opt     Options
	version string
	log     *slog.Logger

	led       *queue.Ledger
	ledClosed bool
	cursors   *queue.Cursors
	norms     []*pipeline.Normalizer // the webhook's and the file sources'
	fileSinks []*filesink.Sink
	engines   []*sinks.Engine
	tails     []*tail.Source
	hooks     []*webhook.Source
	api       *query.Server
	reg       *prometheus.Registry
	mon       *monitor
	addrs     Addrs
	ready     atomic.Bool
}

// close releases what wire opened; safe on a partly built daemon.
func (d *daemon) close() {
	for _, e := range d.engines {
		e.Close()
	}
	for _, s := range d.fileSinks {
		s.Close()
	}
	if d.cursors != nil {
		d.cursors.Close()
	}
	if d.led != nil && !d.ledClosed {
		d.ledClosed = true
		d.led.Close()
	}
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
	signer, err := LoadOrCreateSigner(cfg.Signing.KeyFile, cfg.Signing.KeyName, log)
	if err != nil {
		return d, err
	}
	redactKey, err := LoadOrCreateRedactKey(cfg.Redact.KeyFile, log)
	if err != nil {
		return d, err
	}
	popts := pipelineOptions(cfg, redactKey)
	norm, err := pipeline.New(popts)
	if err != nil {
		return d, err
	}
	// Files keep what they hold: invalid UTF-8 in a file line is escaped
	// with a marker rather than refused (an HTTP client gets a 400 instead).
	popts.InvalidUTF8 = pipeline.UTF8Escape
	fileNorm, err := pipeline.New(popts)
	if err != nil {
		return d, err
	}
	d.norms = []*pipeline.Normalizer{norm, fileNorm}
	ledDir := filepath.Join(cfg.DataDir, "ledger")
	d.led, err = queue.Open(queue.Options{
		Dir:                ledDir,
		Signer:             signer,
		Version:            opt.Version,
		Origin:             cfg.Signing.Origin,
		CheckpointInterval: cfg.Signing.CheckpointInterval,
		CommitInterval:     cfg.Signing.CommitInterval,
		SegmentBytes:       cfg.Ledger.SegmentBytes,
		CursorDir:          filepath.Join(cfg.DataDir, "cursors"),
		Logger:             log,
	})
	if err != nil {
		return d, err
	}
	log.Info("ledger open", "dir", ledDir, "entries", d.led.Size(), "ledger_id", d.led.LedgerID(), "key_id", signer.KeyID())
	if d.cursors, err = queue.OpenCursors(filepath.Join(cfg.DataDir, "cursors")); err != nil {
		return d, err
	}

	d.reg = prometheus.NewRegistry()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.registerLedgerMetrics()
	d.watchLedger()

	for _, sc := range cfg.FileSinks {
		s, err := filesink.New(sc, d.led, d.cursors, log)
		if err != nil {
			return d, err
		}
		d.fileSinks = append(d.fileSinks, s)
		d.registerFileSinkMetrics(s)
		d.watchSink(s.Name(), s.Next)
	}
	for _, rc := range cfg.RemoteSinks {
		if rc.Delivery.InsecureSkipVerify {
			log.Warn("tls.insecure_skip_verify is on: the receiver's certificate is not checked, so anyone on the path can read and change what this sink sends", "sink", rc.Delivery.Key())
		}
		t, err := rc.New(log)
		if err != nil {
			return d, err
		}
		e, err := sinks.NewEngine(rc.Delivery, d.led, d.cursors, t, log)
		if err != nil {
			t.Close()
			return d, err
		}
		d.engines = append(d.engines, e)
		registerEngineMetrics(d.reg, rc.Delivery, e, d.led)
		d.watchSink(e.Name(), e.Next)
	}
	for _, fc := range cfg.FileSources {
		src, err := tail.New(fc, &emitter{norm: fileNorm, led: d.led}, log)
		if err != nil {
			return d, err
		}
		d.tails = append(d.tails, src)
		d.registerSourceMetrics("file", src.Name(), src)
		d.watchSource(src.Name(), "bytes", src)
	}
	em := &emitter{norm: norm, led: d.led}
	for _, wc := range cfg.Webhooks {
		w, err := webhook.New(wc, em, log)
		if err != nil {
			return d, err
		}
		d.hooks = append(d.hooks, w)
		d.addrs.Webhooks[wc.Name] = w.Addr()
		for class, label := range webhook.ClassNames() {
			d.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_webhook_requests_total", Help: "Webhook requests by answer.",
				ConstLabels: prometheus.Labels{"source": wc.Name, "result": label}}, func() float64 { return float64(w.Count(class)) }))
		}
		d.registerSourceMetrics("webhook", w.Name(), w)
		d.watchSource(w.Name(), "requests", w)
	}
	d.registerHealthMetrics()
	if cfg.QueryAPI != nil {
		d.api, err = query.New(query.Options{Listener: cfg.QueryAPI.Config, Token: cfg.QueryAPI.Token, Registry: d.reg, Logger: log,
			Ready:  d.readiness,
			Status: func() any { return d.status() },
			Routes: d.damageRoutes(),
		})
		if err != nil {
			return d, err
		}
		d.addrs.QueryAPI = d.api.Addr()
	}
	return d, nil
}
