// Package hectest is an in-test Splunk HTTP Event Collector: a server on
// 127.0.0.1 that answers like HEC does, records everything it is sent, and
// can be told to fail. No real Splunk can run on a build machine; this
// server follows Splunk's documented protocol ("Format events for HTTP
// Event Collector", the HEC status codes of "Troubleshoot HTTP Event
// Collector", and "About HTTP Event Collector Indexer Acknowledgment") so
// that the splunk_hec sink is tested against the protocol rather than
// against itself. It is a normal package, not a _test file, so that e2e
// tests and benchmarks can use it.
//
// # What it reproduces
//
//   - Endpoints: POST /services/collector/event (also /services/collector
//     and /services/collector/event/1.0), POST /services/collector/ack, GET
//     /services/collector/health; 404 {"text":"The requested URL was not
//     found on this server.","code":404} elsewhere.
//   - Authentication by "Authorization: Splunk <token>": no header is 401
//     code 2 "Token is required", another scheme 401 code 3 "Invalid
//     authorization", a wrong token 403 code 4 "Invalid token", a disabled
//     token (DisableToken) 403 code 1 "Token disabled".
//   - The body: "Content-Encoding: gzip" is inflated; JSON event objects are
//     read one after the other, with any white space between them. Reading
//     stops at the first bad event, which gets a 400 with its 0-based
//     "invalid-event-number"; the events before it are indexed (recorded),
//     as Splunk does. Bad JSON, a non-object, a "time" that is not a number
//     (or a numeric string), or a host/source/sourcetype/index that is not
//     a string is code 6 "Invalid data format"; no "event" is code 12
//     "Event field is required"; a null or blank string "event" is code 13
//     "Event field cannot be blank"; "fields" that is not an object of
//     strings, numbers or arrays of them is code 15 "Error in handling
//     indexed fields"; an index outside Options.Indexes is code 7 "Incorrect
//     index"; an empty body is code 5 "No data". A success is 200
//     {"text":"Success","code":0}.
//   - Indexer acknowledgement (Options.Ack): the channel, from the
//     X-Splunk-Request-Channel header or the channel query parameter, is
//     required (400 code 10 "Data channel is missing") and must be a UUID
//     (400 code 11 "Invalid data channel"); every accepted request gets the
//     next ackId of its channel, from 0, in {"text":"Success","code":0,
//     "ackId":N}. POST /services/collector/ack with {"acks":[N,...]} answers
//     {"acks":{"N":true|false}}; an ackId reported true is forgotten, as
//     Splunk does, and an unknown one is false. Without Options.Ack the ack
//     endpoint is 400 code 14 "ACK is disabled".
//   - A request body larger than Options.MaxContentLength on the wire is 413.
//
// # Where it differs
//
//   - Basic authentication and the token in the query string are not
//     accepted; nor are /services/collector/raw, multiple tokens or a
//     token's default index, source or sourcetype (events keep what they
//     were sent with).
//   - "Indexed" means recorded in memory at once: an ackId is true as soon
//     as it is queried (or after DelayAcks), never lost by an indexer.
//   - Splunk's 413 body and the body of a bad gzip stream are not
//     documented; this server answers {"text":"Content-Length of N too
//     large (maximum is M)","code":6} and 400 code 6 "Invalid data format".
//   - Failures injected with FailNext apply to event requests only, before
//     authentication; RefuseIDs refuses an event whose fields.kt_id is in
//     the set with 400 code 6 and its "invalid-event-number", the way
//     Splunk refuses a malformed one; RefuseRequestsWith refuses a whole
//     request holding such an event with 400 code 6 and no event number,
//     as Splunk answers a body it cannot read, and indexes none of it.
package hectest

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Options configure a Server; the zero value is a plain HTTP HEC with a
// random token and acknowledgement off.
type Options struct {
	Token            string   // the accepted token; "" = a random UUID
	Ack              bool     // the token has indexer acknowledgement on
	TLS              bool     // serve HTTPS with a self-signed certificate (see CertPool)
	Indexes          []string // indexes the token may write to; nil = any
	MaxContentLength int64    // largest request body on the wire; 0 = 800 MiB, Splunk's default
}

