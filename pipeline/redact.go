package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"unsafe"
)

// RedactedPrefix starts every redacted value: "hmac-sha256:" followed by
// 64 lower-case hex digits of HMAC-SHA256(RedactKey, input), where input is
// the raw string for a string (or the secret part of a string) and the RFC
// 8785 text for any other value.
const RedactedPrefix = "hmac-sha256:"

// redactedLen is the length of a redaction result.
const redactedLen = len(RedactedPrefix) + 2*sha256.Size

// keyEqual is ASCII case-insensitive equality that also treats '-' as '_';
// name is lower-case.
func keyEqual(key, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '-' {
			c = '_'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// isRedacted reports whether s already is a redaction result, which is left
// alone so that normalizing a normalized event again is stable.
func isRedacted(s string) bool {
	if len(s) != redactedLen || !strings.HasPrefix(s, RedactedPrefix) {
		return false
	}
	for i := len(RedactedPrefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// patSeg is one segment of a configured redact path.
type patSeg struct {
	key string
	idx int // >= 0 when the segment is a number
	any bool
}

func compilePaths(paths []string) [][]patSeg {
	out := make([][]patSeg, 0, len(paths))
	for _, p := range paths {
		parts := strings.Split(p, ".")
		segs := make([]patSeg, len(parts))
		for i, s := range parts {
			segs[i] = patSeg{key: s, idx: -1, any: s == "*"}
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				segs[i].idx = n
			}
		}
		out = append(out, segs)
	}
	return out
}

// walker redacts a tree in place and pulls out flagged duplicate members.
type walker struct {
	n         *Normalizer
	secretCat bool
	path      []seg
	mac       hash.Hash // HMAC-SHA256 under the redact key
	buf       []byte
	takeDups  bool
	dups      []value // {path, value} objects
	// noPath is set when nothing reads path (no RedactPaths, no
	// duplicates to record), so walk does not keep it.
	noPath bool
	spans  []span // shape scanner output, reused
	// text is set for the text of a refused record: see shapeSpans.
	text bool
}

func (w *walker) pathMatches() bool {
	for _, p := range w.n.paths {
		if len(p) != len(w.path) {
			continue
		}
		ok := true
		for i, ps := range p {
			s := w.path[i]
			if ps.any {
				continue
			}
			if s.idx >= 0 {
				ok = ps.idx == s.idx
			} else {
				ok = ps.key == s.key
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// shouldRedact decides for the member at the current path named key.
func (w *walker) shouldRedact(key string, isIndex bool) bool {
	if !isIndex {
		if isSecretName(key) || (w.n.names != nil && w.n.isExtraName(key)) {
			return true
		}
		if w.secretCat && keyEqual(key, "value") {
			return true
		}
	}
	return len(w.n.paths) > 0 && w.pathMatches()
}

func (w *walker) redact(v *value) { w.buf = redactInto(w.mac, w.buf, v) }

// redactInto replaces v by its redaction (unless it already is one), using
// mac (keyed; reset here) and buf (scratch, returned for reuse).
func redactInto(mac hash.Hash, buf []byte, v *value) []byte {
	switch {
	case v.kind == kTrue || v.kind == kFalse || v.kind == kNull:
		return buf // holds no secret: a flag such as "secrets": true stays
	case v.kind == kString && isRedacted(v.s):
		return buf
	}
	mac.Reset()
	if v.kind == kString {
		mac.Write(unsafe.Slice(unsafe.StringData(v.s), len(v.s)))
	} else {
		buf = appendValue(buf[:0], v)
		mac.Write(buf)
		clear(buf) // pooled: keep no secret in it
	}
	out := appendRedacted(make([]byte, 0, redactedLen), mac)
	*v = value{kind: kString, s: unsafe.String(unsafe.SliceData(out), len(out)), flag: flagPlain}
	return buf
}

// appendRedacted appends RedactedPrefix and the hex of mac's sum.
func appendRedacted(b []byte, mac hash.Hash) []byte {
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	b = append(b, RedactedPrefix...)
	return hex.AppendEncode(b, sum[:])
}

// shapes redacts the parts of s that are secret by their shape (and by the
// configured patterns), and reports whether it changed anything.
func (w *walker) shapes(s string) (string, bool) {
	if len(s) < minShapeLen && w.n.patterns == nil && !hasPairByte(s) {
		return s, false // the common short string, without a call
	}
	w.spans = w.n.shapeSpans(s, w.spans[:0], w.text)
	if len(w.spans) == 0 {
		return s, false
	}
	return redactSpans(w.mac, s, cleanSpans(s, w.spans))
}

// redactSpans replaces each span of s by the redaction of its text.
func redactSpans(mac hash.Hash, s string, spans []span) (string, bool) {
	var b []byte
	from := 0
	for _, sp := range spans {
		sec := s[sp.start:sp.end]
		if isRedacted(sec) {
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s)+len(spans)*redactedLen)
		}
		b = append(b, s[from:sp.start]...)
		mac.Reset()
		mac.Write(unsafe.Slice(unsafe.StringData(sec), len(sec)))
		b = appendRedacted(b, mac)
		from = sp.end
	}
	if b == nil {
		return s, false
	}
	b = append(b, s[from:]...)
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// shapeValue applies shapes to a string value.
func (w *walker) shapeValue(v *value) {
	if s, ok := w.shapes(v.s); ok {
		v.s = s
		v.flag &^= flagPlain
		if plainPrefix(s) == len(s) {
			v.flag |= flagPlain
		}
	}
}

// minShapeKey is the shortest member name scanned for shapes: a shorter
// one has no room for a credential with its context.
const minShapeKey = 16

// shapeKey applies shapes to a member name.
func (w *walker) shapeKey(m *member) {
	if len(m.key) < minShapeKey {
		return
	}
	if s, ok := w.shapes(m.key); ok {
		m.key = s
		m.plain = plainPrefix(s) == len(s)
	}
}

// member walks one member (already pushed on w.path).
func (w *walker) member(m *member, isIndex bool) {
	if w.shouldRedact(m.key, isIndex) {
		w.redact(&m.v)
	} else {
		w.walk(&m.v)
	}
	if !isIndex {
		w.shapeKey(m)
	}
}

// walk redacts inside v and, when takeDups, moves duplicate members out.
func (w *walker) walk(v *value) {
	switch v.kind {
	case kString:
		// A short string without '=' or ':' can hold no shape: decided
		// here, without a call, for the many short values of an event.
		if (len(v.s) >= minShapeLen || w.n.patterns != nil || hasPairByte(v.s)) &&
			v.flag&flagBigNumber == 0 && !isRedacted(v.s) {
			w.shapeValue(v)
		}
	case kArray:
		if w.noPath {
			for i := range v.kids {
				w.member(&v.kids[i], true)
			}
			return
		}
		for i := range v.kids {
			w.path = append(w.path, seg{idx: i})
			w.member(&v.kids[i], true)
			w.path = w.path[:len(w.path)-1]
		}
	case kObject:
		if w.noPath {
			for i := range v.kids {
				w.member(&v.kids[i], false)
			}
			return
		}
		if !w.takeDups {
			for i := range v.kids {
				w.path = append(w.path, seg{key: v.kids[i].key, idx: -1})
				w.member(&v.kids[i], false)
				w.path = w.path[:len(w.path)-1]
			}
			return
		}
		kept := v.kids[:0]
		for i := range v.kids {
			m := &v.kids[i]
			w.path = append(w.path, seg{key: m.key, idx: -1})
			w.member(m, false)
			if m.dup {
				w.addDup(renderPath(w.path), &m.v)
			} else {
				kept = append(kept, *m)
			}
			w.path = w.path[:len(w.path)-1]
		}
		clear(v.kids[len(kept):])
		v.kids = kept
	}
}

// addDup records a duplicate member as {path, value}. In a secret-category
// event the record's "value" member falls under the rule that redacts every
// member named value, so it is redacted now: normalizing the event again
// then changes nothing.
func (w *walker) addDup(path string, v *value) {
	if w.secretCat {
		w.redact(v)
	}
	w.dups = append(w.dups, dupRecord(path, *v))
}

func dupRecord(path string, v value) value {
	return value{kind: kObject, kids: []member{
		{key: "path", v: str(path)},
		{key: "value", v: v},
	}}
}

// collectBig appends the paths of strings that were big numbers.
func collectBig(v *value, path []seg, out []value) []value {
	switch v.kind {
	case kString:
		if v.flag&flagBigNumber != 0 {
			out = append(out, str(renderPath(path)))
		}
	case kArray:
		for i := range v.kids {
			out = collectBig(&v.kids[i].v, append(path, seg{idx: i}), out)
		}
	case kObject:
		for i := range v.kids {
			out = collectBig(&v.kids[i].v, append(path, seg{key: v.kids[i].key, idx: -1}), out)
		}
	}
	return out
}
