// Package elasticsearch is the sink transport that delivers kt records to
// Elasticsearch with the _bulk API, as Elastic Common Schema (ECS)
// documents, into a data stream (the default) or an index. The sinks
// Engine does the batching, retries, parking and cursor; a Transport only
// sends one batch and says how it went.
//
// Each document carries the kt record byte for byte as the ledger wrote it,
// in the string field kt.record, next to the ECS fields a SOC searches on.
// kt.record is a string rather than an object so that what Elasticsearch
// holds is exactly the line `kt verify` checks (an object would be
// re-serialized, and its members mapped dynamically: a producer's
// attributes of changing types would then conflict with the mapping and be
// refused). Exported from Elasticsearch (one kt.record per line), the
// records are what `kt verify` reads.
//
// # Wire format (wire format version 1)
//
// One batch is one request, sent by Elastic's Go transport
// (elastic-transport-go: round robin over the addresses, a failed node
// left out for a while; retries off: the Engine retries):
//
//	POST {address}/{index}/_bulk?filter_path=errors,items.*.status,items.*.error
//	     [&require_data_stream=true]            (mode = "data_stream", the default)
//	     [&pipeline={pipeline}]
//	Authorization: APIKey <api_key> | Basic <base64 of username:password>
//	Content-Type: application/x-ndjson
//	Content-Encoding: gzip                      (gzip = true, the default)
//
// The body holds two lines per record, in order, each ending in a newline:
// the action, always create with the record's idempotency key as _id, and
// the document:
//
//	{"create":{"_id":<Record.ID>}}
//	{"@timestamp":...,"ecs":{...},"event":{...},...,"kt":{...,"record":<Record.Line as a string>}}
//
// An _id longer than Elasticsearch's 512-byte limit is replaced by
// "kt-sha256-" and the hex SHA-256 of Record.ID: still the same for every
// copy of the record. A record whose line is not one JSON object in valid
// UTF-8 is not sent (it could not be held byte for byte): Send reports it
// as a permanent item error.
//
// The document of an entry (Record.Kind == KindEntry), members in this
// order, each left out when the event has no value for it:
//
//	@timestamp             Record.EventTime (the event's "time"), else received_at, else now
//	ecs.version            "8.17.0"
//	event.kind             "event"
//	event.id               Record.ID (the event id)
//	event.action           action
//	event.category         [ECS category] of kt's category, see below
//	event.outcome          outcome: "success" or "failure", else "unknown"
//	event.reason           reason
//	event.created          received_at (when kt took the event)
//	user.id, user.name     actor.id, actor.name
//	user.target.id, .name  target.id, target.name when target.type is "user"
//	source.ip              actor.ip, when it is an IP address
//	user_agent.original    actor.user_agent
//	organization.id        org_id
//	http.request.id        request_id
//	kt.kind                "entry"
//	kt.seq                 seq
//	kt.hash, kt.prev_hash  hash, prev_hash
//	kt.sig, kt.key_id      sig, key_id
//	kt.category            category, as kt names it
//	kt.actor_type          actor.type: user, api_token, system, or a producer's own word kept as given
//	kt.target.type, .id, .name   target
//	kt.correlation_id      correlation_id
//	kt.record              the line
//
// ECS allows only fixed values in event.category, so kt's category is
// mapped, and kept as it is in kt.category: authentication →
// authentication; user_management, team_management → iam; configuration,
// gateway, policy, secret → configuration; escalation, export_job, ledger
// and other → none (no event.category).
//
// Times are written as the ledger writes them, RFC 3339 UTC with six
// decimals; numbers among the strings (a numeric id) as their JSON text.
//
// A checkpoint or heartbeat record becomes
//
//	{"@timestamp":<Record.EventTime>,"ecs":{"version":"8.17.0"},
//	 "event":{"kind":"state","id":<Record.ID>,"action":"kt.checkpoint"|"kt.heartbeat"},
//	 "kt":{"kind":"checkpoint"|"heartbeat","size":<tree size>,"origin":<the checkpoint's origin line>,"record":<the line>}}
//
// Worked example: entry 1 of the ledger package's worked example, sent by
// the sink, is these two lines on the wire:
//
//	{"create":{"_id":"ev-1"}}
//
//	{"@timestamp":"2025-03-01T12:00:01.000000Z","ecs":{"version":"8.17.0"},
//	 "event":{"kind":"event","id":"ev-1","action":"auth.login","category":["authentication"],"outcome":"success"},
//	 "user":{"id":"alice"},
//	 "kt":{"kind":"entry","seq":1,
//	   "hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f",
//	   "prev_hash":"8a606a17998f6fc012b2ed85eba67c45535ebd2865912b4a8eccc167451beba1",
//	   "sig":"fSaNrahuTQb2OeAOBqL/4s3YZMRrQW+U5XMkfmww/O4TNqQ36hukyc1j0GdrmgetCjlBaE11DgO7FEqIQsiFBA==",
//	   "key_id":"kt-example+b45eaef2","category":"authentication","actor_type":"user",
//	   "record":"{\"seq\":1,\"prev_hash\":\"8a606a17998f6fc012b2ed85eba67c45535ebd2865912b4a8eccc167451beba1\",\"hash\":\"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f\",\"sig\":\"fSaNrahuTQb2OeAOBqL/4s3YZMRrQW+U5XMkfmww/O4TNqQ36hukyc1j0GdrmgetCjlBaE11DgO7FEqIQsiFBA==\",\"key_id\":\"kt-example+b45eaef2\",\"action\":\"auth.login\",\"actor\":{\"id\":\"alice\",\"type\":\"user\"},\"category\":\"authentication\",\"id\":\"ev-1\",\"outcome\":\"success\",\"time\":\"2025-03-01T12:00:01.000000Z\"}"}}
//
// # Index template
//
// With install_template = true, before its first bulk request a Transport
// puts (once; again at the next Send if it failed)
//
//	PUT {address}/_index_template/kt-{index}?create=true
//	{"index_patterns":[<index>],"priority":200,"data_stream":{} (data_stream mode),
//	 "_meta":{"managed_by":"kt","kt_template_version":1},
//	 "template":{"mappings":{"properties":{...}}}}
//
// with the types of the fields above (keyword, date, ip, long); kt.record
// and kt.sig are kept in _source only (index and doc_values off). A
// template of that name that exists already is left as it is. Priority 200
// is above the built-in logs-*-* template (100), as Elastic's integrations
// do.
//
// # Replies
//
// Send turns the reply into the error classes of package sinks:
//
//	HTTP      item status / error type              Send returns
//	200       errors=false                          nil
//	200       201, or 409 version_conflict_engine_  the item is accepted (409: it is
//	          exception                             there already, from an earlier try)
//	200       429, 5xx, 408                         retryable item error
//	200       401, 403 (security, cluster block),   retryable item error: the config, the
//	          404 (no index, no data stream),       credentials' privileges or the cluster
//	          400 index_closed_exception,           must be fixed, not the record
//	          invalid_index_name_exception,
//	          missing ingest pipeline
//	200       other 4xx (document_parsing_exception, permanent item error, with the type
//	          illegal_argument_exception, ...)      and reason
//	200       a reply that is not a bulk reply      retryable
//	400       whole request                         permanent (the Engine splits the batch)
//	401, 403                                        retryable: fix api_key or username/password
//	413                                             permanent (the Engine splits the batch)
//	429, 503  with or without Retry-After           retryable, no sooner than Retry-After
//	3xx, 404, 405, 407, 408                         retryable (wrong address, proxy, timeout)
//	other 4xx                                       permanent
//	5xx, network errors, timeouts                   retryable
//	2xx without X-Elastic-Product                   retryable: the server is not Elasticsearch
//
// The header check is the one of Elastic's clients: the first 2xx reply
// must carry "X-Elastic-Product: Elasticsearch"; once one has, the check
// is not made again.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	tpversion "github.com/elastic/elastic-transport-go/v8/elastictransport/version"

	"github.com/keeptrusts/kt/sinks"
)

