// Package webhook is the HTTP source: control planes POST audit events to
// it, one JSON object, a JSON array of objects, or NDJSON. A request is
// answered 202 only once every event of it is a durable, signed ledger entry;
// a request with one bad record is refused whole (400) and nothing of it is
// written.
//
// Authentication, when configured: a bearer token (Authorization: Bearer),
// and/or an HMAC-SHA256 signature of the body in the Standard Webhooks form
// (webhook-id, webhook-timestamp, webhook-signature: "v1,<base64>" over
// "id.timestamp.body", timestamps outside the replay window refused) or in
// GitHub's form (X-Hub-Signature-256: "sha256=<hex>" over the body).
//
// Answers:
//
//	202 {"accepted":N,"duplicates":D,"first_seq":F,"last_seq":L}
//	400 {"error":"...","errors":[{"line":3,"field":"actor","error":"..."}]}
//	401 bad or missing token or signature
//	405 not a POST; 409 an event id already in the ledger with other content
//	413 body over max_body_bytes; 503 + Retry-After: the ledger is full
//
// A retried request creates no duplicate entries: events are deduplicated by
// id; events without an id get "<webhook-id>:<n>" (or "<Idempotency-Key>:<n>")
// as their id when the request carries one of those headers.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

// Source is a running webhook listener.
type Source struct {
	cfg    Config
	emit   sources.Emitter
	log    *slog.Logger
	now    func() time.Time
	srv    *http.Server
	ln     net.Listener
	counts [6]atomic.Uint64
}

// New binds the listener (so a port conflict fails start-up) but serves
// nothing until Run.
func New(cfg Config, emit sources.Emitter, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: listen: %w", cfg.Name, err)
	}
	s := &Source{cfg: cfg, emit: emit, log: log, now: time.Now, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.Path, s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr returns the bound address.
func (s *Source) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then stops taking requests and waits up to
// 10s for the ones in flight to be answered.
func (s *Source) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook %s: %w", s.cfg.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(sctx)
}

// Counts of answered requests by class, for metrics.
const (
	Accepted = iota
	BadRequest
	Unauthorized
	TooLarge
	Busy
	Conflict
)

// Count returns how many requests got the answer class c.
func (s *Source) Count(c int) uint64 { return s.counts[c].Load() }

// Name returns the source's name.
func (s *Source) Name() string { return s.cfg.Name }

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

func (s *Source) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, http.StatusMethodNotAllowed, -1, "use POST", nil)
		return
	}
	if s.cfg.Token != "" && !s.tokenOK(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kt"`)
		s.fail(w, http.StatusUnauthorized, Unauthorized, "missing or wrong bearer token", nil)
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength, s.cfg.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, http.StatusRequestEntityTooLarge, TooLarge,
				fmt.Sprintf("body is over max_body_bytes (%d bytes); send smaller batches", s.cfg.MaxBodyBytes), nil)
			return
		}
		s.fail(w, http.StatusBadRequest, BadRequest, "reading body: "+err.Error(), nil)
		return
	}
	if s.cfg.HMACSecret != nil {
		if msg := s.signatureProblem(r, body); msg != "" {
			s.fail(w, http.StatusUnauthorized, Unauthorized, msg, nil)
			return
		}
	}
	idBase := r.Header.Get("webhook-id")
	if idBase == "" {
		idBase = r.Header.Get("Idempotency-Key")
	}
	raws, errs := split(body, pipeline.Source{Kind: "webhook", Name: s.cfg.Name}, idBase)
	if len(errs) > 0 {
		s.fail(w, http.StatusBadRequest, BadRequest, "request refused, nothing written: "+errs[0].Error, errs)
		return
	}
	if len(raws) == 0 {
		s.fail(w, http.StatusBadRequest, BadRequest, "request has no events", nil)
		return
	}
	res, err := s.emit.Emit(r.Context(), raws)
	var recErrs sources.RecordErrors
	var conflict *sources.ConflictError
	switch {
	case err == nil:
		out := map[string]any{"accepted": res.Accepted, "duplicates": res.Duplicates}
		if res.Accepted > 0 {
			out["first_seq"], out["last_seq"] = res.FirstSeq, res.LastSeq
		}
		s.reply(w, http.StatusAccepted, Accepted, out)
	case errors.As(err, &recErrs):
		list := make([]recordError, len(recErrs))
		for i, re := range recErrs {
			list[i] = recordError{Line: re.Line, Field: re.Field, Error: re.Err.Error()}
		}
		s.fail(w, http.StatusBadRequest, BadRequest,
			fmt.Sprintf("%d of %d records are not audit events, nothing written; first: %s", len(recErrs), len(raws), recErrs[0].Error()), list)
	case errors.As(err, &conflict):
		s.fail(w, http.StatusConflict, Conflict, conflict.Error()+"; nothing written", nil)
	case errors.Is(err, sources.ErrBusy):
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, Busy, "ledger cannot take more now, nothing written; retry later", nil)
	case r.Context().Err() != nil:
		// The client went away; its events may or may not be durable, and a
		// retry with the same ids is deduplicated.
		s.log.Warn("webhook client gone before the answer", "source", s.cfg.Name, "err", err)
	default:
		s.log.Error("webhook append failed", "source", s.cfg.Name, "err", err)
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, Busy, "ledger append failed, nothing acknowledged; retry later", nil)
	}
}

func (s *Source) tokenOK(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) < len(p) || !strings.EqualFold(h[:len(p)], p) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(p):]), []byte(s.cfg.Token)) == 1
}

// signatureProblem checks the Standard Webhooks or the GitHub signature; ""
// when one of them is valid.
func (s *Source) signatureProblem(r *http.Request, body []byte) string {
	if gh := r.Header.Get("X-Hub-Signature-256"); gh != "" {
		want := hmacSum(s.cfg.HMACSecret, body)
		got, ok := strings.CutPrefix(gh, "sha256=")
		dec, err := hex.DecodeString(got)
		if !ok || err != nil || !hmac.Equal(dec, want) {
			return "X-Hub-Signature-256 does not match the body"
		}
		return ""
	}
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if sigs == "" {
		return "missing signature: send webhook-id, webhook-timestamp and webhook-signature, or X-Hub-Signature-256"
	}
	if id == "" || ts == "" {
		return "webhook-signature needs webhook-id and webhook-timestamp"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "webhook-timestamp is not integer seconds"
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > s.cfg.ReplayWindow || d < -s.cfg.ReplayWindow {
		return fmt.Sprintf("webhook-timestamp is %s away from now, outside the replay window of %s", d.Round(time.Second), s.cfg.ReplayWindow)
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
			return ""
		}
	}
	return "webhook-signature does not match the body"
}

// readBody reads the whole body into a buffer sized from Content-Length
// (bounded by the limit), so a large batch is read without regrowing.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, length+1))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
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
		if l = bytes.TrimSpace(l); len(l) > 0 {
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
