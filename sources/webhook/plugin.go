package webhook

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeptrusts/kt/internal/listener"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

// Type is the webhook's type name in the config: source "webhook" "NAME".
const Type = "webhook"

// Plugin registers the webhook source with the agent. An HTTP client can
// be told, and fix what it sends: invalid UTF-8 is refused.
var Plugin = sources.NewPlugin(Type, pipeline.UTF8Reject,
	func(name string, body hcl.Body, ctx *hcl.EvalContext, _ string) (Config, hcl.Diagnostics) {
		return Decode(name, body, ctx)
	}, New, (*Source).register)

// Validate checks the rules Decode checks, for configs built in code.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("webhook: no name"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("webhook %s: listen %q: %v", c.Name, c.Listen, err))
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("webhook %s: path %q must start with \"/\"", c.Name, c.Path))
	}
	if c.ReplayWindow <= 0 {
		errs = append(errs, fmt.Errorf("webhook %s: replay_window must be positive", c.Name))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("webhook %s: max_body_bytes %d is below 1024", c.Name, c.MaxBodyBytes))
	}
	if c.HMACSecret != nil && len(c.HMACSecret) == 0 {
		errs = append(errs, fmt.Errorf("webhook %s: hmac_secret is empty", c.Name))
	}
	a := c.auth()
	if !listener.IsLoopback(c.Listen) && !a.Configured && !c.ClientCertsRequired() && !c.AllowUnauthenticated {
		errs = append(errs, fmt.Errorf("webhook %s: listen %q is reachable from other hosts and nothing authenticates callers: set token or hmac_secret, client certificates, or allow_unauthenticated", c.Name, c.Listen))
	}
	return errors.Join(errs...)
}

// Type returns "webhook".
func (s *Source) Type() string { return Type }

var (
	_ sources.Source   = (*Source)(nil)
	_ sources.Listener = (*Source)(nil)
)

// register adds the webhook's own metrics to reg: kt_webhook_requests_total
// (requests by answer) and kt_webhook_requests_in_flight (the agent counts
// records for every source).
func (s *Source) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kt_webhook_requests_in_flight", Help: "Webhook requests being handled.",
		ConstLabels: prometheus.Labels{"source": s.cfg.Name}}, func() float64 { return float64(s.Stats().Backlog) })
	if err := reg.Register(inFlight); err != nil {
		return fmt.Errorf("webhook %s: metrics: %w", s.cfg.Name, err)
	}
	for class, label := range ClassNames() {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kt_webhook_requests_total", Help: "Webhook requests by answer.",
			ConstLabels: prometheus.Labels{"source": s.cfg.Name, "result": label}}, func() float64 { return float64(s.Count(class)) })
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("webhook %s: metrics: %w", s.cfg.Name, err)
		}
	}
	return nil
}
