// Package splunkhec is the sink transport that delivers kt records to
// Splunk's HTTP Event Collector (HEC) with the JSON event protocol, and
// optionally confirms them with indexer acknowledgement. The sinks Engine
// does the batching, retries, parking and cursor; a Transport only sends
// one batch and says how it went.
//
// Each record is sent whole, as the event of its envelope: the entry with
// its ledger fields (seq, prev_hash, hash, sig, key_id), or the checkpoint
// or heartbeat record, byte for byte as the ledger wrote it. Exported from
// Splunk as NDJSON, the events are what `kt verify` reads.
//
// # Wire format (HEC JSON event protocol)
//
// One batch is one request:
//
//	POST {endpoint}/services/collector/event
//	Authorization: Splunk <token>
//	Content-Type: application/json
//	Content-Encoding: gzip                     (gzip = true, the default)
//	X-Splunk-Request-Channel: <channel UUID>   (ack = true)
//
// The body holds one envelope per record, in order, each followed by a
// newline; HEC reads concatenated JSON objects, with no array and no
// commas:
//
//	{"time":<t>,"host":<host>,"source":<source>,"sourcetype":<sourcetype>,"index":<index>,"event":<line>,"fields":{"kt_id":<id>,"kt_seq":"<seq>","kt_record":<kind>}}
//
// where
//
//   - time is Record.EventTime in Unix seconds with three decimals (milliseconds,
//     truncated); the time of sending when Record.EventTime is zero or before
//     1970.
//   - host, source, sourcetype and index come from the config; an empty one
//     is left out, and the token's default applies.
//   - event is Record.Line, verbatim. A record whose line is not one JSON
//     object is not sent (it would break the framing of the batch): Send
//     reports it as a permanent item error.
//   - fields are indexed fields: kt_id is Record.ID, the idempotency key
//     (`| dedup kt_id` removes what at-least-once delivery doubled), kt_seq
//     is Record.Seq as a decimal string (indexed fields are strings), and
//     kt_record is "entry", "checkpoint" or "heartbeat".
//
// Worked example: entry 1 of the ledger package's worked example, sent by
// the sink with host = "cp-1", index = "audit" and the default source and
// sourcetype, is this envelope (one line on the wire):
//
//	{"time":1740830401.000,"host":"cp-1","source":"kt","sourcetype":"keeptrusts:audit","index":"audit",
//	 "event":{"seq":1,
//	   "prev_hash":"8a606a17998f6fc012b2ed85eba67c45535ebd2865912b4a8eccc167451beba1",
//	   "hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f",
//	   "sig":"fSaNrahuTQb2OeAOBqL/4s3YZMRrQW+U5XMkfmww/O4TNqQ36hukyc1j0GdrmgetCjlBaE11DgO7FEqIQsiFBA==",
//	   "key_id":"kt-example+b45eaef2","action":"auth.login","actor":{"id":"alice","type":"user"},
//	   "category":"authentication","id":"ev-1","outcome":"success","time":"2025-03-01T12:00:01.000000Z"},
//	 "fields":{"kt_id":"ev-1","kt_seq":"1","kt_record":"entry"}}
//
// # Replies
//
// HEC answers {"text":"Success","code":0} (plus "ackId":N with indexer
// acknowledgement), or an error {"text":...,"code":N} with, for a refused
// event, "invalid-event-number":N. HEC reads a batch in order and stops at
// the first bad event: the events before it are indexed, the rest are not.
// Send turns the reply into the error classes of package sinks:
//
//	HTTP  HEC code                              Send returns
//	200   0 Success                             nil (after the ack, with ack = true)
//	200   anything else, or not a HEC reply     retryable (is endpoint a HEC?)
//	400   6, 12, 13, 15 with invalid-event-N    ItemErrors: N permanent, the ones after N retryable
//	400   7 incorrect index, 10 / 11 channel,   retryable: the config or the token is wrong,
//	      14 ACK disabled, 16                   not the records; the error says what to fix
//	400   any other (5 no data, 6 without N...) Permanent (the Engine bisects the batch)
//	401   2 token required, 3 invalid auth      retryable: never park on credentials
//	403   1 token disabled, 4 invalid token     retryable
//	413   request too large                     Permanent (the Engine bisects the batch)
//	429, 503 (9 server busy, 18-20 unhealthy)   RetryAfter with the Retry-After header, if any
//	3xx, 404, 405, 407, 408                     retryable: the endpoint is wrong or busy
//	other 4xx                                   Permanent
//	other 5xx, network errors, timeouts         retryable (RetryAfter when Retry-After is given)
//
// # Indexer acknowledgement
//
// With ack = true every request carries the channel header, and a 200
// reply must carry an ackId. The batch counts as delivered only when
//
//	POST {endpoint}/services/collector/ack?channel=<channel>
//	{"acks":[N]}
//
// answers {"acks":{"N":true}}. Send polls every ack_poll_interval; after
// ack_timeout it returns a retryable error and the Engine sends the batch
// again (Splunk may then hold it twice; dedup on kt_id). Each Send polls
// its own ackId. If the token has acknowledgement off, HEC replies without
// an ackId: the Transport logs a warning once and takes HTTP 200 as
// delivery.
package splunkhec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/keeptrusts/kt/internal/jsonenc"
	"github.com/keeptrusts/kt/sinks"
)

