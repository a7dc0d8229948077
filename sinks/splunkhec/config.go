package splunkhec

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/sinks"
)

// Type is the sink's type label: sink "splunk_hec" "NAME" { ... }.
const Type = "splunk_hec"

// Config is the `sink "splunk_hec" "NAME" { ... }` block:
//
//	sink "splunk_hec" "soc" {
//	  endpoint   = "https://splunk.example:8088"  # base URL; kt adds /services/collector/event
//	  token      = env("SPLUNK_HEC_TOKEN")
//	  index      = "audit"                        # default: the token's default index
//	  sourcetype = "keeptrusts:audit"
//	  source     = "kt"
//	  host       = "cp-1"                         # default: this machine's host name
//	  gzip       = true
//	  ack        = false                          # indexer acknowledgement
//	  ack_poll_interval = "1s"
//	  ack_timeout       = "3m"
//	  channel    = "…"                            # default: a random UUID per agent start
//	  # and the shared blocks and attributes of sinks.Delivery:
//	  # batch {...} retry {...} tls {...} in_flight timeout heartbeat_interval
//	}
type Config struct {
	// Delivery holds the shared batch, retry, tls, in_flight, timeout and
	// heartbeat_interval settings; Delivery.Name is the block's name.
	Delivery sinks.Delivery

	// Endpoint is the base URL of HEC, such as "https://splunk.example:8088"
	// (a path prefix is allowed, for a reverse proxy). An http:// endpoint
	// is accepted but sends the token, and the events, in clear.
	Endpoint string
	// Token is the HEC token, sent as "Authorization: Splunk <token>".
	Token string

	// Index, Sourcetype, Source and Host are the event metadata of every
	// event; an empty one is left out of the envelope so that the token's
	// default applies.
	Index      string
	Sourcetype string // default "keeptrusts:audit"
	Source     string // default "kt"
	Host       string // default os.Hostname()

	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool
	// Ack turns on indexer acknowledgement: a batch counts as delivered
	// only once Splunk reports its ackId as indexed. The token must have
	// indexer acknowledgement turned on.
	Ack bool
	// AckPollInterval is how often an unacknowledged batch's ackId is
	// queried.
	AckPollInterval time.Duration
	// AckTimeout is how long a batch waits for its acknowledgement after
	// HEC took it; then it is sent again. The default, 3m, is the default
	// acknowledgement timeout that Amazon Data Firehose uses for Splunk. It
	// must be below Delivery.Timeout, which bounds a whole Send; with ack
	// on, Decode raises the default timeout to ack_timeout + 30s.
	AckTimeout time.Duration
	// Channel is the X-Splunk-Request-Channel sent with ack on: a UUID.
	// Empty means New picks a random one, so that each agent start opens
	// a fresh channel. Acknowledgement state lives on the indexer per
	// channel and a restarted agent resends what was not acknowledged
	// anyway, so nothing is gained by keeping a channel across restarts,
	// while a channel derived from the config would be shared by every
	// host that runs the same config file.
	Channel string
}

// Defaults of the optional attributes.
const (
	DefaultSourcetype      = "keeptrusts:audit"
	DefaultSource          = "kt"
	DefaultAckPollInterval = time.Second
	DefaultAckTimeout      = 3 * time.Minute
)

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Delivery:        sinks.NewDelivery(Type, ""),
		Sourcetype:      DefaultSourcetype,
		Source:          DefaultSource,
		Host:            host,
		Gzip:            true,
		AckPollInterval: DefaultAckPollInterval,
		AckTimeout:      DefaultAckTimeout,
	}
}

type hclConfig struct {
	Endpoint        string         `hcl:"endpoint"`
	Token           string         `hcl:"token"`
	Index           *string        `hcl:"index,optional"`
	Sourcetype      *string        `hcl:"sourcetype,optional"`
	Source          *string        `hcl:"source,optional"`
	Host            *string        `hcl:"host,optional"`
	Gzip            *bool          `hcl:"gzip,optional"`
	Ack             *bool          `hcl:"ack,optional"`
	AckPollInterval hcl.Expression `hcl:"ack_poll_interval,optional"`
	AckTimeout      hcl.Expression `hcl:"ack_timeout,optional"`
	Channel         *string        `hcl:"channel,optional"`
	Remain          hcl.Body       `hcl:",remain"`
}

