// Package webhook is the HTTP source: control planes POST audit events to
// it, one JSON object, a JSON array of objects, or NDJSON. A request is
// answered 202 only once every event of it is a durable, signed ledger entry;
// a request with one bad record is refused whole (400) and nothing of it is
// written. A body may be gzip-encoded and may start with a UTF-8 byte order
// mark (so may each NDJSON line).
//
// Authentication, when configured: a bearer token (Authorization: Bearer),
// and/or an HMAC-SHA256 signature of the body in the Standard Webhooks form
// (webhook-id, webhook-timestamp, webhook-signature: "v1,<base64>" over
// "id.timestamp.body", timestamps outside the replay window refused) or in
// GitHub's form (X-Hub-Signature-256: "sha256=<hex>" over the body), and/or
// client certificates (tls.client_ca_file). The listener's TLS, limits and
// exposure rules are those of internal/listener.
//
// Answers:
//
//	202 {"accepted":N,"duplicates":D,"first_seq":F,"last_seq":L}
//	400 {"error":"...","errors":[{"line":3,"field":"actor","error":"..."}]}
//	    a record that can never be accepted (every bad line is named), a
//	    body that is not JSON or does not decode, an id header too long
//	401 bad or missing token or signature
//	405 not a POST
//	408 body not received within read_timeout
//	409 an event id already in the ledger, or earlier in the request, with other content
//	413 body over max_body_bytes (by Content-Length, before reading; or once decompressed)
//	415 a Content-Encoding other than gzip
//	500 an internal error: nothing acknowledged, no Retry-After
//	503 + Retry-After: the ledger is busy, closed or broken (kt is
//	    restarting), max_inflight_bytes is in use, or the events were not
//	    durable within write_timeout
//
// A retried request creates no duplicate entries: events are deduplicated by
// id; an event without an id gets "<base>:<n>" as its id, where the base
// comes from what authenticates the request: the signed webhook-id
// (Standard Webhooks), "gh-" and the first 32 hex digits of the body's
// SHA-256 (GitHub signature), or else the webhook-id or Idempotency-Key
// header. A signed request replayed is therefore a duplicate, whatever its
// unsigned headers say.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/kt/internal/listener"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

// MaxIDHeaderBytes bounds the webhook-id and Idempotency-Key headers, which
// become the base of the ids of events that carry none.
const MaxIDHeaderBytes = 256

// Source is a running webhook listener.
type Source struct {
	cfg    Config
	emit   sources.Emitter
	log    *slog.Logger
	now    func() time.Time
	srv    *listener.Server
	counts [numClasses]atomic.Uint64
	stats  sources.Counters
}

var _ sources.StatsReporter = (*Source)(nil)