// HEC paths and headers (wire format).
const (
	eventPath     = "/services/collector/event"
	ackPath       = "/services/collector/ack"
	channelHeader = "X-Splunk-Request-Channel"
)

// maxReply is how much of a reply body is read; HEC replies are tiny.
const maxReply = 64 << 10

var _ sinks.Transport = (*Transport)(nil)

// Transport sends batches of records to one HEC endpoint. Send may be
// called from several goroutines at once; Close may be called twice.
type Transport struct {
	cfg      Config
	log      *slog.Logger
	client   *http.Client
	eventURL string
	ackURL   string
	auth     string
	channel  string
	meta     []byte // the constant members of every envelope: ,"host":...,"index":...

	plain  sync.Pool // *[]byte: the uncompressed body of a gzipped batch
	gz     sinks.Gzipper
	noAck  sync.Once
	closed atomic.Bool
}

// New returns a Transport for cfg. It does no network I/O: the first
// connection is made by the first Send. log may be nil.
func New(cfg Config, log *slog.Logger) (*Transport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.Endpoint, "/")
	t := &Transport{
		cfg:      cfg,
		log:      log.With("sink", cfg.Delivery.Key()),
		eventURL: base + eventPath,
		auth:     "Splunk " + cfg.Token,
		channel:  cfg.Channel,
	}
	if t.channel == "" {
		t.channel = uuid.NewString()
	}
	t.ackURL = base + ackPath + "?channel=" + url.QueryEscape(t.channel)
	t.meta = appendMeta(nil, cfg)

	perHost := 2*cfg.Delivery.InFlight + 1 // a request and an ack poll per Send, and one spare
	t.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       cfg.Delivery.TLS.Clone(), // nil: system roots
			TLSHandshakeTimeout:   10 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          perHost,
			MaxIdleConnsPerHost:   perHost,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// A redirect is an endpoint to fix, not one to follow with the
		// token.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.Delivery.InsecureSkipVerify {
		t.log.Warn("tls.insecure_skip_verify is on: the SIEM's certificate is not checked")
	}
	if strings.HasPrefix(base, "http://") {
		t.log.Warn("endpoint is http://: the HEC token and the events travel in clear", "endpoint", base)
	}
	return t, nil
}

// Channel returns the X-Splunk-Request-Channel the Transport sends with
// ack = true.
func (t *Transport) Channel() string { return t.channel }

// Close releases idle connections. Send must not be called after Close.
func (t *Transport) Close() error {
	t.closed.Store(true)
	t.client.CloseIdleConnections()
	return nil
}

// Send delivers recs in one HEC request, and with ack = true waits for
// their acknowledgement. The error classes are those of the package doc's
// table. ctx bounds the request and the acknowledgement; without a
// deadline, Delivery.Timeout does.
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
	body, sent, refused := t.encode(recs, time.Now())
	if len(sent) == 0 {
		return refused
	}
	rep, err := t.post(ctx, body, sent)
	if err == nil && t.cfg.Ack {
		err = t.confirm(ctx, rep)
	}
	return sinks.Outcome(refused, err)
}

