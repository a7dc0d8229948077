// Package agent is the kt daemon's lifecycle: it decodes the top-level
// config (each plugin decodes its own block), opens the ledger, starts the
// sinks, the sources and the query API, and shuts them down in the order
// that loses nothing: sources stop taking input, the ledger writes its final
// checkpoint, the sinks ship it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keeptrusts/kt/internal/sdnotify"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/query"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sinks"
	filesink "github.com/keeptrusts/kt/sinks/file"
	"github.com/keeptrusts/kt/sources"
	filesource "github.com/keeptrusts/kt/sources/file"
	"github.com/keeptrusts/kt/sources/webhook"
)

// Options are what the command line adds to a config.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Started, when set, is called with the bound addresses once every
	// component runs (tests and `kt agent` log them).
	Started func(Addrs)
}

// Addrs are the addresses the agent listens on.
type Addrs struct {
	Webhooks map[string]string // source name -> host:port
	QueryAPI string
}

// Run runs the agent until ctx is done, then shuts down cleanly.
func Run(ctx context.Context, cfg *Config, opt Options) error {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	signer, err := LoadOrCreateSigner(cfg.Signing.KeyFile, cfg.Signing.KeyName, log)
	if err != nil {
		return err
	}
	redactKey, err := LoadOrCreateRedactKey(cfg.Redact.KeyFile, log)
	if err != nil {
		return err
	}
	popts := pipeline.NewDefaultOptions()
	popts.RedactKey = redactKey
	popts.RedactPaths = cfg.Redact.Paths
	norm, err := pipeline.New(popts)
	if err != nil {
		return err
	}
	// Files keep what they hold: invalid UTF-8 in a file line is escaped
	// with a marker rather than refused (an HTTP client gets a 400 instead).
	popts.InvalidUTF8 = pipeline.UTF8Escape
	fileNorm, err := pipeline.New(popts)
	if err != nil {
		return err
	}
	led, err := queue.Open(queue.Options{
		Dir:                filepath.Join(cfg.DataDir, "ledger"),
		Signer:             signer,
		Version:            opt.Version,
		Origin:             cfg.Signing.Origin,
		CheckpointInterval: cfg.Signing.CheckpointInterval,
		CommitInterval:     cfg.Signing.CommitInterval,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	ledClosed := false
	defer func() {
		if !ledClosed {
			led.Close()
		}
	}()
	log.Info("ledger open", "dir", filepath.Join(cfg.DataDir, "ledger"), "entries", led.Size(), "ledger_id", led.LedgerID(), "key_id", signer.KeyID())
	cursors, err := queue.OpenCursors(filepath.Join(cfg.DataDir, "cursors"))
	if err != nil {
		return err
	}
	defer cursors.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_ledger_entries", Help: "Entries in the ledger."},
		func() float64 { return float64(led.Size()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_ledger_commits_total", Help: "Group commits (fsync + signed checkpoint)."},
		func() float64 { return float64(led.Stats().Commits) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_ledger_duplicates_total", Help: "Records not written again because their event id was in the ledger."},
		func() float64 { return float64(led.Stats().Duplicates) }))

	em := &emitter{norm: norm, led: led}
	var fileSinks []*filesink.Sink
	for _, sc := range cfg.FileSinks {
		s, err := filesink.New(sc, led, cursors, log)
		if err != nil {
			return err
		}
		defer s.Close()
		fileSinks = append(fileSinks, s)
		labels := prometheus.Labels{"sink": sc.Name, "type": "file"}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_sink_sent_entries_total", Help: "Entries delivered by the sink since start.", ConstLabels: labels},
			func() float64 { return float64(s.Sent()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_sink_lag_entries", Help: "Ledger entries the sink has not delivered yet.", ConstLabels: labels},
			func() float64 { return float64(led.Size() - min(led.Size(), s.Next())) }))
	}
	var engines []*sinks.Engine
	for _, rc := range cfg.RemoteSinks {
		if rc.Delivery.InsecureSkipVerify {
			log.Warn("tls.insecure_skip_verify is on: the receiver's certificate is not checked, so anyone on the path can read and change what this sink sends", "sink", rc.Delivery.Key())
		}
		t, err := rc.New(log)
		if err != nil {
			return err
		}
		e, err := sinks.NewEngine(rc.Delivery, led, cursors, t, log)
		if err != nil {
			t.Close()
			return err
		}
		defer e.Close()
		engines = append(engines, e)
		registerEngineMetrics(reg, rc.Delivery, e, led)
	}
	var tails []*filesource.Source
	for _, fc := range cfg.FileSources {
		src, err := filesource.New(fc, &emitter{norm: fileNorm, led: led}, log)
		if err != nil {
			return err
		}
		tails = append(tails, src)
		labels := prometheus.Labels{"source": fc.Name}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_file_source_lines_total", Help: "Lines of the file source made durable ledger entries.", ConstLabels: labels},
			func() float64 { return float64(src.Emitted()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_file_source_dead_lettered_total", Help: "Lines written to the source's dead-letter file.", ConstLabels: labels},
			func() float64 { return float64(src.DeadLettered()) }))
	}
	var hooks []*webhook.Source
	addrs := Addrs{Webhooks: map[string]string{}}
	for _, wc := range cfg.Webhooks {
		w, err := webhook.New(wc, em, log)
		if err != nil {
			return err
		}
		hooks = append(hooks, w)
		addrs.Webhooks[wc.Name] = w.Addr()
		for class, label := range map[int]string{webhook.Accepted: "accepted", webhook.BadRequest: "bad_request", webhook.Unauthorized: "unauthorized",
			webhook.TooLarge: "too_large", webhook.Busy: "busy", webhook.Conflict: "conflict"} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_webhook_requests_total", Help: "Webhook requests by answer.",
				ConstLabels: prometheus.Labels{"source": wc.Name, "result": label}}, func() float64 { return float64(w.Count(class)) }))
		}
	}
	var ready atomic.Bool
	var api *query.Server
	if cfg.QueryAPI != nil {
		api, err = query.New(query.Options{Listen: cfg.QueryAPI.Listen, Token: cfg.QueryAPI.Token, Registry: reg,
			Ready: func() string {
				if !ready.Load() {
					return "starting or stopping"
				}
				return ""
			},
			Status: func() any { return status(opt.Version, led, fileSinks, engines, tails, hooks) },
		})
		if err != nil {
			return err
		}
		addrs.QueryAPI = api.Addr()
	}

	// Start: sinks first (they only read), then the API, then sources.
	sinkCtx, stopSinks := context.WithCancel(context.Background())
	defer stopSinks()
	var sinkWG sync.WaitGroup
	for _, s := range fileSinks {
		sinkWG.Add(1)
		go func() {
			defer sinkWG.Done()
			superviseSink(sinkCtx, s, log)
		}()
	}
	for _, e := range engines {
		sinkWG.Add(1)
		go func() {
			defer sinkWG.Done()
			superviseSink(sinkCtx, e, log)
		}()
	}
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone := make(chan error, 1)
	if api != nil {
		go func() { apiDone <- api.Run(apiCtx) }()
	}
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	srcErr := make(chan error, len(hooks)+len(tails))
	var srcWG sync.WaitGroup
	for _, t := range tails {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := t.Run(srcCtx); err != nil {
				srcErr <- err
			}
		}()
	}
	for _, h := range hooks {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := h.Run(srcCtx); err != nil {
				srcErr <- err
			}
		}()
	}
	ready.Store(true)
	if err := sdnotify.Notify("READY=1"); err != nil {
		log.Warn("systemd notify", "err", err)
	}
	log.Info("kt agent running", "version", opt.Version, "config", cfg.File, "webhooks", addrs.Webhooks, "query_api", addrs.QueryAPI)
	if opt.Started != nil {
		opt.Started(addrs)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			break wait
		case runErr = <-srcErr:
			log.Error("source failed, shutting down", "err", runErr)
			break wait
		case <-led.Failed():
			// An fsync failed: what the page cache held may be gone, so
			// only a restart (recovery from disk) is safe.
			runErr = led.Err()
			log.Error("ledger failed, shutting down so that a restart recovers it", "err", runErr)
			break wait
		case <-hup:
			log.Warn("SIGHUP: config reload is not available yet; restart kt to apply a new config")
		}
	}
	ready.Store(false)
	_ = sdnotify.Notify("STOPPING=1")
	stopSources()
	srcWG.Wait()
	stopSinks()
	sinkWG.Wait()
	ledClosed = true
	if err := led.Close(); err != nil {
		log.Error("closing the ledger", "err", err)
		runErr = errors.Join(runErr, err)
	}
	for _, s := range fileSinks {
		if err := s.Drain(); err != nil {
			log.Error("final sink delivery", "sink", s.Name(), "err", err)
		}
	}
	// Remote sinks get a bounded time to ship the final checkpoint; what
	// is left goes at the next start (the cursor says where).
	var drainWG sync.WaitGroup
	for _, e := range engines {
		drainWG.Go(func() {
			dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			if err := e.Drain(dctx); err != nil {
				log.Warn("final sink delivery did not finish; the rest goes at the next start", "sink", e.Name(), "err", err)
			}
		})
	}
	drainWG.Wait()
	stopAPI()
	if api != nil {
		<-apiDone
	}
	log.Info("stopped", "entries", led.Size())
	return runErr
}

