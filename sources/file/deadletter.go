package file

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// deadLetter is one line of the dead-letter file (NDJSON, version 1):
//
//	{"time":"2026-01-01T00:00:00.123456789Z","source":"control_plane",
//	 "file":"/var/log/keeptrusts/audit.log","offset":4096,"line":12,
//	 "reason":"not valid JSON","sha256":"<hex of the line>","length":57,
//	 "text":"{\"password\": \"[REDACTED]\", ..."}
//
// text is absent for lines over max_line_bytes (they are never buffered
// whole); sha256 and length are always of the line as it is in the file,
// without its newline.
type deadLetter struct {
	Time   string `json:"time"`
	Source string `json:"source"`
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
	Text   string `json:"text,omitempty"`
}

// secretKey matches JSON keys whose string values the dead-letter file must
// not keep: any key containing one of these words, case-insensitively.
const secretWords = `password|passwd|passphrase|secret|token|api[_-]?key|apikey|private[_-]?key|authorization|cookie|credential|session[_-]?id|value`

var (
	// "key": "value" with a secret-looking key (the value may hold escapes).
	jsonSecret = regexp.MustCompile(`(?i)("[^"\\]*(?:` + secretWords + `)[^"\\]*"\s*:\s*)"(?:[^"\\]|\\.)*"?`)
	// key=value and key: value in text that is not JSON.
	textSecret = regexp.MustCompile(`(?i)(\b[\w.-]*(?:` + secretWords + `)[\w.-]*\s*[=:]\s*)([^\s"',;&{}]+)`)
	// bearer credentials anywhere.
	bearer = regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}`)
)

// redact replaces secret-looking values in a refused line. It is textual and
// best effort: it catches "key": "string" pairs and key=value pairs whose key
// contains password, passwd, passphrase, secret, token, api_key, apikey,
// private_key, authorization, cookie, credential(s), session_id or value, and
// Bearer/Basic credentials; it does not see secrets under other keys or
// non-string values (objects, numbers) under those keys.
func redact(s string) string {
	s = bearer.ReplaceAllString(s, `$1[REDACTED]`)
	s = jsonSecret.ReplaceAllString(s, `$1"[REDACTED]"`)
	return textSecret.ReplaceAllString(s, `$1[REDACTED]`)
}

// deadLetterFile appends entries to the dead-letter file, opened lazily.
type deadLetterFile struct {
	path string
	f    *os.File
}

// write appends entries and fsyncs, so that a read position that moves past
// the lines afterwards never loses them.
func (d *deadLetterFile) write(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
		d.f = f
	}
	var buf []byte
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("dead-letter: write %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead-letter: fsync %s: %w", d.path, err)
	}
	return nil
}

func (d *deadLetterFile) close() {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}

// lineLetter is the dead-letter entry of a line held whole in memory.
func lineLetter(now time.Time, source, file string, off int64, line int, reason string, data []byte) deadLetter {
	sum := sha256.Sum256(data)
	return deadLetter{
		Time:   now.UTC().Format(time.RFC3339Nano),
		Source: source,
		File:   file,
		Offset: off,
		Line:   line,
		Reason: reason,
		SHA256: hex.EncodeToString(sum[:]),
		Length: int64(len(data)),
		Text:   redact(string(data)),
	}
}