// New binds the listener (so a port conflict fails start-up) but serves
// nothing until Run. It logs the listener's start warnings (exposed
// without authentication or without TLS).
func New(cfg Config, emit sources.Emitter, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, emit: emit, log: log, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.Path, s.handle)
	srv, err := listener.New(cfg.Config, mux, listener.Options{
		Name: "webhook " + cfg.Name, Auth: cfg.auth(), Logger: log, Error: s.guardError, ShutdownTimeout: 10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Addr returns the bound address.
func (s *Source) Addr() string { return s.srv.Addr() }

// Run serves until ctx is done, then stops taking requests and waits up to
// 10s for the ones in flight to be answered.
func (s *Source) Run(ctx context.Context) error { return s.srv.Run(ctx) }

// Counts of answered requests by class, for metrics.
const (
	Accepted     = iota // 202
	BadRequest          // 400
	Unauthorized        // 401
	TooLarge            // 413
	Busy                // 503
	Conflict            // 409
	Failed              // 500
	Unsupported         // 415
	TimedOut            // 408
	numClasses
)

// ClassNames returns the metric label of every answer class.
func ClassNames() map[int]string {
	return map[int]string{Accepted: "accepted", BadRequest: "bad_request", Unauthorized: "unauthorized", TooLarge: "too_large",
		Busy: "busy", Conflict: "conflict", Failed: "failed", Unsupported: "unsupported_encoding", TimedOut: "timed_out"}
}

// Count returns how many requests got the answer class c.
func (s *Source) Count(c int) uint64 { return s.counts[c].Load() }

// Name returns the source's name.
func (s *Source) Name() string { return s.cfg.Name }

// Stats reports the source's intake in events: accepted and duplicate
// events of 202 answers, refused events of 400, 408, 409, 413 and 415
// answers (every record of a refused request; a body that could not be
// split into records counts as one), and the requests being handled as
// the backlog. 401s are counted by Count only.
func (s *Source) Stats() sources.Stats { return s.stats.Stats("requests") }

func (s *Source) refuse(n int) { s.stats.Refuse(n, s.now()) }

type recordError struct {
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

func (s *Source) reply(w http.ResponseWriter, code int, class int, body any) {
	if class >= 0 {
		s.counts[class].Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Source) fail(w http.ResponseWriter, code, class int, msg string, errs []recordError) {
	body := map[string]any{"error": msg}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	s.reply(w, code, class, body)
}

// classOf is the answer class of a refusal made before the records reach
// the emitter.
func classOf(code int) int {
	switch code {
	case http.StatusRequestEntityTooLarge:
		return TooLarge
	case http.StatusUnsupportedMediaType:
		return Unsupported
	case http.StatusServiceUnavailable:
		return Busy
	case http.StatusRequestTimeout:
		return TimedOut
	case http.StatusInternalServerError:
		return Failed
	}
	return BadRequest
}

// failBody answers a request whose body could not be taken in.
func (s *Source) failBody(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	} else {
		s.refuse(1)
	}
	s.fail(w, code, classOf(code), msg, nil)
}

// guardError answers the refusals the listener makes before handle runs.
func (s *Source) guardError(w http.ResponseWriter, code int, msg string) { s.failBody(w, code, msg) }

// utf8BOM is the byte order mark some producers put before UTF-8 text.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func (s *Source) handle(w http.ResponseWriter, r *http.Request) {
	s.stats.AddBacklog(1)
	defer s.stats.AddBacklog(-1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, http.StatusMethodNotAllowed, -1, "use POST", nil)
		return
	}
	if s.cfg.Token != "" && !listener.BearerOK(r, s.cfg.Token) {
		s.unauthorized(w, r, "missing or wrong bearer token", true)
		return
	}
	body, err := listener.ReadBody(r)
	if err != nil {
		code, msg := s.srv.BodyError(err)
		s.failBody(w, code, msg)
		return
	}
	idBase, idHeader := "", ""
	if s.cfg.HMACSecret != nil {
		// The signature is over the body as the producer encoded it,
		// byte order mark included.
		scheme, msg := s.signatureProblem(r, body)
		if msg != "" {
			s.unauthorized(w, r, msg, false)
			return
		}
		if scheme == schemeGitHub {
			// The signature covers the body only: the id base comes from
			// it, never from a header a replay could change.
			sum := sha256.Sum256(body)
			idBase = "gh-" + hex.EncodeToString(sum[:16])
		} else {
			idBase, idHeader = r.Header.Get("webhook-id"), "webhook-id"
		}
	} else {
		idBase, idHeader = r.Header.Get("webhook-id"), "webhook-id"
		if idBase == "" {
			idBase, idHeader = r.Header.Get("Idempotency-Key"), "Idempotency-Key"
		}
	}
	body = bytes.TrimPrefix(body, utf8BOM)
	if len(idBase) > MaxIDHeaderBytes {
		s.refuse(1)
		s.fail(w, http.StatusBadRequest, BadRequest, fmt.Sprintf(
			"header %s is %d bytes, over the %d bytes an id base may have; nothing written", idHeader, len(idBase), MaxIDHeaderBytes), nil)
		return
	}
	raws, errs := split(body, pipeline.Source{Kind: "webhook", Name: s.cfg.Name}, idBase)
	if len(errs) > 0 {
		s.refuse(1)
		s.fail(w, http.StatusBadRequest, BadRequest, "request refused, nothing written: "+errs[0].Error, errs)
		return
	}
	if len(raws) == 0 {
		s.fail(w, http.StatusBadRequest, BadRequest, "request has no events", nil)
		return
	}
	res, err := s.emit.Emit(r.Context(), raws)
	s.answer(w, r, raws, res, err)
}

// unauthorized answers 401 and logs why (rate-limited); bearer says the
// token was what failed.
func (s *Source) unauthorized(w http.ResponseWriter, r *http.Request, reason string, bearer bool) {
	s.srv.Denied(r, reason)
	if bearer {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kt"`)
	}
	s.fail(w, http.StatusUnauthorized, Unauthorized, reason, nil)
}

// answer maps what the emitter did with a request's records to the HTTP
// answer. Only what can succeed later is answered 503 with Retry-After;
// what never can is a 4xx; an unexpected failure is a 500.
func (s *Source) answer(w http.ResponseWriter, r *http.Request, raws []sources.Raw, res sources.Result, err error) {
	var recErrs sources.RecordErrors
	var conflict *sources.ConflictError
	switch {
	case err == nil:
		s.stats.Took(res, s.now())
		out := map[string]any{"accepted": res.Accepted, "duplicates": res.Duplicates}
		if res.Accepted > 0 {
			out["first_seq"], out["last_seq"] = res.FirstSeq, res.LastSeq
		}
		s.reply(w, http.StatusAccepted, Accepted, out)
	case errors.As(err, &recErrs):
		s.refuse(len(raws))
		list := make([]recordError, len(recErrs))
		for i, re := range recErrs {
			list[i] = recordError{Line: re.Line, Field: re.Field, Error: re.Err.Error()}
		}
		first := "first"
		if len(recErrs) == 1 {
			first = "it is"
		}
		s.fail(w, http.StatusBadRequest, BadRequest,
			fmt.Sprintf("%d of %d records can never be accepted, nothing written; %s: %s", len(recErrs), len(raws), first, recErrs[0].Error()), list)
	case errors.As(err, &conflict):
		s.refuse(len(raws))
		s.fail(w, http.StatusConflict, Conflict, conflict.Error()+"; nothing written", nil)
	case errors.Is(err, sources.ErrBusy):
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, Busy, "ledger cannot take more now, nothing written; retry later", nil)
	case errors.Is(err, sources.ErrUnavailable):
		// kt is stopping, or exiting for a restart that recovers the
		// ledger: the same request succeeds once it is back.
		w.Header().Set("Retry-After", "5")
		s.fail(w, http.StatusServiceUnavailable, Busy, "ledger closed (kt is stopping or restarting), nothing acknowledged; retry later", nil)
	case errors.Is(r.Context().Err(), context.Canceled):
		// The client went away; its events may or may not be durable, and a
		// retry with the same ids is deduplicated.
		s.log.Warn("webhook client gone before the answer", "source", s.cfg.Name, "err", err)
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, Busy, fmt.Sprintf(
			"events not durable within write_timeout (%s), nothing acknowledged; retry later (events with ids are deduplicated)", s.srv.Config().WriteTimeout), nil)
	default:
		s.log.Error("webhook append failed", "source", s.cfg.Name, "err", err)
		s.fail(w, http.StatusInternalServerError, Failed, "internal error, nothing acknowledged; the agent's log says why", nil)
	}
}