// encode returns the request body for recs (gzipped if so configured), the
// indexes of the records in it, and the records it leaves out.
func (t *Transport) encode(recs []sinks.Record, now time.Time) (body []byte, sent []int, refused sinks.ItemErrors) {
	size := 0
	for _, r := range recs {
		size += len(r.Line) + len(r.ID) + len(t.meta) + 96
	}
	var buf []byte
	var pooled *[]byte
	if t.cfg.Gzip {
		// The plain body never reaches net/http, so it can be reused.
		pooled, _ = t.plain.Get().(*[]byte)
		if pooled == nil {
			pooled = new([]byte)
		}
		buf = (*pooled)[:0]
		defer func() { *pooled = buf[:0]; t.plain.Put(pooled) }()
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	sent = make([]int, 0, len(recs))
	for i, r := range recs {
		if !isObject(r.Line) {
			refused = append(refused, sinks.ItemError{Index: i, Err: sinks.Permanent(
				t.errorf("record %s (seq %d): the line is not one JSON object; not sent", r.ID, r.Seq))})
			continue
		}
		sent = append(sent, i)
		buf = appendEnvelope(buf, t.meta, r, now)
	}
	if !t.cfg.Gzip || len(sent) == 0 {
		return buf, sent, refused
	}
	return t.gz.Compress(buf), sent, refused
}

// appendMeta appends the envelope members that every record shares.
func appendMeta(dst []byte, cfg Config) []byte {
	for _, m := range []struct{ k, v string }{
		{"host", cfg.Host}, {"source", cfg.Source}, {"sourcetype", cfg.Sourcetype}, {"index", cfg.Index},
	} {
		if m.v == "" {
			continue
		}
		dst = append(dst, `,"`...)
		dst = append(dst, m.k...)
		dst = append(dst, `":`...)
		dst = jsonenc.AppendAnyString(dst, m.v)
	}
	return dst
}

// appendEnvelope appends the HEC envelope of r and a newline.
func appendEnvelope(dst, meta []byte, r sinks.Record, now time.Time) []byte {
	ts := r.EventTime()
	if ts.IsZero() || ts.Unix() < 0 {
		ts = now
	}
	ms := ts.UnixMilli()
	dst = append(dst, `{"time":`...)
	dst = strconv.AppendInt(dst, ms/1000, 10)
	dst = append(dst, '.', byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10))
	dst = append(dst, meta...)
	dst = append(dst, `,"event":`...)
	dst = append(dst, r.Line...)
	dst = append(dst, `,"fields":{"kt_id":`...)
	dst = jsonenc.AppendAnyString(dst, r.ID)
	dst = append(dst, `,"kt_seq":"`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `","kt_record":"`...)
	dst = append(dst, r.Kind.String()...)
	dst = append(dst, "\"}}\n"...)
	return dst
}

// isObject reports whether line is exactly one JSON object.
func isObject(line []byte) bool {
	// sinks.Record.Line is one JSON object by contract (kt wrote it); this
	// cheap framing check guards the batch against a broken contract
	// without paying for a full JSON validation per record.
	return jsonenc.OneObject(line)
}

// reply is a HEC reply body.
type reply struct {
	Text         string  `json:"text"`
	Code         *int    `json:"code"`
	InvalidEvent *int    `json:"invalid-event-number"`
	AckID        *uint64 `json:"ackId"`
}

func (r reply) String() string {
	if r.Code == nil {
		return fmt.Sprintf("%q", r.Text)
	}
	return fmt.Sprintf("Splunk code %d %q", *r.Code, r.Text)
}

// post sends body, whose events are the records recs[sent[i]], and
// classifies the reply.
func (t *Transport) post(ctx context.Context, body []byte, sent []int) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.eventURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, t.errorf("%w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if t.cfg.Ack {
		req.Header.Set(channelHeader, t.channel)
	}
	status, hdr, raw, err := t.do(req)
	if err != nil {
		return reply{}, err
	}
	rep, ok := parseReply(raw)
	if status == http.StatusOK {
		if !ok || rep.Code == nil || *rep.Code != 0 {
			return rep, t.errorf("HTTP 200 but not a HEC success reply (%s): is endpoint a Splunk HEC?", describe(rep, ok, raw))
		}
		return rep, nil
	}
	if status == http.StatusBadRequest && ok && rep.Code != nil && rep.InvalidEvent != nil && eventCode(*rep.Code) {
		if n := *rep.InvalidEvent; n >= 0 && n < len(sent) {
			return rep, t.partial(sent, n, rep)
		}
	}
	return rep, t.classify(status, hdr, rep, ok, raw)
}

// do sends req with the token and returns the status, headers and the
// start of the body of the reply.
func (t *Transport) do(req *http.Request) (int, http.Header, []byte, error) {
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("User-Agent", "kt")
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, nil, t.errorf("POST %s: %w", req.URL.Path, sinks.StripURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return 0, nil, nil, t.errorf("POST %s: reading the reply: %w", req.URL.Path, err)
	}
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReply))
	return resp.StatusCode, resp.Header, raw, nil
}

// eventCode reports whether a 400 with this code is about one event, so
// that invalid-event-number can be trusted.
func eventCode(code int) bool {
	switch code {
	case 6, 12, 13, 15: // invalid data format, event field required, event blank, indexed fields
		return true
	}
	return false
}

// partial returns the ItemErrors of a batch that HEC refused at event n:
// the events before n are indexed, n is refused, the ones after were not
// read.
func (t *Transport) partial(sent []int, n int, rep reply) error {
	items := make(sinks.ItemErrors, 0, len(sent)-n)
	items = append(items, sinks.ItemError{Index: sent[n], Err: sinks.Permanent(
		t.errorf("HTTP 400: %s: event %d of the batch refused", rep, n))})
	if rest := len(sent) - n - 1; rest > 0 {
		after := t.errorf("HTTP 400: not indexed: HEC stopped at event %d of the batch", n)
		for _, i := range sent[n+1:] {
			items = append(items, sinks.ItemError{Index: i, Err: after})
		}
	}
	return items
}

