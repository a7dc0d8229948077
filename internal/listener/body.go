package listener

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// DecodeError is a body whose Content-Encoding does not decode.
type DecodeError struct {
	Encoding string
	Err      error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("body is not valid %s: %v", e.Encoding, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// contentEncoding returns the one coding of a request body that the
// listeners decode ("" for identity, or "gzip"), or ok=false with the
// header's value when it is another.
func contentEncoding(r *http.Request) (coding string, ok bool) {
	v := strings.TrimSpace(r.Header.Get("Content-Encoding"))
	if len(r.Header.Values("Content-Encoding")) > 1 {
		return strings.Join(r.Header.Values("Content-Encoding"), ", "), false
	}
	switch strings.ToLower(v) {
	case "", "identity":
		return "", true
	case "gzip", "x-gzip":
		return "gzip", true
	}
	return v, false
}

// gunzipBody decompresses a gzip body; it reads nothing before the first
// Read, so a request refused before its body is read costs nothing.
type gunzipBody struct {
	src io.ReadCloser
	zr  *gzip.Reader
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			return 0, g.wrap(err)
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = g.wrap(err)
	}
	return n, err
}

// wrap marks errors of the gzip stream as DecodeError; errors of the
// reader below (size limit, timeout) pass unchanged.
func (g *gunzipBody) wrap(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrBusy) {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &DecodeError{Encoding: "gzip", Err: err}
}

func (g *gunzipBody) Close() error { return g.src.Close() }

// ReadBody reads the whole body of a request that a Server let through
// (decoded, bounded by max_body_bytes and by the in-flight budget). Map
// its error with Server.BodyError.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.ContentLength <= 0 {
		return io.ReadAll(r.Body)
	}
	// Sized from Content-Length, which the Server has checked against
	// max_body_bytes, so a large body is read without regrowing.
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1))
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

// BodyError maps an error from reading a request body to the answer:
// 413 over max_body_bytes, 503 (retry later) when the in-flight budget
// is full, 408 past read_timeout, 400 for a body that does not decode or
// could not be read.
func (s *Server) BodyError(err error) (code int, msg string) {
	var mbe *http.MaxBytesError
	var de *DecodeError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over max_body_bytes (%d bytes, counted as sent and once decompressed); send smaller batches", s.cfg.MaxBodyBytes)
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, s.busyMessage()
	case errors.As(err, &de):
		return http.StatusBadRequest, de.Error()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, fmt.Sprintf("body not received within read_timeout (%s)", s.cfg.ReadTimeout)
	}
	return http.StatusBadRequest, "reading body: " + err.Error()
}

func (s *Server) busyMessage() string {
	return fmt.Sprintf("the listener is handling max_inflight_bytes (%d bytes) of other requests; nothing was written; retry later", s.cfg.MaxInflightBytes)
}
