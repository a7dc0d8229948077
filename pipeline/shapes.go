package pipeline

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Secrets by their shape. Every string the redaction stage sees (values at
// any depth, member names, and the text of a refused record) is scanned
// once, left to right, by shapeSpans. The scan costs one table look-up per
// byte; the detectors below run only where their trigger stands:
//
//   - at '=' or ':' (key=value, key: value, "key": "value"): the name
//     before it is judged by the name rules; if secret, its value is a span;
//   - at "://": the password of a URL's user information;
//   - at the start of a word whose first two bytes begin a known prefix:
//     "Bearer " and "Basic " credentials, and the credential formats of
//     keyRules;
//   - at "-----BEGIN ": a PEM private key block.
//
// Configured patterns (Options.RedactPatterns) then run on the whole
// string. Only the secret part of a string is replaced, by the redaction
// of that part, so the rest stays readable.

// span is the byte range s[start:end] of a secret inside a string.
type span struct{ start, end int }

// Scanner byte classes.
const (
	scWord  = 1 << iota // a byte of a word: letters, digits, '_', non-ASCII
	scPair              // '=' or ':'
	scKey               // a byte of a name in key=value: word bytes, '.', '-'
	scToken             // a byte of a credential token: word bytes and '-'
)

var scanClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b >= 0x80 {
			t[c] = scWord | scKey | scToken
		}
	}
	t['='] = scPair
	t[':'] = scPair
	t['.'] = scKey
	t['-'] = scKey | scToken
	return t
}()

// minShapeLen is the length under which a string can hold no secret
// shape but a key=value or key: value pair: the shortest credential
// format with its prefix, a URL with a password, and a Bearer or Basic
// credential are all longer.
const minShapeLen = 13

// hasPairByte reports whether s has a '=' or a ':'.
func hasPairByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' || s[i] == ':' {
			return true
		}
	}
	return false
}

// maxPairKey bounds how far back the name of a key=value pair is read.
const maxPairKey = 128

// maxMarkerScan bounds how far a PEM marker line is searched for its end.
const maxMarkerScan = 100

// shapeSpans appends to out the spans of s that are secret by their shape
// (and by the configured patterns), in no particular order, possibly
// overlapping. text is set for the text of a refused record that is not
// JSON, where the event's category is unknown and "value" counts as a
// secret name too.
func (n *Normalizer) shapeSpans(s string, out []span, text bool) []span {
	// i is always at a word start candidate: the start of s, or the byte
	// after a non-word byte.
	for i := 0; i+1 < len(s); {
		if keys.maybe(s[i], s[i+1]) {
			if sp, ok := startSpan(s, i); ok {
				out = append(out, sp)
				i = sp.end
				continue
			}
		}
		i = skipWord(s, i)
		if i+1 >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '-' && s[i+1] == '-':
			// A PEM block needs no word start: "...\n-----BEGIN" in text.
			if sp, ok := pemSpan(s, i); ok {
				out = append(out, sp)
				i = sp.end
				continue
			}
		case c == '\\' && text && i+3 < len(s) && keys.maybe(s[i+2], s[i+3]):
			// In the text of a record, "\n" and the like end a word.
			if sp, ok := startSpan(s, i+2); ok {
				out = append(out, sp)
				i = sp.end
				continue
			}
		}
		if scanClass[s[i]]&scPair != 0 {
			if s[i] == ':' && i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
				if sp, ok := urlSpan(s, i); ok {
					out = append(out, sp)
				}
			} else if sp, ok := n.pairSpan(s, i, text); ok {
				if sp.end > sp.start {
					out = append(out, sp)
				}
				i = max(i+1, sp.end) // past the value
				continue
			}
		}
		i++
	}
	for _, re := range n.patterns {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if len(m) >= 4 && m[2] >= 0 {
				m = m[2:4] // the first group, when the pattern has one
			}
			if m[1] > m[0] {
				out = append(out, span{m[0], m[1]})
			}
		}
	}
	return out
}

// startSpan tries the detectors that start at a word start s[i], whose
// first two bytes begin a known prefix.
func startSpan(s string, i int) (span, bool) {
	switch s[i] {
	case '-':
		return pemSpan(s, i) // at the start of s: later ones are found at any '-'
	case 'b', 'B':
		if sp, ok := authSpan(s, i); ok {
			return sp, true
		}
	}
	end := keys.match(s, i)
	if end <= i {
		return span{}, false
	}
	for end < len(s) && scanClass[s[end]]&scToken != 0 {
		end++
	}
	return span{i, end}, true
}