// classify returns the error for a reply other than success or a partial
// refusal.
func (t *Transport) classify(status int, hdr http.Header, rep reply, ok bool, raw []byte) error {
	what := describe(rep, ok, raw)
	code := -1
	if ok && rep.Code != nil {
		code = *rep.Code
	}
	switch {
	case status == http.StatusBadRequest:
		if hint := configHint(code, t.cfg); hint != "" {
			return t.errorf("HTTP 400: %s: %s", what, hint)
		}
		return sinks.Permanent(t.errorf("HTTP 400: %s", what))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return t.errorf("HTTP %d: %s: HEC refuses the token; fix token (or enable it in Splunk): records wait, none is parked", status, what)
	case status == http.StatusRequestEntityTooLarge:
		return sinks.Permanent(t.errorf("HTTP 413: %s: the request is above HEC's max_content_length; lower batch.max_bytes", what))
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return sinks.RetryAfter(t.errorf("HTTP %d: %s", status, what), sinks.ParseRetryAfter(hdr, time.Now()))
	case status >= 300 && status < 400:
		return t.errorf("HTTP %d to %q: endpoint redirects; give the final URL", status, hdr.Get("Location"))
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return t.errorf("HTTP %d: %s: no HEC at %s; check endpoint", status, what, t.eventURL)
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

// configHint says what an operator must fix for a 400 that is about the
// configuration or the token rather than the records; "" for the others.
func configHint(code int, cfg Config) string {
	switch code {
	case 7:
		return fmt.Sprintf("the token may not write to index %q: fix index, or the token's allowed indexes", cfg.Index)
	case 10:
		return "the token has indexer acknowledgement on: set ack = true, or turn it off for the token"
	case 11:
		return "HEC refuses the channel: leave channel out, or give a UUID"
	case 14:
		return "the token has indexer acknowledgement off: set ack = false, or turn it on for the token"
	case 16:
		return "HEC refuses the way the token is passed"
	}
	return ""
}

// confirm waits until HEC acknowledges the ackId of rep.
func (t *Transport) confirm(ctx context.Context, rep reply) error {
	if rep.AckID == nil {
		t.noAck.Do(func() {
			t.log.Warn("ack = true but HEC replies without an ackId: the token has indexer acknowledgement off; HTTP 200 counts as delivered")
		})
		return nil
	}
	id := *rep.AckID
	wait, cancel := context.WithTimeout(ctx, t.cfg.AckTimeout)
	defer cancel()
	tick := time.NewTicker(t.cfg.AckPollInterval)
	defer tick.Stop()
	body := []byte(`{"acks":[` + strconv.FormatUint(id, 10) + `]}`)
	var last error
	for {
		select {
		case <-wait.Done():
			if ctx.Err() != nil {
				return t.errorf("ackId %d on channel %s: %w", id, t.channel, ctx.Err())
			}
			msg := fmt.Sprintf("ackId %d on channel %s not acknowledged within ack_timeout (%s); the batch is sent again", id, t.channel, t.cfg.AckTimeout)
			if last != nil {
				return t.errorf("%s; last poll: %w", msg, last)
			}
			return t.errorf("%s", msg)
		case <-tick.C:
		}
		done, err := t.queryAck(wait, body, id)
		if err != nil {
			if wait.Err() == nil {
				last = err
			}
			continue
		}
		if done {
			return nil
		}
	}
}

// queryAck asks HEC whether ackId id is indexed.
func (t *Transport) queryAck(ctx context.Context, body []byte, id uint64) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.ackURL, bytes.NewReader(body))
	if err != nil {
		return false, t.errorf("%w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(channelHeader, t.channel)
	status, hdr, raw, err := t.do(req)
	if err != nil {
		return false, err
	}
	if status != http.StatusOK {
		rep, ok := parseReply(raw)
		return false, t.classify(status, hdr, rep, ok, raw)
	}
	var acks struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(raw, &acks); err != nil || acks.Acks == nil {
		return false, t.errorf("ack reply %.200q is not {\"acks\":{...}}", raw)
	}
	return acks.Acks[strconv.FormatUint(id, 10)], nil
}

// parseReply decodes a HEC reply body.
func parseReply(raw []byte) (reply, bool) {
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return reply{}, false
	}
	return r, true
}

// describe names a reply in an error: Splunk's code and text, or the start
// of a body that is not a HEC reply (a proxy's page).
func describe(rep reply, ok bool, raw []byte) string {
	if ok && (rep.Code != nil || rep.Text != "") {
		return rep.String()
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
