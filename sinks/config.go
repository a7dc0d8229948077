package sinks

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/layout"
)

// Delivery is the Engine's settings for one sink. A remote sink's block
// gives them with these attributes and blocks, which every remote sink
// shares (the file sink sets them from its own batch_events and
// heartbeat_interval):
//
//	batch     { max_events = 1000  max_bytes = 8388608  max_wait = "1s" }
//	retry     { initial = "500ms"  max = "60s" }
//	tls       { ca_file = "..."  cert_file = "..."  key_file = "..."  insecure_skip_verify = false }
//	in_flight          = 4       # batches sent at once
//	timeout            = "30s"   # per request, acknowledgement included
//	heartbeat_interval = "60s"   # an idle sink sends a heartbeat record this often
type Delivery struct {
	Name string // the block's second label
	Type string // the block's first label: "splunk_hec", "elasticsearch", ...

	MaxEvents int           // records per batch, at most
	MaxBytes  int           // bytes of record lines per batch, at most (one record may exceed it alone)
	MaxWait   time.Duration // how long a batch that is not full waits for more

	RetryInitial time.Duration // first backoff after a failed attempt
	RetryMax     time.Duration // backoff cap

	InFlight          int           // batches sent at once
	Timeout           time.Duration // one Send, at most
	HeartbeatInterval time.Duration // idle heartbeat period

	// DrainTimeout is how long the sink may take at shutdown to deliver
	// what the ledger holds (the deadline the agent gives Drain); what is
	// left goes at the next start. Not a config attribute: each sink type
	// sets its own (5 s for a remote sink).
	DrainTimeout time.Duration

	// TLS is the client TLS configuration; nil when no tls block is given
	// (system roots).
	TLS *tls.Config
	// InsecureSkipVerify is tls.insecure_skip_verify; the agent logs a loud
	// warning at every start when it is set.
	InsecureSkipVerify bool

	// DeadLetterPath is where refused records are parked; SetDataDir sets it.
	DeadLetterPath string
}

// NewDelivery returns the shared defaults; a sink may change them before
// DecodeDelivery (Splunk and Elasticsearch take the same ones).
func NewDelivery(typ, name string) Delivery {
	return Delivery{
		Type: typ, Name: name,
		MaxEvents: 1000, MaxBytes: 8 << 20, MaxWait: time.Second,
		RetryInitial: 500 * time.Millisecond, RetryMax: time.Minute,
		InFlight: 4, Timeout: 30 * time.Second, HeartbeatInterval: time.Minute,
		DrainTimeout: 5 * time.Second,
	}
}

// Key is the sink's cursor name, "<type>.<name>".
func (d Delivery) Key() string { return d.Type + "." + d.Name }

// SetDataDir places the sink's files under the data dir (internal/layout):
// DIR/sinks/<type>.<name>/dead-letter.ndjson.
func (d *Delivery) SetDataDir(dir string) {
	d.DeadLetterPath = layout.SinkDeadLetter(dir, d.Type, d.Name)
}

type deliveryHCL struct {
	Batch             *batchHCL      `hcl:"batch,block"`
	Retry             *retryHCL      `hcl:"retry,block"`
	TLS               *tlsHCL        `hcl:"tls,block"`
	InFlight          *int           `hcl:"in_flight,optional"`
	Timeout           hcl.Expression `hcl:"timeout,optional"`
	HeartbeatInterval hcl.Expression `hcl:"heartbeat_interval,optional"`
}

type batchHCL struct {
	MaxEvents *int           `hcl:"max_events,optional"`
	MaxBytes  *int           `hcl:"max_bytes,optional"`
	MaxWait   hcl.Expression `hcl:"max_wait,optional"`
	Body      hcl.Body       `hcl:",remain"`
}

type retryHCL struct {
	Initial hcl.Expression `hcl:"initial,optional"`
	Max     hcl.Expression `hcl:"max,optional"`
	Body    hcl.Body       `hcl:",remain"`
}

type tlsHCL struct {
	CAFile             *string  `hcl:"ca_file,optional"`
	CertFile           *string  `hcl:"cert_file,optional"`
	KeyFile            *string  `hcl:"key_file,optional"`
	InsecureSkipVerify *bool    `hcl:"insecure_skip_verify,optional"`
	Body               hcl.Body `hcl:",remain"`
}