// skipWord returns the index of the first byte at or after i that is not
// a word byte (letters, digits, '_', non-ASCII), or len(s). Words are
// short, so a byte loop (unrolled by four) beats eight bytes at a time.
func skipWord(s string, i int) int {
	for ; i+4 <= len(s); i += 4 {
		b := s[i : i+4]
		if scanClass[b[0]]&scWord == 0 {
			return i
		}
		if scanClass[b[1]]&scWord == 0 {
			return i + 1
		}
		if scanClass[b[2]]&scWord == 0 {
			return i + 2
		}
		if scanClass[b[3]]&scWord == 0 {
			return i + 3
		}
	}
	for i < len(s) && scanClass[s[i]]&scWord != 0 {
		i++
	}
	return i
}

// pairSpan finds the value of a key=value, key: value or "key": "value"
// pair whose separator is s[j], when its key is a secret name.
func (n *Normalizer) pairSpan(s string, j int, text bool) (span, bool) {
	k := j
	for k > 0 && (s[k-1] == ' ' || s[k-1] == '\t') {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		k--
		if k > 0 && s[k-1] == '\\' {
			k--
		}
	}
	quoted := k < j && (s[k] == '"' || s[k] == '\'' || s[k] == '\\')
	if s[j] == ':' && !quoted && (j+1 >= len(s) || (s[j+1] != ' ' && s[j+1] != '\t')) {
		return span{}, false // "a:b" is a name (secret:read, urn:x), not a pair
	}
	end := k
	for k > 0 && end-k < maxPairKey && scanClass[s[k-1]]&scKey != 0 {
		k--
	}
	if end-k < 2 || !n.secretKey(s[k:end], text) {
		return span{}, false
	}
	v := j + 1
	for v < len(s) && (s[v] == ' ' || s[v] == '\t' || s[v] == '=') {
		v++
	}
	if v >= len(s) {
		return span{}, false
	}
	sp := valueSpan(s, v, s[j])
	if redactedAt(s, sp.start) {
		// Already redacted: skip it, redact nothing.
		return span{sp.start + len(RedactedPrefix) + 64, sp.start + len(RedactedPrefix) + 64}, true
	}
	return sp, true
}

// valueSpan returns the value that starts at s[v] after the separator sep:
// the inside of a quoted string (also \"...\" inside JSON text), a whole
// {...} or [...] (brackets matched, strings skipped), or up to the next
// delimiter: white space and ; & , ) } ] < > quotes and backslash after
// '=', the end of the line and ; & , } ] < > quotes and backslash after
// ':'.
func valueSpan(s string, v int, sep byte) span {
	switch c := s[v]; {
	case c == '"' || c == '\'':
		e := v + 1
		for e < len(s) && s[e] != c {
			if s[e] == '\\' {
				e++
			}
			e++
		}
		return span{v + 1, min(e, len(s))}
	case c == '\\' && v+1 < len(s) && s[v+1] == '"':
		if e := strings.Index(s[v+2:], `\"`); e >= 0 {
			return span{v + 2, v + 2 + e}
		}
		return span{v + 2, len(s)}
	case c == '{' || c == '[':
		return span{v, matchBracket(s, v)}
	}
	e := v
	for ; e < len(s); e++ {
		c := s[e]
		if c == ';' || c == '&' || c == ',' || c == '}' || c == ']' || c == '<' || c == '>' ||
			c == '"' || c == '\'' || c == '\\' || c == '\n' || c == '\r' {
			break
		}
		if sep == '=' && (c == ' ' || c == '\t' || c == ')') {
			break
		}
	}
	for e > v && (s[e-1] == ' ' || s[e-1] == '\t') {
		e--
	}
	return span{v, e}
}

// matchBracket returns the end of the {...} or [...] that starts at s[v]
// (past its closing bracket), or len(s) when it does not close.
func matchBracket(s string, v int) int {
	depth := 0
	for e := v; e < len(s); e++ {
		switch s[e] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return e + 1
			}
		case '"':
			for e++; e < len(s) && s[e] != '"'; e++ {
				if s[e] == '\\' {
					e++
				}
			}
		}
	}
	return len(s)
}

// urlSpan returns the password of a URL whose "://" is at s[j]: in
// scheme://user:password@host, the text between the first ':' of the user
// information and the last '@' of the authority.
func urlSpan(s string, j int) (span, bool) {
	if j == 0 || scanClass[s[j-1]]&scWord == 0 {
		return span{}, false
	}
	p := j + 3
	e := p
	for ; e < len(s); e++ {
		c := s[e]
		if c == '/' || c == '?' || c == '#' || c <= ' ' || c == '"' || c == '\'' || c == '\\' || c == '<' || c == '>' {
			break
		}
	}
	at := strings.LastIndexByte(s[p:e], '@')
	if at < 0 {
		return span{}, false
	}
	colon := strings.IndexByte(s[p:p+at], ':')
	if colon < 0 || colon+1 == at {
		return span{}, false
	}
	return span{p + colon + 1, p + at}, true
}