// drainTimeout bounds how long a remote sink may take at shutdown to ship
// what the ledger holds.
const drainTimeout = 5 * time.Second

// superviseSink runs a sink and restarts it with backoff when it fails, so
// one broken destination never stops the agent.
func superviseSink(ctx context.Context, s sinks.Sink, log *slog.Logger) {
	wait := time.Second
	for {
		err := s.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		log.Error("sink failed; retrying", "sink", s.Name(), "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// emitter normalizes and appends batches for the sources.
type emitter struct {
	norm *pipeline.Normalizer
	led  *queue.Ledger
}

var _ sources.Emitter = (*emitter)(nil)

// parallelMin is the batch size from which normalization is spread over
// all cores.
const parallelMin = 64

func (e *emitter) Emit(ctx context.Context, batch []sources.Raw) (sources.Result, error) {
	wait, err := e.Submit(batch)
	if err != nil {
		return sources.Result{}, err
	}
	return wait(ctx)
}

// Submit normalizes batch and hands it to the ledger without waiting for
// it to be durable; wait does, and maps the ledger's errors.
func (e *emitter) Submit(batch []sources.Raw) (wait func(context.Context) (sources.Result, error), err error) {
	now := time.Now()
	recs := make([]queue.Pending, len(batch))
	errs := make([]error, len(batch))
	norm := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := batch[i]
			ev, err := e.norm.Normalize(r.Data, r.Source, now, r.FallbackID)
			if err != nil {
				errs[i] = err
				continue
			}
			recs[i] = queue.Pending{ID: ev.ID, Digest: ev.Digest, Body: ev.Body}
		}
	}
	if n := runtime.GOMAXPROCS(0); len(batch) >= parallelMin && n > 1 {
		var wg sync.WaitGroup
		step := (len(batch) + n - 1) / n
		for lo := 0; lo < len(batch); lo += step {
			wg.Add(1)
			go func(lo int) {
				defer wg.Done()
				norm(lo, min(lo+step, len(batch)))
			}(lo)
		}
		wg.Wait()
	} else {
		norm(0, len(batch))
	}
	var recErrs sources.RecordErrors
	for i, err := range errs {
		if err == nil {
			continue
		}
		re := sources.RecordError{Index: i, Line: batch[i].Line, Err: err}
		var fe *pipeline.FieldError
		if errors.As(err, &fe) {
			re.Field = fe.Field
		}
		recErrs = append(recErrs, re)
	}
	if len(recErrs) > 0 {
		return nil, recErrs
	}
	mapErr := func(err error) error {
		var conflict *queue.ConflictError
		switch {
		case errors.Is(err, queue.ErrFull):
			return fmt.Errorf("%w: %v", sources.ErrBusy, err)
		case errors.As(err, &conflict):
			return &sources.ConflictError{Line: batch[conflict.Index].Line, ID: conflict.ID, Seq: conflict.Seq}
		}
		return err
	}
	t, err := e.led.Submit(recs)
	if err != nil {
		return nil, mapErr(err)
	}
	return func(ctx context.Context) (sources.Result, error) {
		res, err := t.Wait(ctx)
		if err != nil {
			return sources.Result{}, mapErr(err)
		}
		return sources.Result{Accepted: res.New, Duplicates: res.Duplicates, FirstSeq: res.FirstSeq, LastSeq: res.LastSeq}, nil
	}, nil
}