// Signature schemes.
const (
	schemeStandard = "standard-webhooks"
	schemeGitHub   = "github"
)

// signatureProblem checks the GitHub or the Standard Webhooks signature
// and returns the scheme, and "" when the signature is valid or why not.
func (s *Source) signatureProblem(r *http.Request, body []byte) (scheme, problem string) {
	if gh := r.Header.Get("X-Hub-Signature-256"); gh != "" {
		want := hmacSum(s.cfg.HMACSecret, body)
		got, ok := strings.CutPrefix(gh, "sha256=")
		dec, err := hex.DecodeString(got)
		if !ok || err != nil || !hmac.Equal(dec, want) {
			return schemeGitHub, "X-Hub-Signature-256 does not match the body"
		}
		return schemeGitHub, ""
	}
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if sigs == "" {
		return schemeStandard, "missing signature: send webhook-id, webhook-timestamp and webhook-signature, or X-Hub-Signature-256"
	}
	if id == "" || ts == "" {
		return schemeStandard, "webhook-signature needs webhook-id and webhook-timestamp"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return schemeStandard, "webhook-timestamp is not integer seconds"
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > s.cfg.ReplayWindow || d < -s.cfg.ReplayWindow {
		return schemeStandard, fmt.Sprintf("webhook-timestamp is %s away from now, outside the replay window of %s", d.Round(time.Second), s.cfg.ReplayWindow)
	}
	var signed bytes.Buffer
	signed.WriteString(id + "." + ts + ".")
	signed.Write(body)
	want := hmacSum(s.cfg.HMACSecret, signed.Bytes())
	for _, sig := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return schemeStandard, ""
		}
	}
	return schemeStandard, "webhook-signature does not match the body"
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// split cuts a body into raw records: a JSON array of values, one JSON value
// (which may span lines), or NDJSON (one value per non-blank line).
func split(body []byte, src pipeline.Source, idBase string) ([]sources.Raw, []recordError) {
	trimmed := bytes.TrimSpace(body)
	mk := func(i, line int, data []byte) sources.Raw {
		r := sources.Raw{Data: data, Source: src, Line: line}
		if idBase != "" {
			r.FallbackID = idBase + ":" + strconv.Itoa(i)
		}
		return r
	}
	if len(trimmed) > 0 && trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(body))
		if _, err := dec.Token(); err != nil {
			return nil, []recordError{{Line: 1, Error: "invalid JSON: " + err.Error()}}
		}
		var out []sources.Raw
		for i := 0; dec.More(); i++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, []recordError{{Line: lineAt(body, dec.InputOffset()), Error: fmt.Sprintf("array element %d: invalid JSON: %v", i, err)}}
			}
			out = append(out, mk(i, i+1, raw))
		}
		if _, err := dec.Token(); err != nil {
			return nil, []recordError{{Line: lineAt(body, dec.InputOffset()), Error: "invalid JSON: " + err.Error()}}
		}
		return out, nil
	}
	if bytes.IndexByte(trimmed, '\n') < 0 || json.Valid(trimmed) {
		if len(trimmed) == 0 {
			return nil, nil
		}
		return []sources.Raw{mk(0, 1, trimmed)}, nil
	}
	// NDJSON: every non-blank line is a record; the pipeline refuses the
	// ones that are not JSON, so every bad line is named at once.
	var out []sources.Raw
	line := 0
	for rest := body; len(rest) > 0; {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line++
		if l = bytes.TrimSpace(bytes.TrimPrefix(l, utf8BOM)); len(l) > 0 {
			out = append(out, mk(len(out), line, l))
		}
	}
	return out, nil
}

func lineAt(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}