// Event is one indexed event, as it was sent.
type Event struct {
	Time       string // the "time" member as sent (a number's text, a string's value); "" if none
	Host       string
	Source     string
	Sourcetype string
	Index      string
	Event      json.RawMessage            // the "event" member, byte for byte
	Fields     map[string]json.RawMessage // the "fields" member
	Channel    string                     // the request's channel, if any
	Request    int                        // index into Requests
}

// Field returns the indexed field name as a string ("" if it is absent or
// not a string).
func (e Event) Field(name string) string {
	var s string
	_ = json.Unmarshal(e.Fields[name], &s)
	return s
}

// ID returns the kt_id indexed field.
func (e Event) ID() string { return e.Field("kt_id") }

// Request is one request the server answered.
type Request struct {
	Method    string
	Path      string
	Query     string
	Header    http.Header
	WireBytes int    // body bytes as received (compressed when gzipped)
	Body      []byte // the body, inflated
	Status    int
	Reply     []byte
}

// Failure is a reply that FailNext sends instead of handling a request.
type Failure struct {
	Status     int
	Code       int    // HEC code, in {"text":Text,"code":Code}
	Text       string //
	RetryAfter string // Retry-After header, if not ""
	Raw        string // if not "", the body instead of the JSON reply (a proxy's page)
}

// Failures that Splunk, or a load balancer in front of it, sends.
var (
	ServerBusy      = Failure{Status: http.StatusServiceUnavailable, Code: 9, Text: "Server is busy"}
	QueuesFull      = Failure{Status: http.StatusServiceUnavailable, Code: 18, Text: "HEC is unhealthy, queues are full"}
	InternalError   = Failure{Status: http.StatusInternalServerError, Code: 8, Text: "Internal server error"}
	TooManyRequests = Failure{Status: http.StatusTooManyRequests, Raw: "Too Many Requests\n"}
	BadGateway      = Failure{Status: http.StatusBadGateway, Raw: "<html><body><h1>502 Bad Gateway</h1></body></html>\n"}
)

// Server is a running in-test HEC. Its methods are safe for concurrent use.
type Server struct {
	// Token is the token the server accepts.
	Token string

	opts Options
	addr string
	tls  *tls.Config
	pool *x509.CertPool

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	events   []Event
	requests []Request
	fail     []Failure
	refuse   map[string]bool
	refuseRq map[string]bool
	disabled bool
	ackDelay time.Duration
	dropAcks int
	channels map[string]*channel
}

type channel struct {
	next    uint64
	pending map[uint64]pendingAck
}

type pendingAck struct {
	readyAt time.Time
	dropped bool
}

