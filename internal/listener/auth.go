package listener

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// BearerOK reports whether r carries "Authorization: Bearer <token>". The
// scheme is matched case-insensitively (RFC 9110, section 11.1), the token
// in constant time.
func BearerOK(r *http.Request, token string) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// ClientVerified reports whether r came over a TLS connection whose client
// certificate was verified against tls.client_ca_file.
func ClientVerified(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0
}

// logInterval is the least time between two log lines of one kind
// (refused authentication, server errors) on one listener.
const logInterval = time.Second

// rateLog lets one line through per logInterval; the line carries the
// number of lines held back since the one before.
type rateLog struct {
	log  *slog.Logger
	name string // the listener, for every line
	now  func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now, and how many were held
// back since the last one.
func (l *rateLog) allow() (suppressed int, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < logInterval {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

// denied logs a request refused for its authentication. It never logs what
// the client presented, only why it was refused.
func (l *rateLog) denied(remote, reason string) {
	if n, ok := l.allow(); ok {
		l.log.Warn("request refused: not authenticated", "listener", l.name, "remote", remote, "reason", reason, "suppressed", n)
	}
}

// errorLogWriter receives the http.Server's own error lines (TLS
// handshake failures, accept errors). A failed handshake is refused
// authentication when client certificates are required, and is logged as
// such; the other lines go to the logger. Both are rate-limited.
type errorLogWriter struct {
	deny, other *rateLog
}

func (w *errorLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if rest, ok := strings.CutPrefix(line, "http: TLS handshake error from "); ok {
		addr, reason, _ := strings.Cut(rest, ": ")
		w.deny.denied(addr, "TLS handshake: "+reason)
		return len(p), nil
	}
	if n, ok := w.other.allow(); ok {
		w.other.log.Warn("http server error", "listener", w.other.name, "err", line, "suppressed", n)
	}
	return len(p), nil
}
