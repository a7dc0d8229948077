// Package agent is the kt daemon's lifecycle: it decodes the top-level
// config (each plugin decodes its own block), opens the ledger, starts the
// sinks, the sources and the query API, watches them for stalls and
// damage, and shuts them down in the order that loses nothing: sources
// stop taking input, the ledger writes its final checkpoint, the sinks ship
// it.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/keeptrusts/kt/internal/sdnotify"
	"github.com/keeptrusts/kt/sinks"
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

// Run runs the agent until ctx is done, then shuts down cleanly. It
// returns an error when the agent could not start, or stopped because a
// source or the ledger failed (systemd then restarts it).
func Run(ctx context.Context, cfg *Config, opt Options) error {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := wire(cfg, opt)
	if err != nil {
		d.close()
		return err
	}
	defer d.close()
	return d.run(ctx)
}

// run starts what wire built, waits for ctx or a failure, and stops.
func (d *daemon) run(ctx context.Context) error {
	log := d.log
	// Start: sinks first (they only read), then the API, then sources.
	sinkCtx, stopSinks := context.WithCancel(context.Background())
	defer stopSinks()
	var sinkWG sync.WaitGroup
	for _, e := range d.sinks {
		sinkWG.Go(func() { superviseSink(sinkCtx, e, log) })
	}
	monCtx, stopMonitor := context.WithCancel(context.Background())
	defer stopMonitor()
	go d.mon.run(monCtx)
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone := make(chan error, 1)
	if d.api != nil {
		go func() { apiDone <- d.api.Run(apiCtx) }()
	}
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	srcErr := make(chan error, len(d.sources))
	var srcWG sync.WaitGroup
	for _, src := range d.sources {
		srcWG.Go(func() {
			if err := src.Run(srcCtx); err != nil {
				srcErr <- err
			}
		})
	}
	d.ready.Store(true)
	if err := sdnotify.Notify("READY=1"); err != nil {
		log.Warn("systemd notify", "err", err)
	}
	log.Info("kt agent running", "version", d.version, "config", d.cfg.File, "webhooks", d.addrs.Webhooks, "query_api", d.addrs.QueryAPI)
	d.logProblems()
	if d.opt.Started != nil {
		d.opt.Started(d.addrs)
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
		case <-d.led.Failed():
			// An fsync failed: what the page cache held may be gone, so
			// only a restart (recovery from disk) is safe.
			runErr = d.led.Err()
			log.Error("ledger failed, shutting down so that a restart recovers it", "err", runErr)
			break wait
		case <-hup:
			log.Warn("SIGHUP: config reload is not available yet; restart kt to apply a new config")
		}
	}
	d.ready.Store(false)
	_ = sdnotify.Notify("STOPPING=1")
	stopSources()
	srcWG.Wait()
	stopSinks()
	sinkWG.Wait()
	stopMonitor()
	d.ledClosed = true
	if err := d.led.Close(); err != nil {
		log.Error("closing the ledger", "err", err)
		runErr = errors.Join(runErr, err)
	}
	// Every sink gets a bounded time to ship what the ledger holds, the
	// final checkpoint included (DrainTimeout: 30 s for a file, 5 s for a
	// receiver over the network); what is left goes at the next start (the
	// cursor says where).
	var drainWG sync.WaitGroup
	for _, e := range d.sinks {
		drainWG.Go(func() {
			dctx, cancel := context.WithTimeout(context.Background(), e.DrainTimeout())
			defer cancel()
			if err := e.Drain(dctx); err != nil {
				log.Warn("final sink delivery did not finish; the rest goes at the next start", "sink", e.Name(), "err", err)
			}
		})
	}
	drainWG.Wait()
	stopAPI()
	if d.api != nil {
		<-apiDone
	}
	log.Info("stopped", "entries", d.led.Size())
	return runErr
}

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
