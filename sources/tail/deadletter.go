package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/keeptrusts/kt/internal/deadletter"
)

// deadLetter is one line of the dead-letter file (NDJSON, version 1):
//
//	{"time":"2026-01-01T00:00:00.123456789Z","source":"control_plane",
//	 "file":"/var/log/keeptrusts/audit.log","offset":4096,"line":12,
//	 "reason":"field \"actor\": missing","sha256":"<hex of the line>",
//	 "length":57,"text":"{\"action\":\"auth.login\",\"password\":\"hmac-sha256:…\"}"}
//
// sha256 and length are always of the line as it is in the file, without
// its newline, so that offset and length cut it out of the file. text is
// the record after the pipeline's redaction (sources.Redactor); when it is
// absent, text_omitted says why:
//
//	"max_line_bytes"  the line is over max_line_bytes and was never held whole
//	"rate"            over dead_letter_text_rate texts a second were refused
//	"disabled"        dead_letter_text_rate is 0
//	"no_redactor"     the emitter cannot redact, so no text is kept at all
type deadLetter struct {
	Time        string `json:"time"`
	Source      string `json:"source"`
	File        string `json:"file"`
	Offset      int64  `json:"offset"`
	Line        int    `json:"line"`
	Reason      string `json:"reason"`
	SHA256      string `json:"sha256"`
	Length      int64  `json:"length"`
	Text        string `json:"text,omitempty"`
	TextOmitted string `json:"text_omitted,omitempty"`
}

// The values of deadLetter.TextOmitted.
const (
	omitTooLong    = "max_line_bytes"
	omitRate       = "rate"
	omitDisabled   = "disabled"
	omitNoRedactor = "no_redactor"
)

// maxReason bounds the reason kept and logged for a refused line: an
// error may quote an event id, which can be as long as a line.
const maxReason = 1024

// deadLetterFile appends entries to the dead-letter file through the
// shared writer (internal/deadletter): created durably, 0600 in a 0700
// directory, at the first entry; a torn last line is kept and the next
// entry starts on a line of its own.
type deadLetterFile struct {
	path string
	w    *deadletter.Writer
	buf  bytes.Buffer
}

// write appends entries with one write and one fsync, so that a read
// position that moves past the lines afterwards never loses them.
func (d *deadLetterFile) write(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	if d.w == nil {
		d.w = deadletter.New(d.path)
	}
	d.buf.Reset()
	enc := json.NewEncoder(&d.buf)
	enc.SetEscapeHTML(false)
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
	}
	err := d.w.Append(d.buf.Bytes())
	if d.buf.Cap() > 4<<20 {
		d.buf = bytes.Buffer{} // do not hold a flood's buffer
	}
	return err
}

func (d *deadLetterFile) close() {
	if d.w != nil {
		d.w.Close()
	}
}

// letter is the dead-letter entry of a refused line: line is the line as
// it is in the file (without its newline), record the bytes that were
// handed to the Emitter (nil for a line never held whole).
func (s *Source) letter(now time.Time, file string, off int64, lineNo int, reason string, line, record []byte) deadLetter {
	sum := sha256.Sum256(line)
	d := deadLetter{
		Time: now.UTC().Format(time.RFC3339Nano), Source: s.cfg.Name, File: file,
		Offset: off, Line: lineNo, Reason: clip(reason, maxReason),
		SHA256: hex.EncodeToString(sum[:]), Length: int64(len(line)),
	}
	s.keepText(now, &d, record)
	return d
}

// keepText sets the redacted text of d, or why there is none. Texts are
// sampled at dead_letter_text_rate a second: the cost of redaction and
// of the dead-letter file stay bounded whatever the rate of refusals.
func (s *Source) keepText(now time.Time, d *deadLetter, record []byte) {
	switch {
	case record == nil:
		d.TextOmitted = omitTooLong
	case s.texts == nil:
		d.TextOmitted = omitDisabled
	case s.redactor == nil:
		d.TextOmitted = omitNoRedactor
	case !s.texts.AllowN(now, 1):
		d.TextOmitted = omitRate
	default:
		d.Text = string(s.redactor.RedactRaw(record))
	}
}

// clip cuts s to at most n bytes on a UTF-8 boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}

// deadLetter writes entries durably, counts them and logs them, at most
// logBurst warnings at once and one a second after that: a flood of
// refusals is summed up, never logged line by line.
func (s *Source) deadLetter(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	if err := s.dl.write(entries); err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Name, err)
	}
	now := s.now()
	s.counts.Refuse(len(entries), now)
	for _, e := range entries {
		if !s.warns.AllowN(now, 1) {
			s.unlogged++
			continue
		}
		args := []any{"file", e.File, "offset", e.Offset, "line", e.Line, "length", e.Length, "reason", clip(e.Reason, 256)}
		if s.unlogged > 0 {
			args = append(args, "also_refused_since_last_warning", s.unlogged)
			s.unlogged = 0
		}
		s.log.Warn("file source: line dead-lettered", args...)
	}
	return nil
}

// flushWarnings logs the count of refused lines that got no warning of
// their own, once the rate of warnings allows it or when force is set.
func (s *Source) flushWarnings(force bool) {
	if s.unlogged > 0 && (force || s.warns.AllowN(s.now(), 1)) {
		s.log.Warn("file source: more lines dead-lettered", "count", s.unlogged, "dead_letter_file", s.cfg.DeadLetterFile)
		s.unlogged = 0
	}
}

// Warnings of refused lines: logBurst at once, then one a second.
const logBurst = 10

func newWarnLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(time.Second), logBurst) }

// newTextLimiter returns the sampler of dead-letter texts, nil when no
// text is kept.
func newTextLimiter(perSecond int) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), perSecond)
}