// Decode reads a splunk_hec sink block body. Every problem is a diagnostic
// that points into the config file.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Delivery.Name = name
	var h hclConfig
	diags, rng := hclconf.DecodeBlock(body, ctx, &h)

	c.Endpoint, c.Token = h.Endpoint, h.Token
	hclconf.Set(&c.Index, h.Index)
	hclconf.Set(&c.Sourcetype, h.Sourcetype)
	hclconf.Set(&c.Source, h.Source)
	hclconf.Set(&c.Host, h.Host)
	hclconf.Set(&c.Channel, h.Channel)
	if h.Gzip != nil {
		c.Gzip = *h.Gzip
	}
	if h.Ack != nil {
		c.Ack = *h.Ack
	}
	var d hcl.Diagnostics
	c.AckPollInterval, d = hclconf.Duration(h.AckPollInterval, ctx, "ack_poll_interval", c.AckPollInterval)
	diags = diags.Extend(d)
	c.AckTimeout, d = hclconf.Duration(h.AckTimeout, ctx, "ack_timeout", c.AckTimeout)
	diags = diags.Extend(d)
	if !c.Ack {
		given := map[string]bool{
			"ack_poll_interval": !hclconf.IsAbsent(h.AckPollInterval),
			"ack_timeout":       !hclconf.IsAbsent(h.AckTimeout),
			"channel":           h.Channel != nil,
		}
		for _, n := range []string{"ack_poll_interval", "ack_timeout", "channel"} {
			if given[n] {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Unused " + n,
					Detail:   n + " only matters with ack = true; it is ignored.",
					Subject:  rng(n).Ptr(),
				})
			}
		}
	}

	if c.Ack {
		// timeout bounds a whole Send, acknowledgement included: make the
		// default leave room for the acknowledgement.
		c.Delivery.Timeout = max(c.Delivery.Timeout, c.AckTimeout+30*time.Second)
	}
	if h.Remain != nil {
		diags = diags.Extend(sinks.DecodeDelivery(h.Remain, ctx, &c.Delivery))
	}
	if diags.HasErrors() {
		// A missing or mistyped attribute was reported already; checking
		// the values decoded around it would only add noise.
		return c, diags
	}
	ps := c.problems()
	for i := range ps {
		// An ack_timeout left at its default is checked against timeout:
		// the mistake is there.
		if ps[i].Attr == "ack_timeout" && hclconf.IsAbsent(h.AckTimeout) {
			ps[i].Attr = "timeout"
		}
	}
	return c, diags.Extend(ps.Diagnostics(rng))
}

// Validate checks c as Decode does, for a Config built in code. New calls
// it.
func (c Config) Validate() error { return c.problems().Err(Type, c.Delivery.Name) }

// problems returns every rule c breaks. Decode turns them into diagnostics
// at the attribute, Validate into an error.
func (c Config) problems() sinks.Problems {
	var ps sinks.Problems
	add := ps.Add
	if err := checkEndpoint(c.Endpoint); err != nil {
		add("endpoint", "Invalid endpoint", "endpoint = %q: %v.", c.Endpoint, err)
	}
	switch tok := c.Token; {
	case tok == "":
		add("token", "Empty token", "token is empty (an unset variable?): HEC refuses requests without one.")
	case strings.HasPrefix(tok, "Splunk "):
		add("token", "Invalid token", `token starts with "Splunk ": give the token alone; kt writes the "Authorization: Splunk <token>" header.`)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		add("token", "Invalid token", "token contains white space or control characters (a trailing newline from a file?).")
	}
	if c.Index != "" && !validIndex(c.Index) {
		add("index", "Invalid index", "index = %q: Splunk index names hold only lowercase letters, digits, '_' and '-', and do not start with '-'.", c.Index)
	}
	for _, f := range []struct{ attr, v string }{{"sourcetype", c.Sourcetype}, {"source", c.Source}, {"host", c.Host}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			add(f.attr, "Invalid "+f.attr, "%s = %q contains control characters.", f.attr, f.v)
		}
	}
	if c.Channel != "" {
		if _, err := uuid.Parse(c.Channel); err != nil {
			add("channel", "Invalid channel", "channel = %q is not a UUID, which Splunk requires of a channel (leave it out for a random one).", c.Channel)
		}
	}
	if c.Delivery.Timeout <= 0 {
		add("timeout", "Invalid timeout", "timeout (%s) must be positive (start from NewDefaultConfig).", c.Delivery.Timeout)
	}
	if c.Ack {
		if c.AckPollInterval <= 0 || c.AckTimeout <= 0 {
			add("ack_timeout", "Invalid ack_timeout", "ack_poll_interval (%s) and ack_timeout (%s) must be positive.", c.AckPollInterval, c.AckTimeout)
		} else if c.AckPollInterval > c.AckTimeout {
			add("ack_poll_interval", "Invalid ack_poll_interval", "ack_poll_interval (%s) is above ack_timeout (%s).", c.AckPollInterval, c.AckTimeout)
		}
		if c.Delivery.Timeout <= c.AckTimeout {
			add("ack_timeout", "Invalid ack_timeout",
				"ack_timeout (%s) is not below timeout (%s), which bounds a whole Send, acknowledgement included: raise timeout (to ack_timeout + 30s, say) or lower ack_timeout.",
				c.AckTimeout, c.Delivery.Timeout)
		}
	}
	return ps
}

// checkEndpoint checks a HEC base URL.
func checkEndpoint(s string) error {
	if s == "" {
		return errors.New("empty; give the base URL of HEC, such as \"https://splunk.example:8088\"")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("the scheme must be https (or http, which sends the token in clear)")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host; write it as \"https://splunk.example:8088\"")
	case u.User != nil:
		return errors.New("credentials do not go in the URL; use token")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("a base URL has no query or fragment")
	}
	p := strings.TrimSuffix(u.Path, "/")
	for _, suffix := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0", "/services/collector/raw"} {
		if strings.HasSuffix(p, suffix) {
			return fmt.Errorf("give the base URL without %s; kt adds %s itself", suffix, eventPath)
		}
	}
	return nil
}

// validIndex reports whether s is a possible Splunk index name: lowercase
// letters, digits, '_' and '-', not starting with '-' (internal indexes
// start with '_').
func validIndex(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
