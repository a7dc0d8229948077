package pipeline

import (
	"bytes"
	"strings"
	"unsafe"
)

// RedactRaw returns the text that may be kept of a record that Normalize
// refused (a dead-letter file, say), with the secrets the pipeline would
// have redacted replaced the same way. It never fails, whatever data is:
//
//   - data that decodes as JSON (any JSON value, valid event or not) is
//     redacted as a tree with the rules of Normalize (secret names, the
//     secret category's value members, shapes, the configured names,
//     patterns and paths; change documents parsed or, when they do not
//     parse, redacted whole) and re-encoded as canonical JSON (RFC 8785;
//     duplicate members are kept in place, numbers that do not fit a
//     float64 become strings);
//   - any other data is scanned once as text: the value of every
//     key=value, key: value or "key": "value" pair whose key is a secret
//     name (or "value", since the category is unknown) and everything
//     secret by its shape is replaced; the rest is returned as it was.
//
// A UTF-8 byte order mark at the start is dropped. Its cost is that of
// normalizing a record of the same size, or less. Safe for concurrent use.
func (n *Normalizer) RedactRaw(data []byte) []byte {
	data = bytes.TrimPrefix(data, utf8BOM)
	w := n.getWork()
	defer n.putWork(w)
	if out, ok := n.redactJSON(w, data); ok {
		return out
	}
	wk := walker{n: n, mac: w.mac, spans: w.spans[:0], text: true}
	out, changed := wk.shapes(unsafe.String(unsafe.SliceData(data), len(data)))
	w.spans = wk.spans[:0]
	if !changed {
		return bytes.Clone(data)
	}
	return unsafe.Slice(unsafe.StringData(out), len(out)) // a new string: redactSpans built it
}

// redactJSON is RedactRaw for data that is JSON.
func (n *Normalizer) redactJSON(w *work, data []byte) ([]byte, bool) {
	d := n.decoder(w, data, true)
	root, ferr := d.parseDocument(0)
	d.done(w, ferr)
	if ferr != nil {
		return nil, false
	}
	var st state
	secretCat := false
	if root.kind == kObject {
		if c := root.get("category"); c != nil && isText(c) {
			known, _ := n.category.lookup(c.s)
			secretCat = known == "secret"
		}
		if a := root.get("action"); a != nil && isText(a) && strings.HasPrefix(a.s, "secret.") {
			secretCat = true
		}
		if ch := root.get("changes"); ch != nil && ch.kind == kObject {
			for i := range ch.kids {
				m := &ch.kids[i]
				if !m.dup && (m.key == "before" || m.key == "after") && m.v.kind == kString {
					switch doc, k := n.parseDoc(w, m.v.s, 2, &st); k {
					case docTree:
						m.v = doc
					case docUnparsed:
						w.mbuf = redactInto(w.mac, w.mbuf, &m.v)
					}
				}
			}
		}
	}
	wk := walker{
		n:         n,
		secretCat: secretCat,
		noPath:    len(n.paths) == 0,
		mac:       w.mac,
		buf:       w.mbuf,
		path:      w.path[:0],
		spans:     w.spans[:0],
	}
	if root.kind == kObject && !wk.noPath {
		// Paths are paths into the event: members that are not fields of
		// the schema are under "attributes" there.
		for i := range root.kids {
			m := &root.kids[i]
			wk.path = wk.path[:0]
			if !schemaField(m.key) {
				wk.path = append(wk.path, seg{key: "attributes", idx: -1})
			}
			wk.path = append(wk.path, seg{key: m.key, idx: -1})
			wk.member(m, false)
		}
	} else {
		wk.walk(&root)
	}
	w.mbuf, w.path, w.spans = wk.buf, wk.path[:0], wk.spans[:0]
	w.body = appendValue(w.body[:0], &root)
	return bytes.Clone(w.body), true
}

// schemaField reports a top-level member name that is a field of the
// event schema (or its input alias) rather than an attribute.
func schemaField(key string) bool {
	switch key {
	case "id", "time", "@timestamp", "timestamp", "action", "category", "outcome", "reason",
		"actor", "target", "org_id", "request_id", "correlation_id", "changes", "attributes":
		return true
	}
	return false
}