// ECSVersion is the ECS version the documents follow (ecs.version).
const ECSVersion = "8.17.0"

// templateVersion is _meta.kt_template_version of the index template; it
// grows when the mapping changes.
const templateVersion = 1

// maxID is Elasticsearch's limit on the length of an _id, in bytes.
const maxID = 512

// maxReply is how much of a reply body is read: a filtered bulk reply is
// about 30 bytes per item, a few hundred for a refused one.
const maxReply = 8 << 20

var _ sinks.Transport = (*Transport)(nil)

// Transport sends batches of records to one Elasticsearch cluster. Send
// may be called from several goroutines at once; Close may be called
// twice.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	client *elastictransport.Client
	hc     *http.Transport

	productOK atomic.Bool // a 2xx reply carried X-Elastic-Product: Elasticsearch

	template     []byte // the index template body; nil without install_template
	templateName string
	templateMu   sync.Mutex
	templateDone atomic.Bool

	gz     sinks.Gzipper
	closed atomic.Bool
}

// New returns a Transport for cfg. It checks cfg, and does no network
// I/O.
func New(cfg Config, log *slog.Logger) (*Transport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, log: log.With("sink", cfg.Delivery.Key())}
	perHost := cfg.Delivery.InFlight + 1
	t.hc = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg.Delivery.TLS.Clone(), // nil: system roots
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          perHost * len(cfg.Addresses),
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	apiKey := cfg.APIKey
	if strings.Contains(apiKey, ":") {
		apiKey = base64.StdEncoding.EncodeToString([]byte(apiKey))
	}
	addrs := make([]string, len(cfg.Addresses))
	urls := make([]*url.URL, len(cfg.Addresses))
	for i, a := range cfg.Addresses {
		addrs[i] = strings.TrimRight(a, "/")
		u, err := url.Parse(addrs[i])
		if err != nil {
			return nil, t.errorf("address %q: %w", a, err)
		}
		urls[i] = u
	}
	opts := []elastictransport.Option{
		elastictransport.WithURLs(urls...),
		elastictransport.WithTransport(t.hc),
		elastictransport.WithUserAgent(userAgent),
		// The Engine retries, with backoff, and only the records that
		// failed.
		elastictransport.WithDisableRetry(),
	}
	if apiKey != "" {
		opts = append(opts, elastictransport.WithAPIKey(apiKey))
	} else if cfg.Username != "" {
		opts = append(opts, elastictransport.WithBasicAuth(cfg.Username, cfg.Password))
	}
	client, err := elastictransport.NewClient(opts...)
	if err != nil {
		return nil, t.errorf("%w", err)
	}
	t.client = client
	if cfg.InstallTemplate {
		t.templateName = "kt-" + cfg.Index
		t.template = templateBody(cfg)
	}
	if cfg.Delivery.InsecureSkipVerify {
		t.log.Warn("tls.insecure_skip_verify is on: the certificate of Elasticsearch is not checked; anyone on the path can read and alter the audit trail")
	}
	for _, a := range addrs {
		if strings.HasPrefix(a, "http://") && (cfg.APIKey != "" || cfg.Username != "") {
			t.log.Warn("address is http://: the credentials and the events travel in clear", "address", a)
		}
	}
	return t, nil
}

