package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"unsafe"
)

// RedactedPrefix starts every redacted value: "hmac-sha256:" followed by
// 64 lower-case hex digits of HMAC-SHA256(RedactKey, input), where input is
// the raw string for a string and the RFC 8785 text for any other value.
const RedactedPrefix = "hmac-sha256:"

// secretKeys are member names (ASCII case-insensitive, '-' = '_') whose
// values are always redacted, whole subtree, at any depth.
var secretKeys = []string{
	"password", "passwd", "secret", "client_secret", "token", "access_token",
	"refresh_token", "api_key", "apikey", "private_key", "secret_key",
	"credentials", "authorization", "cookie",
}

// keyEqual is ASCII case-insensitive equality that also treats '-' as '_'.
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

func isSecretKey(key string) bool {
	// secretKeys by length, tried only against names of that length.
	switch len(key) {
	case 5:
		return keyEqual(key, "token")
	case 6:
		return keyEqual(key, "passwd") || keyEqual(key, "secret") || keyEqual(key, "apikey") || keyEqual(key, "cookie")
	case 7:
		return keyEqual(key, "api_key")
	case 8:
		return keyEqual(key, "password")
	case 10:
		return keyEqual(key, "secret_key")
	case 11:
		return keyEqual(key, "private_key") || keyEqual(key, "credentials")
	case 12:
		return keyEqual(key, "access_token")
	case 13:
		return keyEqual(key, "client_secret") || keyEqual(key, "refresh_token") || keyEqual(key, "authorization")
	}
	return false
}

// isRedacted reports whether s already is a redaction result, which is left
// alone so that normalizing a normalized event again is stable.
func isRedacted(s string) bool {
	if len(s) != len(RedactedPrefix)+64 || !strings.HasPrefix(s, RedactedPrefix) {
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
	mac       hash.Hash
	buf       []byte
	takeDups  bool
	dups      []value // {path, value} objects
	// noPath is set when nothing reads path (no RedactPaths, no
	// duplicates to record), so walk does not keep it.
	noPath bool
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
		if isSecretKey(key) {
			return true
		}
		if w.secretCat && keyEqual(key, "value") {
			return true
		}
	}
	return len(w.n.paths) > 0 && w.pathMatches()
}

func (w *walker) redact(v *value) {
	if v.kind == kString && isRedacted(v.s) {
		return
	}
	if w.mac == nil {
		w.mac = hmac.New(sha256.New, w.n.opts.RedactKey)
	} else {
		w.mac.Reset()
	}
	if v.kind == kString {
		w.mac.Write(unsafe.Slice(unsafe.StringData(v.s), len(v.s)))
	} else {
		w.buf = appendValue(w.buf[:0], v)
		w.mac.Write(w.buf)
		clear(w.buf) // pooled: keep no secret in it
	}
	var sum [sha256.Size]byte
	w.mac.Sum(sum[:0])
	out := make([]byte, len(RedactedPrefix)+hex.EncodedLen(len(sum)))
	copy(out, RedactedPrefix)
	hex.Encode(out[len(RedactedPrefix):], sum[:])
	*v = value{kind: kString, s: string(out)}
}

// member walks one member (already pushed on w.path).
func (w *walker) member(m *member, isIndex bool) {
	if w.shouldRedact(m.key, isIndex) {
		w.redact(&m.v)
		return
	}
	w.walk(&m.v)
}

// walk redacts inside v and, when takeDups, moves duplicate members out.
func (w *walker) walk(v *value) {
	switch v.kind {
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