// DecodeDelivery decodes the shared attributes and blocks from body, which
// is the `hcl:",remain"` part of a sink's own block, into d. Every problem
// is a diagnostic that points into the config file; attributes that
// neither the sink nor Delivery knows are reported here.
func DecodeDelivery(body hcl.Body, ctx *hcl.EvalContext, d *Delivery) hcl.Diagnostics {
	var h deliveryHCL
	diags := gohcl.DecodeBody(body, ctx, &h)
	if diags.HasErrors() {
		return diags
	}
	positive := func(v *int, dst *int, name string, rng hcl.Range) {
		if v == nil {
			return
		}
		if *v < 1 {
			diags = diags.Extend(hclconf.Error(rng, "Invalid "+name, name+" must be at least 1."))
			return
		}
		*dst = *v
	}
	dur := func(e hcl.Expression, dst *time.Duration, name string) {
		v, d := hclconf.Duration(e, ctx, name, *dst)
		diags = diags.Extend(d)
		*dst = v
	}
	rng := body.MissingItemRange()
	if b := h.Batch; b != nil {
		positive(b.MaxEvents, &d.MaxEvents, "max_events", b.Body.MissingItemRange())
		positive(b.MaxBytes, &d.MaxBytes, "max_bytes", b.Body.MissingItemRange())
		dur(b.MaxWait, &d.MaxWait, "max_wait")
	}
	if r := h.Retry; r != nil {
		dur(r.Initial, &d.RetryInitial, "initial")
		dur(r.Max, &d.RetryMax, "max")
		if d.RetryMax < d.RetryInitial {
			diags = diags.Extend(hclconf.Error(r.Body.MissingItemRange(), "Invalid retry", fmt.Sprintf("retry max (%s) is below initial (%s).", d.RetryMax, d.RetryInitial)))
		}
	}
	positive(h.InFlight, &d.InFlight, "in_flight", rng)
	dur(h.Timeout, &d.Timeout, "timeout")
	dur(h.HeartbeatInterval, &d.HeartbeatInterval, "heartbeat_interval")
	if t := h.TLS; t != nil {
		cfg, err := t.config()
		if err != nil {
			diags = diags.Extend(hclconf.Error(t.Body.MissingItemRange(), "Invalid tls", err.Error()))
		}
		d.TLS = cfg
		d.InsecureSkipVerify = cfg != nil && cfg.InsecureSkipVerify
	}
	return diags
}

func (t *tlsHCL) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.InsecureSkipVerify != nil {
		cfg.InsecureSkipVerify = *t.InsecureSkipVerify
	}
	if t.CAFile != nil && *t.CAFile != "" {
		pem, err := os.ReadFile(*t.CAFile)
		if err != nil {
			return cfg, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("ca_file %s: no PEM certificate in it", *t.CAFile)
		}
		cfg.RootCAs = pool
	}
	cert, key := "", ""
	if t.CertFile != nil {
		cert = *t.CertFile
	}
	if t.KeyFile != nil {
		key = *t.KeyFile
	}
	if (cert == "") != (key == "") {
		return cfg, fmt.Errorf("cert_file and key_file go together: give both or neither")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return cfg, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Problem is one rule a sink's config breaks, named by the attribute it is
// about: a sink's Decode turns it into a diagnostic at that attribute, its
// Validate into an error.
type Problem struct{ Attr, Summary, Detail string }

// Problems are the rules a sink's config breaks.
type Problems []Problem

// Add appends a problem whose detail is formatted.
func (ps *Problems) Add(attr, summary, format string, args ...any) {
	*ps = append(*ps, Problem{attr, summary, fmt.Sprintf(format, args...)})
}

// Diagnostics returns a diagnostic for each problem, at the range rng
// gives its attribute (hclconf.AttrRange): what a sink's Decode reports
// once the block decoded without errors.
func (ps Problems) Diagnostics(rng func(attr string) hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range ps {
		diags = diags.Extend(hclconf.Error(rng(p.Attr), p.Summary, p.Detail))
	}
	return diags
}

// Err returns nil, or one error naming the sink and every problem.
func (ps Problems) Err(typ, name string) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, fmt.Errorf("%s: %s", p.Attr, p.Detail))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %s: %w", typ, name, err)
	}
	return nil
}