// Close releases idle connections. Send must not be called after Close.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.hc.CloseIdleConnections()
	return nil
}

// Send delivers recs in one _bulk request, after putting the index
// template if it is the first Send with install_template. The error
// classes are those of the package doc's table. ctx bounds the requests;
// without a deadline, Delivery.Timeout does.
func (t *Transport) Send(ctx context.Context, recs []sinks.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if t.closed.Load() {
		return t.errorf("send after Close")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.cfg.Delivery.Timeout)
		defer cancel()
	}
	if err := t.installTemplate(ctx); err != nil {
		return err
	}
	body, sent, refused := t.encode(recs, time.Now())
	if len(sent) == 0 {
		return refused
	}
	err := t.bulk(ctx, body, sent)
	return sinks.Outcome(refused, err)
}

// encode returns the request body for recs (gzipped if so configured), the
// indexes of the records in it, and the records it leaves out.
func (t *Transport) encode(recs []sinks.Record, now time.Time) (body []byte, sent []int, refused sinks.ItemErrors) {
	size := 0
	for _, r := range recs {
		size += 2*len(r.Line) + 512
	}
	buf := make([]byte, 0, size)
	sent = make([]int, 0, len(recs))
	for i, r := range recs {
		start := len(buf)
		var err error
		buf, err = appendAction(buf, r)
		if err == nil {
			buf, err = appendDoc(buf, r, now)
		}
		if err != nil {
			buf = buf[:start] // the action line goes too
			refused = append(refused, sinks.ItemError{Index: i, Err: sinks.Permanent(
				t.errorf("record %s (seq %d): %v; not sent", r.ID, r.Seq, err))})
			continue
		}
		sent = append(sent, i)
	}
	if !t.cfg.Gzip || len(sent) == 0 {
		return buf, sent, refused
	}
	return t.gz.Compress(buf), sent, refused
}