// New starts a server on 127.0.0.1 with a free port; it stops when the test
// ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{Token: opts.Token, opts: opts, refuse: map[string]bool{}, refuseRq: map[string]bool{}, channels: map[string]*channel{}}
	if s.Token == "" {
		s.Token = uuid.NewString()
	}
	if s.opts.MaxContentLength == 0 {
		s.opts.MaxContentLength = 800 << 20
	}
	if opts.TLS {
		cert, pool, err := selfSigned()
		if err != nil {
			tb.Fatalf("hectest: %v", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.pool = pool
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("hectest: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// URL returns the base URL, the sink's endpoint: "http://127.0.0.1:PORT"
// (https with Options.TLS).
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// CertPool returns a pool with the server's certificate (Options.TLS), for
// a client's RootCAs; nil without TLS.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Close stops the server.
func (s *Server) Close() { s.Down() }

// Down closes the listener and every connection: requests are refused
// until Up.
func (s *Server) Down() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Close the listener here: Serve may not have started yet.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// Up listens again on the same address after Down.
func (s *Server) Up() error {
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("hectest: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // refused TLS handshakes are what some tests want
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// FailNext answers the next n event requests with f.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, f)
	}
}

// RefuseIDs refuses, with 400 code 6, every event whose fields.kt_id is one
// of ids, from now on.
func (s *Server) RefuseIDs(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.refuse[id] = true
	}
}

// RefuseRequestsWith refuses, with 400 code 6 "Invalid data format" and no
// "invalid-event-number", every event request that holds an event whose
// fields.kt_id is one of ids, from now on; none of its events is indexed.
func (s *Server) RefuseRequestsWith(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.refuseRq[id] = true
	}
}

// DisableToken turns the token off (403 code 1) or on again.
func (s *Server) DisableToken(off bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled = off
}

// DelayAcks makes an ackId true only d after its request was answered.
func (s *Server) DelayAcks(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackDelay = d
}

// DropAcks never acknowledges the ackIds of the next n accepted event
// requests. Their events are indexed all the same: it is the
// acknowledgement that is lost, so a client that sends them again makes
// duplicates, as with a real indexer.
func (s *Server) DropAcks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAcks += n
}

// Reset forgets the recorded events and requests (a benchmark calls it
// between batches); the knobs and the acknowledgement state stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events, s.requests = nil, nil
}

// Events returns the indexed events in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Requests returns every request answered, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RequestCount returns how many requests were answered, acknowledgement
// queries included.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// PendingAcks returns how many ackIds were issued and not yet reported
// true, over all channels.
func (s *Server) PendingAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.channels {
		n += len(c.pending)
	}
	return n
}

