package elasticsearch

import (
	"errors"
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/sinks"
)

// Type is the sink's type label: sink "elasticsearch" "NAME" { ... }.
const Type = "elasticsearch"

// Mode says what Index names: a data stream or a plain index.
type Mode string

const (
	// ModeDataStream writes into a data stream: every bulk request carries
	// require_data_stream=true, so a write that would create a plain index
	// instead (no index template with "data_stream": {} matches Index)
	// fails, and is retried, rather than going unnoticed; the template
	// that install_template puts has "data_stream": {}.
	ModeDataStream Mode = "data_stream"
	// ModeIndex writes into a plain index (or an alias with a write
	// index). The _id dedupe covers the whole index, where a data stream's
	// covers only its current backing index.
	ModeIndex Mode = "index"
)

// Config is the `sink "elasticsearch" "NAME" { ... }` block:
//
//	sink "elasticsearch" "soc" {
//	  addresses = ["https://es1.example:9200", "https://es2.example:9200"]
//	  index     = "logs-keeptrusts.audit-default"   # the default
//	  mode      = "data_stream"                     # or "index"; the default is data_stream
//	  api_key   = env("KT_ES_API_KEY")              # or username + password
//	  # username = "kt_writer"
//	  # password = env("KT_ES_PASSWORD")
//	  install_template = false                      # PUT an index template with kt's ECS mapping
//	  pipeline  = ""                                # ingest pipeline
//	  gzip      = true
//	  # and the shared blocks and attributes of sinks.Delivery:
//	  # batch {...} retry {...} tls {...} in_flight timeout heartbeat_interval
//	}
type Config struct {
	// Delivery holds the shared batch, retry, tls, in_flight, timeout and
	// heartbeat_interval settings; Delivery.Name is the block's name.
	Delivery sinks.Delivery

	// Addresses are the base URLs of the nodes requests go to, round
	// robin, such as "https://es1.example:9200" (a path prefix is allowed,
	// for a reverse proxy). An http:// address is accepted but sends the
	// credentials, and the events, in clear.
	Addresses []string
	// Index is the data stream, index or alias the documents go to.
	Index string
	// Mode says whether Index is a data stream or a plain index.
	Mode Mode

	// APIKey is an Elasticsearch API key: the "encoded" value that the
	// create API key call returns (base64 of "id:api_key"), or "id:api_key"
	// itself, which New encodes. It is sent as "Authorization: APIKey
	// <key>".
	APIKey string
	// Username and Password are for HTTP basic authentication; they and
	// APIKey exclude each other.
	Username string
	Password string

	// InstallTemplate makes the sink put an index template for Index, with
	// kt's ECS mapping (and "data_stream": {} in data_stream mode), before
	// its first bulk request. It does not replace a template of the same
	// name that exists already.
	InstallTemplate bool
	// Pipeline is the ingest pipeline every document goes through; "" for
	// the index's default.
	Pipeline string
	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool
}

// Defaults of the optional attributes.
const (
	DefaultIndex = "logs-keeptrusts.audit-default"
	DefaultMode  = ModeDataStream
)

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	d := sinks.NewDelivery(Type, "")
	// Elasticsearch indexes bulk requests in parallel and dedupes on _id,
	// so more requests in flight cost nothing in correctness; building the
	// ECS documents then runs on all cores (a drain at 1.7× instead of
	// 1.2× the ingest rate, docs/BENCHMARKS.md).
	d.InFlight = DefaultInFlight
	return Config{
		Delivery: d,
		Index:    DefaultIndex,
		Mode:     DefaultMode,
		Gzip:     true,
	}
}

// DefaultInFlight is the elasticsearch sink's default in_flight.
const DefaultInFlight = 8

type hclConfig struct {
	Addresses       []string `hcl:"addresses"`
	Index           *string  `hcl:"index,optional"`
	Mode            *string  `hcl:"mode,optional"`
	APIKey          *string  `hcl:"api_key,optional"`
	Username        *string  `hcl:"username,optional"`
	Password        *string  `hcl:"password,optional"`
	InstallTemplate *bool    `hcl:"install_template,optional"`
	Pipeline        *string  `hcl:"pipeline,optional"`
	Gzip            *bool    `hcl:"gzip,optional"`
	Remain          hcl.Body `hcl:",remain"`
}