// authSpan returns the credential of "Bearer <token>" or "Basic <token>"
// (scheme in any case) at s[i]. A Bearer token counts when it has at least
// 8 characters and a digit or one of -._~+/= or 20 characters (so that
// "bearer tokens" stays prose); a Basic one when it is base64 of text with
// a ':' (user:password).
func authSpan(s string, i int) (span, bool) {
	var basic bool
	switch {
	case hasPrefixFold(s[i:], "bearer"):
		i += len("bearer")
	case hasPrefixFold(s[i:], "basic"):
		i += len("basic")
		basic = true
	default:
		return span{}, false
	}
	p := i
	for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	if p == i || p >= len(s) || redactedAt(s, p) {
		return span{}, false
	}
	e := p
	mixed := false
	for ; e < len(s); e++ {
		c := s[e]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			continue
		}
		if c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			mixed = true
			continue
		}
		break
	}
	for e < len(s) && s[e] == '=' {
		e++
		mixed = true
	}
	tok := s[p:e]
	if len(tok) < 8 {
		return span{}, false
	}
	if basic {
		if !isBasicCredential(tok) {
			return span{}, false
		}
	} else if !mixed && len(tok) < 20 {
		return span{}, false
	}
	return span{p, e}, true
}

func isBasicCredential(tok string) bool {
	if len(tok) > 512 {
		return true
	}
	var buf [384]byte
	enc := base64.StdEncoding
	if len(tok)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	k, err := enc.Decode(buf[:], []byte(tok))
	return err == nil && strings.IndexByte(string(buf[:k]), ':') >= 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// pemSpan returns a PEM private key block that starts at s[i]: from
// "-----BEGIN ... PRIVATE KEY-----" to the end of its "-----END ...-----"
// line, or to the end of s when it has none.
func pemSpan(s string, i int) (span, bool) {
	const begin, end = "-----BEGIN ", "-----END "
	if !strings.HasPrefix(s[i:], begin) {
		return span{}, false
	}
	h := i + len(begin)
	c := strings.Index(s[h:min(len(s), h+maxMarkerScan)], "-----")
	if c < 0 || !strings.Contains(s[h:h+c], "PRIVATE KEY") {
		return span{}, false
	}
	body := h + c + 5
	e := strings.Index(s[body:], end)
	if e < 0 {
		return span{i, len(s)}, true
	}
	e += body + len(end)
	c = strings.Index(s[e:min(len(s), e+maxMarkerScan)], "-----")
	if c < 0 {
		return span{i, len(s)}, true
	}
	return span{i, e + c + 5}, true
}

// redactedAt reports whether a redaction result starts at s[i].
func redactedAt(s string, i int) bool {
	const n = len(RedactedPrefix) + 64
	return len(s)-i >= n && isRedacted(s[i:i+n])
}

// secretKey judges the name of a key=value pair: the name rules, the
// configured names, and in the text of a refused record also "value".
func (n *Normalizer) secretKey(name string, text bool) bool {
	if isSecretName(name) || n.isExtraName(name) {
		return true
	}
	return text && keyEqual(name, "value")
}

// cleanSpans sorts and merges spans, and drops any that overlaps an
// earlier redaction result in s (so that a second pass over a redacted
// string finds nothing new to do).
func cleanSpans(s string, spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	merged := spans[:0]
	for _, sp := range spans {
		if k := len(merged); k > 0 && sp.start <= merged[k-1].end {
			merged[k-1].end = max(merged[k-1].end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	if !strings.Contains(s, RedactedPrefix) {
		return merged
	}
	kept := merged[:0]
	for _, sp := range merged {
		if !overlapsRedacted(s, sp) {
			kept = append(kept, sp)
		}
	}
	return kept
}

// overlapsRedacted reports whether sp overlaps a redaction result in s.
func overlapsRedacted(s string, sp span) bool {
	const n = len(RedactedPrefix) + 64
	from := max(0, sp.start-n+1)
	for {
		i := strings.Index(s[from:min(len(s), sp.end+len(RedactedPrefix))], RedactedPrefix)
		if i < 0 {
			return false
		}
		i += from
		if i >= sp.end {
			return false
		}
		if redactedAt(s, i) && i+n > sp.start {
			return true
		}
		from = i + 1
	}
}