// reply is a HEC reply body.
type reply struct {
	Text         string  `json:"text"`
	Code         int     `json:"code"`
	InvalidEvent *int    `json:"invalid-event-number,omitempty"`
	AckID        *uint64 `json:"ackId,omitempty"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	wire, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxContentLength+1))
	if err != nil {
		return // the client went away
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), WireBytes: len(wire)}

	s.mu.Lock()
	defer s.mu.Unlock()
	var status int
	var hdr http.Header
	var body []byte
	switch r.URL.Path {
	case "/services/collector/event", "/services/collector", "/services/collector/event/1.0":
		status, hdr, body = s.event(r, wire, &rec)
	case "/services/collector/ack":
		status, body = s.ack(r, wire, &rec)
	case "/services/collector/health", "/services/collector/health/1.0":
		status, body = answer(http.StatusOK, reply{Text: "HEC is healthy", Code: 17})
	default:
		status, body = answer(http.StatusNotFound, reply{Text: "The requested URL was not found on this server.", Code: 404})
	}
	rec.Status, rec.Reply = status, body
	s.requests = append(s.requests, rec)
	for k, vs := range hdr {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func answer(status int, r reply) (int, []byte) {
	b, _ := json.Marshal(r)
	return status, b
}

// authorize checks the Authorization header; ok is false with the reply to
// send.
func (s *Server) authorize(r *http.Request) (status int, body []byte, ok bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		status, body = answer(http.StatusUnauthorized, reply{Text: "Token is required", Code: 2})
	case !strings.EqualFold(scheme, "Splunk"):
		status, body = answer(http.StatusUnauthorized, reply{Text: "Invalid authorization", Code: 3})
	case strings.TrimSpace(tok) != s.Token:
		status, body = answer(http.StatusForbidden, reply{Text: "Invalid token", Code: 4})
	case s.disabled:
		status, body = answer(http.StatusForbidden, reply{Text: "Token disabled", Code: 1})
	default:
		return 0, nil, true
	}
	return status, body, false
}

// channelOf returns the request's channel when acknowledgement is on; ok is
// false with the reply to send.
func (s *Server) channelOf(r *http.Request) (ch string, status int, body []byte, ok bool) {
	ch = r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if !s.opts.Ack {
		return ch, 0, nil, true
	}
	if ch == "" {
		status, body = answer(http.StatusBadRequest, reply{Text: "Data channel is missing", Code: 10})
		return "", status, body, false
	}
	if _, err := uuid.Parse(ch); err != nil {
		status, body = answer(http.StatusBadRequest, reply{Text: "Invalid data channel", Code: 11})
		return "", status, body, false
	}
	return ch, 0, nil, true
}

func (s *Server) event(r *http.Request, wire []byte, rec *Request) (int, http.Header, []byte) {
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		var hdr http.Header
		if f.RetryAfter != "" {
			hdr = http.Header{"Retry-After": {f.RetryAfter}}
		}
		if f.Raw != "" {
			if hdr == nil {
				hdr = http.Header{}
			}
			hdr.Set("Content-Type", "text/html")
			return f.Status, hdr, []byte(f.Raw)
		}
		status, body := answer(f.Status, reply{Text: f.Text, Code: f.Code})
		return status, hdr, body
	}
	if r.Method != http.MethodPost {
		status, body := answer(http.StatusMethodNotAllowed, reply{Text: "Method Not Allowed", Code: 405})
		return status, nil, body
	}
	if status, body, ok := s.authorize(r); !ok {
		return status, nil, body
	}
	if int64(len(wire)) > s.opts.MaxContentLength {
		status, body := answer(http.StatusRequestEntityTooLarge, reply{
			Text: fmt.Sprintf("Content-Length of %d too large (maximum is %d)", max(r.ContentLength, int64(len(wire))), s.opts.MaxContentLength), Code: 6})
		return status, nil, body
	}
	ch, status, body, ok := s.channelOf(r)
	if !ok {
		return status, nil, body
	}
	// Inflate and parse without the lock, so that requests are served in
	// parallel as by Splunk's HEC; only the bookkeeping below holds it.
	s.mu.Unlock()
	data, evs, bad := s.decode(r, wire)
	s.mu.Lock()
	rec.Body = data
	if bad != nil {
		return bad.status, nil, bad.body
	}
	for _, pe := range evs {
		if id := pe.ev.ID(); id != "" && s.refuseRq[id] {
			status, body := answer(http.StatusBadRequest, reply{Text: "Invalid data format", Code: 6})
			return status, nil, body
		}
	}
	for n, pe := range evs {
		code, text := pe.code, pe.text
		if code == 0 {
			if id := pe.ev.ID(); id != "" && s.refuse[id] {
				code, text = 6, "Invalid data format"
			}
		}
		if code != 0 {
			status, body := answer(http.StatusBadRequest, reply{Text: text, Code: code, InvalidEvent: &n})
			return status, nil, body
		}
		ev := pe.ev
		ev.Channel, ev.Request = ch, len(s.requests)
		s.events = append(s.events, ev)
	}
	if !s.opts.Ack {
		status, body := answer(http.StatusOK, reply{Text: "Success", Code: 0})
		return status, nil, body
	}
	c := s.channels[ch]
	if c == nil {
		c = &channel{pending: map[uint64]pendingAck{}}
		s.channels[ch] = c
	}
	id := c.next
	c.next++
	c.pending[id] = pendingAck{readyAt: time.Now().Add(s.ackDelay), dropped: s.dropAcks > 0}
	if s.dropAcks > 0 {
		s.dropAcks--
	}
	status, body = answer(http.StatusOK, reply{Text: "Success", Code: 0, AckID: &id})
	return status, nil, body
}

type parsedEvent struct {
	ev   Event
	code int
	text string
}

type badRequest struct {
	status int
	body   []byte
}

// decode inflates a request body and parses its events up to the first
// one HEC refuses. It holds no lock.
func (s *Server) decode(r *http.Request, wire []byte) (data []byte, evs []parsedEvent, bad *badRequest) {
	data = wire
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err == nil {
			data, err = io.ReadAll(zr)
		}
		if err != nil {
			status, body := answer(http.StatusBadRequest, reply{Text: "Invalid data format", Code: 6})
			return wire, nil, &badRequest{status, body}
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		status, body := answer(http.StatusBadRequest, reply{Text: "No data", Code: 5})
		return data, nil, &badRequest{status, body}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			evs = append(evs, parsedEvent{code: 6, text: "Invalid data format"})
			break
		}
		ev, code, text := s.parseEvent(raw)
		evs = append(evs, parsedEvent{ev, code, text})
		if code != 0 {
			break
		}
	}
	return data, evs, nil
}

// parseEvent reads one event object; code is not 0 when HEC would refuse
// it.
func (s *Server) parseEvent(raw json.RawMessage) (ev Event, code int, text string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return ev, 6, "Invalid data format"
	}
	e, ok := m["event"]
	if !ok {
		return ev, 12, "Event field is required"
	}
	var str string
	if string(e) == "null" || json.Unmarshal(e, &str) == nil && strings.TrimSpace(str) == "" {
		return ev, 13, "Event field cannot be blank"
	}
	ev.Event = e
	if t, ok := m["time"]; ok {
		var num json.Number
		if json.Unmarshal(t, &num) != nil {
			return ev, 6, "Invalid data format"
		}
		if _, err := strconv.ParseFloat(num.String(), 64); err != nil {
			return ev, 6, "Invalid data format"
		}
		ev.Time = num.String()
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"host", &ev.Host}, {"source", &ev.Source}, {"sourcetype", &ev.Sourcetype}, {"index", &ev.Index}} {
		if v, ok := m[f.name]; ok && json.Unmarshal(v, f.dst) != nil {
			return ev, 6, "Invalid data format"
		}
	}
	if ev.Index != "" && s.opts.Indexes != nil && !slices.Contains(s.opts.Indexes, ev.Index) {
		return ev, 7, "Incorrect index"
	}
	if f, ok := m["fields"]; ok {
		if err := json.Unmarshal(f, &ev.Fields); err != nil || ev.Fields == nil {
			return ev, 15, "Error in handling indexed fields"
		}
		for _, v := range ev.Fields {
			if !indexedValue(v) {
				return ev, 15, "Error in handling indexed fields"
			}
		}
	}
	return ev, 0, ""
}

// indexedValue reports whether v can be an indexed field value: a string,
// a number, or an array of them.
func indexedValue(v json.RawMessage) bool {
	var scalar any
	if err := json.Unmarshal(v, &scalar); err != nil {
		return false
	}
	switch x := scalar.(type) {
	case string, float64:
		return true
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, float64:
			default:
				return false
			}
		}
		return true
	}
	return false
}

func (s *Server) ack(r *http.Request, wire []byte, rec *Request) (int, []byte) {
	rec.Body = wire
	if r.Method != http.MethodPost {
		return answer(http.StatusMethodNotAllowed, reply{Text: "Method Not Allowed", Code: 405})
	}
	if status, body, ok := s.authorize(r); !ok {
		return status, body
	}
	if !s.opts.Ack {
		return answer(http.StatusBadRequest, reply{Text: "ACK is disabled", Code: 14})
	}
	ch, status, body, ok := s.channelOf(r)
	if !ok {
		return status, body
	}
	var q struct {
		Acks []uint64 `json:"acks"`
	}
	if err := json.Unmarshal(wire, &q); err != nil || q.Acks == nil {
		return answer(http.StatusBadRequest, reply{Text: "Invalid data format", Code: 6})
	}
	now := time.Now()
	out := map[string]bool{}
	c := s.channels[ch]
	for _, id := range q.Acks {
		done := false
		if c != nil {
			if p, ok := c.pending[id]; ok && !p.dropped && !now.Before(p.readyAt) {
				done = true
				delete(c.pending, id)
			}
		}
		out[strconv.FormatUint(id, 10)] = done
	}
	b, _ := json.Marshal(map[string]any{"acks": out})
	return http.StatusOK, b
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hectest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}