// Decode reads an elasticsearch sink block body. Every problem is a
// diagnostic that points into the config file.
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Delivery.Name = name
	var h hclConfig
	diags, rng := hclconf.DecodeBlock(body, ctx, &h)

	c.Addresses = h.Addresses
	hclconf.Set(&c.Index, h.Index)
	if h.Mode != nil {
		c.Mode = Mode(*h.Mode)
	}
	hclconf.Set(&c.APIKey, h.APIKey)
	hclconf.Set(&c.Username, h.Username)
	hclconf.Set(&c.Password, h.Password)
	hclconf.Set(&c.Pipeline, h.Pipeline)
	if h.InstallTemplate != nil {
		c.InstallTemplate = *h.InstallTemplate
	}
	if h.Gzip != nil {
		c.Gzip = *h.Gzip
	}
	if h.Remain != nil {
		diags = diags.Extend(sinks.DecodeDelivery(h.Remain, ctx, &c.Delivery))
	}
	if diags.HasErrors() {
		// A missing or mistyped attribute was reported already; checking
		// the values decoded around it would only add noise.
		return c, diags
	}
	return c, diags.Extend(c.problems().Diagnostics(rng))
}

// Validate checks c as Decode does, for a Config built in code. New calls
// it.
func (c Config) Validate() error { return c.problems().Err(Type, c.Delivery.Name) }

// problems returns every rule c breaks. Decode turns them into diagnostics
// at the attribute, Validate into an error.
func (c Config) problems() sinks.Problems {
	var ps sinks.Problems
	add := ps.Add
	if len(c.Addresses) == 0 {
		add("addresses", "Invalid addresses", `addresses is empty; give the base URL of at least one node, such as ["https://es.example:9200"].`)
	}
	seen := map[string]bool{}
	for _, a := range c.Addresses {
		if err := checkAddress(a); err != nil {
			add("addresses", "Invalid addresses", "address %q: %v.", a, err)
		} else if seen[a] {
			add("addresses", "Invalid addresses", "address %q is listed twice.", a)
		}
		seen[a] = true
	}
	if err := checkIndex(c.Index); err != nil {
		add("index", "Invalid index", "index = %q: %v.", c.Index, err)
	} else if c.Mode == ModeDataStream && strings.HasPrefix(c.Index, ".ds-") {
		add("index", "Invalid index", "index = %q is a backing index; give the data stream's name.", c.Index)
	}
	switch c.Mode {
	case ModeDataStream, ModeIndex:
	default:
		add("mode", "Invalid mode", `mode = %q: must be "data_stream" or "index".`, c.Mode)
	}
	switch {
	case c.APIKey != "" && (c.Username != "" || c.Password != ""):
		add("api_key", "Conflicting credentials", "give api_key, or username and password, not both.")
	case c.Password != "" && c.Username == "":
		add("password", "Missing username", "password is set but username is not.")
	case c.Username != "" && c.Password == "":
		add("password", "Empty password", "username is set but password is empty (an unset variable?).")
	}
	switch k := c.APIKey; {
	case strings.HasPrefix(strings.ToLower(k), "apikey "):
		add("api_key", "Invalid api_key", `api_key starts with "ApiKey ": give the key alone; kt writes the Authorization header.`)
	case strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		add("api_key", "Invalid api_key", "api_key contains white space or control characters (a trailing newline from a file?).")
	}
	if strings.ContainsFunc(c.Username, func(r rune) bool { return r < ' ' || r == 0x7f || r == ':' }) {
		add("username", "Invalid username", "username contains ':' or control characters.")
	}
	if strings.ContainsFunc(c.Pipeline, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '?' || r == '#' }) {
		add("pipeline", "Invalid pipeline", "pipeline = %q contains white space, control characters, '/', '?' or '#'.", c.Pipeline)
	}
	if c.Delivery.Timeout <= 0 {
		add("timeout", "Invalid timeout", "timeout (%s) must be positive (start from NewDefaultConfig).", c.Delivery.Timeout)
	}
	return ps
}

// checkAddress checks the base URL of a node.
func checkAddress(s string) error {
	if s == "" {
		return errors.New(`empty; give a base URL, such as "https://es.example:9200"`)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("the scheme must be https (or http, which sends the credentials in clear)")
	case u.Host == "" || u.Hostname() == "":
		return errors.New(`no host; write it as "https://es.example:9200"`)
	case u.User != nil:
		return errors.New("credentials do not go in the URL; use api_key, or username and password")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("a base URL has no query or fragment")
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/_bulk"):
		return errors.New("give the base URL without /_bulk; kt adds /<index>/_bulk itself")
	}
	return nil
}

// checkIndex checks a data stream, index or alias name against the rules
// of Elasticsearch (date math is not supported).
func checkIndex(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 255:
		return errors.New("longer than 255 bytes")
	case s == "." || s == "..":
		return errors.New(`"." and ".." are not index names`)
	case strings.ContainsAny(s[:1], "-_+"):
		return errors.New("an index name does not start with '-', '_' or '+'")
	case strings.ToLower(s) != s:
		return errors.New("index names are lowercase")
	case strings.ContainsAny(s, "\\/*?\"<>|,#: "):
		return errors.New(`an index name holds none of \ / * ? " < > | , # : or space (date math is not supported)`)
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("control characters")
	}
	return nil
}
