package sinks

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// The helpers below are shared by the HTTP sinks.

// StripURL drops the *url.Error wrapper: its message repeats the endpoint,
// which the sink's name already identifies.
func StripURL(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when there is none, or it cannot be read.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// MergeItems joins two ItemErrors in index order.
func MergeItems(a, b ItemErrors) ItemErrors {
	out := make(ItemErrors, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0].Index < b[0].Index {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// Outcome is what a Send returns when it left the records refused out of
// its request and the request ended with err: nil when both are empty, the
// refused ones plus the request's failed items, or err alone when the whole
// request failed (it says nothing of the records left out: they are
// reported when the rest of the batch goes through, or alone once the
// Engine has split it).
func Outcome(refused ItemErrors, err error) error {
	var items ItemErrors
	switch {
	case err == nil:
		if len(refused) == 0 {
			return nil // not a nil ItemErrors in a non-nil error
		}
		return refused
	case errors.As(err, &items):
		return MergeItems(refused, items)
	default:
		return err
	}
}

// GzipLevel is the level of request body compression: BestSpeed. On a
// batch of 500 records of about 1.3 KB, klauspost's gzip at this level
// takes half the time of compress/gzip's (2.1 ms against 4.3 ms) and is 6%
// smaller (splunkhec's BenchmarkCompress).
const GzipLevel = gzip.BestSpeed

// Gzipper compresses request bodies with a pool of writers, so that
// concurrent Sends do not share one. The zero value is ready to use.
type Gzipper struct {
	pool sync.Pool    // *gzip.Writer
	last atomic.Int64 // compressed size of the last body, to size the next buffer
}

// Compress returns plain gzipped at GzipLevel.
func (g *Gzipper) Compress(plain []byte) []byte {
	hint := int(g.last.Load())
	if hint == 0 {
		hint = len(plain) / 3
	}
	out := bytes.NewBuffer(make([]byte, 0, hint+hint/8+64))
	zw, _ := g.pool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(out, GzipLevel)
	} else {
		zw.Reset(out)
	}
	// Writes to a bytes.Buffer do not fail.
	_, _ = zw.Write(plain)
	_ = zw.Close()
	zw.Reset(io.Discard) // do not keep the body alive in the pool
	g.pool.Put(zw)
	g.last.Store(int64(out.Len()))
	return out.Bytes()
}