// bulkReply is a _bulk reply, as filter_path leaves it.
type bulkReply struct {
	Errors *bool                 `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

type bulkItem struct {
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// esError is the "error" object of a reply or of a bulk item.
type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

func (e *esError) String() string {
	if e == nil {
		return "no error detail"
	}
	s := e.Type
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if c := e.CausedBy; c != nil && (c.Type != e.Type || c.Reason != e.Reason) {
		s += " (caused by " + c.Type
		if c.Reason != "" {
			s += ": " + c.Reason
		}
		s += ")"
	}
	return s
}

// bulkFilter trims the reply to what Send reads.
const bulkFilter = "errors,items.*.status,items.*.error"

// bulk posts body, whose documents are those of the records recs[sent[i]],
// and classifies the reply.
func (t *Transport) bulk(ctx context.Context, body []byte, sent []int) error {
	hdr := http.Header{"Content-Type": {"application/x-ndjson"}}
	if t.cfg.Gzip {
		hdr.Set("Content-Encoding", "gzip")
	}
	q := url.Values{"filter_path": {bulkFilter}}
	if t.cfg.Pipeline != "" {
		q.Set("pipeline", t.cfg.Pipeline)
	}
	if t.cfg.Mode == ModeDataStream {
		q.Set("require_data_stream", "true")
	}
	res, err := t.do(ctx, http.MethodPost, "/"+t.cfg.Index+"/_bulk", q, hdr, body)
	if err != nil {
		return t.transportError("POST /"+t.cfg.Index+"/_bulk", err)
	}
	status, raw, err := readReply(res)
	if err != nil {
		return t.errorf("POST /%s/_bulk: reading the reply: %w", t.cfg.Index, err)
	}
	if status != http.StatusOK {
		return t.classify(status, res.Header, raw)
	}
	var rep bulkReply
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Errors == nil {
		return t.errorf("HTTP 200 but not a bulk reply (%s): is addresses an Elasticsearch?", describe(raw))
	}
	if !*rep.Errors && len(rep.Items) == 0 {
		return nil // a proxy or an older node may drop items with filter_path
	}
	if len(rep.Items) != len(sent) {
		return t.errorf("bulk reply has %d items for %d documents", len(rep.Items), len(sent))
	}
	var items sinks.ItemErrors
	for i, m := range rep.Items {
		var it bulkItem
		for _, v := range m { // one member, named after the action
			it = v
		}
		if err := t.itemError(it); err != nil {
			items = append(items, sinks.ItemError{Index: sent[i], Err: err})
		}
	}
	if len(items) == 0 {
		return nil
	}
	return items
}

// itemError classifies one bulk item: nil when the document is indexed,
// or was already.
func (t *Transport) itemError(it bulkItem) error {
	s, e := it.Status, it.Error
	typ := ""
	if e != nil {
		typ = e.Type
	}
	switch {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusConflict && typ == "version_conflict_engine_exception":
		// create of an _id that exists: an earlier try got through.
		return nil
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return t.errorf("item %d %s: the credentials may not write to %q (they need the create_doc and auto_configure index privileges), or the index is blocked; records wait, none is parked", s, e, t.cfg.Index)
	case s == http.StatusNotFound:
		return t.errorf("item 404 %s: %s; records wait, none is parked", e, t.notFoundHint())
	case s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout:
		if hint := configItemHint(e, t.cfg); hint != "" {
			return t.errorf("item %d %s: %s; records wait, none is parked", s, e, hint)
		}
		return sinks.Permanent(t.errorf("item %d %s", s, e))
	default:
		// 429, 408, 5xx and anything unexpected.
		return t.errorf("item %d %s", s, e)
	}
}

// notFoundHint says what to fix for an item 404.
func (t *Transport) notFoundHint() string {
	if t.cfg.Mode == ModeDataStream {
		if t.cfg.InstallTemplate {
			return fmt.Sprintf("%q is not a data stream (mode = \"index\" writes into a plain index)", t.cfg.Index)
		}
		return fmt.Sprintf("no index template with \"data_stream\": {} matches %q: set install_template = true, install one, or set mode = \"index\"", t.cfg.Index)
	}
	return fmt.Sprintf("index %q does not exist and may not be created automatically (action.auto_create_index)", t.cfg.Index)
}

// configItemHint says what an operator must fix for a 4xx item that is
// about the configuration or the cluster rather than the record; "" for
// the others.
func configItemHint(e *esError, cfg Config) string {
	if e == nil {
		return ""
	}
	switch {
	case e.Type == "index_closed_exception":
		return fmt.Sprintf("index %q is closed: open it", cfg.Index)
	case e.Type == "invalid_index_name_exception":
		return "fix index"
	case e.Type == "cluster_block_exception":
		return "the index or the cluster is blocked (disk watermark, read-only)"
	case strings.Contains(e.Reason, "pipeline with id [") && strings.Contains(e.Reason, "does not exist"):
		return fmt.Sprintf("the ingest pipeline %q does not exist: create it, or fix pipeline (or the index's default_pipeline)", cfg.Pipeline)
	case strings.Contains(e.Reason, "no write index is defined for alias"):
		return "the alias has no write index: set is_write_index on one of its indices"
	}
	return ""
}

// classify returns the error for a reply other than 200.
func (t *Transport) classify(status int, hdr http.Header, raw []byte) error {
	what := describe(raw)
	switch {
	case status == http.StatusBadRequest:
		return sinks.Permanent(t.errorf("HTTP 400: %s", what))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return t.errorf("HTTP %d: %s: Elasticsearch refuses the credentials; check api_key, or username and password, and their privileges: records wait, none is parked", status, what)
	case status == http.StatusRequestEntityTooLarge:
		return sinks.Permanent(t.errorf("HTTP 413: %s: the request is above http.max_content_length (or a proxy's limit); lower batch.max_bytes", what))
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return sinks.RetryAfter(t.errorf("HTTP %d: %s", status, what), sinks.ParseRetryAfter(hdr, time.Now()))
	case status >= 300 && status < 400:
		return t.errorf("HTTP %d to %q: the address redirects; give the final URL", status, hdr.Get("Location"))
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return t.errorf("HTTP %d: %s: check addresses (and a proxy's path prefix)", status, what)
	case status == http.StatusProxyAuthRequired || status == http.StatusRequestTimeout:
		return t.errorf("HTTP %d: %s", status, what)
	case status >= 400 && status < 500:
		return sinks.Permanent(t.errorf("HTTP %d: %s", status, what))
	default:
		err := t.errorf("HTTP %d: %s", status, what)
		if d := sinks.ParseRetryAfter(hdr, time.Now()); d > 0 {
			return sinks.RetryAfter(err, d)
		}
		return err
	}
}

// transportError wraps an error of the client: no reply at all, or one the
// client refused.
func (t *Transport) transportError(op string, err error) error {
	if errors.Is(err, errNotElasticsearch) {
		return t.errorf("%s: the server is not Elasticsearch: its reply has no \"X-Elastic-Product: Elasticsearch\" header (OpenSearch, a proxy that strips it, or another service); check addresses", op)
	}
	return t.errorf("%s: %w", op, sinks.StripURL(err))
}

// installTemplate puts the index template once, with install_template.
func (t *Transport) installTemplate(ctx context.Context) error {
	if t.template == nil || t.templateDone.Load() {
		return nil
	}
	t.templateMu.Lock()
	defer t.templateMu.Unlock()
	if t.templateDone.Load() {
		return nil
	}
	path := "/_index_template/" + t.templateName
	op := "PUT " + path
	hdr := http.Header{"Content-Type": {"application/json"}}
	res, err := t.do(ctx, http.MethodPut, path, url.Values{"create": {"true"}}, hdr, t.template)
	if err != nil {
		return t.transportError(op, err)
	}
	status, raw, err := readReply(res)
	if err != nil {
		return t.errorf("%s: reading the reply: %w", op, err)
	}
	exists := false
	if status == http.StatusBadRequest {
		var rep struct{ Error *esError }
		if json.Unmarshal(raw, &rep) == nil && rep.Error != nil && strings.Contains(rep.Error.Reason, "already exists") {
			exists = true
		}
	}
	switch {
	case status == http.StatusOK:
		t.log.Info("installed the index template", "template", t.templateName, "index", t.cfg.Index, "mode", string(t.cfg.Mode))
	case exists:
		t.log.Info("the index template exists already; left as it is", "template", t.templateName)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return t.errorf("%s: HTTP %d: %s: the credentials need the manage_index_templates cluster privilege, or set install_template = false and install the template yourself; records wait", op, status, describe(raw))
	default:
		// Retryable even for a 400: the records are not at fault.
		return t.errorf("%s: HTTP %d: %s; records wait", op, status, describe(raw))
	}
	t.templateDone.Store(true)
	return nil
}

// userAgent is the User-Agent of the requests.
var userAgent = "kt (elastic-transport-go/" + tpversion.Transport + "; " + runtime.Version() + ")"

// errNotElasticsearch is the error of a 2xx reply without
// X-Elastic-Product: Elasticsearch, before any reply had it.
var errNotElasticsearch = errors.New("the server is not Elasticsearch")

// do sends one request to a node (the client picks it, and sets the
// credentials) and returns the reply. Like Elastic's clients, it takes a
// 2xx reply for Elasticsearch's only if it says so, until one has.
func (t *Transport) do(ctx context.Context, method, path string, query url.Values, hdr http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL = &url.URL{Path: path, RawQuery: query.Encode()} // the client sets the node
	req.Header = hdr
	res, err := t.client.Perform(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 && !t.productOK.Load() {
		if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			_ = res.Body.Close()
			return nil, errNotElasticsearch
		}
		t.productOK.Store(true)
	}
	return res, nil
}

// readReply reads the start of a reply's body and closes it.
func readReply(res *http.Response) (int, []byte, error) {
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxReply))
	if err != nil {
		return 0, nil, err
	}
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, raw, nil
}

// describe names a reply in an error: Elasticsearch's error type and
// reason, or the start of a body that is not an Elasticsearch error (a
// proxy's page).
func describe(raw []byte) string {
	var rep struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &rep) == nil && len(rep.Error) > 0 {
		var e esError
		if json.Unmarshal(rep.Error, &e) == nil && e.Type != "" {
			return e.String()
		}
		var s string
		if json.Unmarshal(rep.Error, &s) == nil && s != "" {
			return fmt.Sprintf("%q", s)
		}
	}
	s := strings.Join(strings.Fields(string(raw)), " ")
	if s == "" {
		return "empty reply"
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("reply %q", s)
}

func (t *Transport) errorf(format string, args ...any) error {
	return fmt.Errorf("%s %s: "+format, append([]any{Type, t.cfg.Delivery.Name}, args...)...)
}

// templateBody returns the index template of cfg: kt's ECS mapping for
// cfg.Index.
func templateBody(cfg Config) []byte {
	kw := map[string]any{"type": "keyword"}
	stored := map[string]any{"type": "keyword", "index": false, "doc_values": false}
	date := map[string]any{"type": "date"}
	obj := func(props map[string]any) map[string]any { return map[string]any{"properties": props} }
	mappings := map[string]any{"properties": map[string]any{
		"@timestamp": date,
		"ecs":        obj(map[string]any{"version": kw}),
		"event": obj(map[string]any{
			"kind": kw, "id": kw, "action": kw, "category": kw, "outcome": kw, "reason": kw, "created": date,
		}),
		"user": obj(map[string]any{
			"id": kw, "name": kw,
			"target": obj(map[string]any{"id": kw, "name": kw}),
		}),
		"source":       obj(map[string]any{"ip": map[string]any{"type": "ip"}}),
		"user_agent":   obj(map[string]any{"original": kw}),
		"organization": obj(map[string]any{"id": kw}),
		"http":         obj(map[string]any{"request": obj(map[string]any{"id": kw})}),
		"kt": obj(map[string]any{
			"kind": kw, "seq": map[string]any{"type": "long"}, "size": map[string]any{"type": "long"},
			"hash": kw, "prev_hash": kw, "sig": stored, "key_id": kw,
			"category": kw, "actor_type": kw,
			"target":         obj(map[string]any{"type": kw, "id": kw, "name": kw}),
			"correlation_id": kw, "origin": kw,
			"record": stored,
		}),
	}}
	tmpl := map[string]any{
		"index_patterns": []string{cfg.Index},
		"priority":       200,
		"_meta": map[string]any{
			"managed_by":          "kt",
			"description":         "kt audit records: ECS fields, and the ledger line in kt.record",
			"kt_template_version": templateVersion,
			"ecs_version":         ECSVersion,
		},
		"template": map[string]any{"mappings": mappings},
	}
	if cfg.Mode == ModeDataStream {
		tmpl["data_stream"] = map[string]any{}
	}
	b, _ := json.Marshal(tmpl) // maps, strings and numbers: cannot fail
	return b
}
