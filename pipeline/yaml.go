package pipeline

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxDocNodes bounds the nodes a YAML change document may expand to
// (aliases included), so an alias bomb is kept as a string, not expanded.
const maxDocNodes = 100000

// docKind says what parseDoc made of a change document given as a string.
type docKind uint8

const (
	// docScalar: not a document (a scalar, or one line that does not look
	// like one): the string is kept, and goes through the shape rules.
	docScalar docKind = iota
	// docTree: a JSON or YAML mapping or sequence, returned as a tree.
	docTree
	// docUnparsed: looks like a document but does not parse (or breaks a
	// limit): the caller redacts it whole, since it may hold secrets that
	// no rule can find in it.
	docUnparsed
)

// parseDoc turns a change document given as a string into a tree: JSON
// first (exact numbers and duplicate keys kept), then YAML. Only a mapping
// or a sequence counts as a document. base is the depth the document is
// placed at.
func (n *Normalizer) parseDoc(w *work, s string, base int, st *state) (value, docKind) {
	t := strings.TrimSpace(s)
	if t == "" {
		return value{}, docScalar
	}
	if t[0] == '{' || t[0] == '[' {
		d := n.decoder(w, []byte(t), true)
		v, err := d.parseDocument(base)
		d.done(w, err)
		if err == nil {
			st.nBig += d.nBig
			st.nDup += d.nDup
			return v, docTree
		}
	}
	unparsed := docScalar
	if looksLikeDoc(t) {
		unparsed = docUnparsed
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(s), &root); err != nil {
		return value{}, unparsed
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) != 1 {
			return value{}, unparsed
		}
		doc = doc.Content[0]
	}
	for doc.Kind == yaml.AliasNode && doc.Alias != nil {
		doc = doc.Alias
	}
	if doc.Kind != yaml.MappingNode && doc.Kind != yaml.SequenceNode {
		return value{}, docScalar
	}
	c := yconv{maxDepth: n.opts.MaxDepth, maxField: n.opts.MaxFieldBytes}
	v, ok := c.node(doc, base+1)
	if !ok {
		return value{}, docUnparsed
	}
	st.nBig += c.nBig
	st.nDup += c.nDup
	return v, docTree
}

// looksLikeDoc reports whether a trimmed string looks like a JSON or YAML
// document rather than a scalar: several lines, a '{' or '[' first, a
// first line "key:" or "key: ..." or a sequence item "- ...".
func looksLikeDoc(t string) bool {
	if strings.ContainsAny(t, "\n\r") || t[0] == '{' || t[0] == '[' {
		return true
	}
	if t == "-" || strings.HasPrefix(t, "- ") {
		return true
	}
	k := strings.IndexByte(t, ':')
	return k > 0 && t[0] != '#' && (k == len(t)-1 || t[k+1] == ' ' || t[k+1] == '\t')
}

type yconv struct {
	maxDepth, maxField int
	nodes              int
	nBig, nDup         int
}

func (c *yconv) node(n *yaml.Node, depth int) (value, bool) {
	c.nodes++
	if c.nodes > maxDocNodes {
		return value{}, false
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return value{}, false
		}
		return c.node(n.Alias, depth)
	case yaml.MappingNode:
		if depth > c.maxDepth || len(n.Content)%2 != 0 {
			return value{}, false
		}
		v := value{kind: kObject, kids: make([]member, 0, len(n.Content)/2)}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode || len(k.Value) > c.maxField || !utf8.ValidString(k.Value) {
				return value{}, false
			}
			el, ok := c.node(n.Content[i+1], depth+1)
			if !ok {
				return value{}, false
			}
			dup := false
			for j := range v.kids {
				if v.kids[j].key == k.Value {
					dup = true
					c.nDup++
					break
				}
			}
			v.kids = append(v.kids, member{key: k.Value, dup: dup, v: el})
		}
		return v, true
	case yaml.SequenceNode:
		if depth > c.maxDepth {
			return value{}, false
		}
		v := value{kind: kArray, kids: make([]member, 0, len(n.Content))}
		for _, e := range n.Content {
			el, ok := c.node(e, depth+1)
			if !ok {
				return value{}, false
			}
			v.kids = append(v.kids, member{v: el})
		}
		return v, true
	case yaml.ScalarNode:
		if len(n.Value) > c.maxField || !utf8.ValidString(n.Value) {
			return value{}, false
		}
		return c.scalar(n), true
	}
	return value{}, false
}

func (c *yconv) scalar(n *yaml.Node) value {
	switch n.ShortTag() {
	case "!!null":
		return value{kind: kNull}
	case "!!bool":
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			if b {
				return value{kind: kTrue}
			}
			return value{kind: kFalse}
		}
	case "!!int", "!!float":
		if isJSONNumber(n.Value) {
			v, big := numberValue(n.Value, !strings.ContainsAny(n.Value, ".eE"))
			if big {
				c.nBig++
			}
			return v
		}
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			v, big := numberValue(strconv.FormatInt(i, 10), true)
			if big {
				c.nBig++
			}
			return v
		}
	}
	return str(n.Value)
}

// isJSONNumber reports whether s matches the RFC 8259 number grammar.
func isJSONNumber(s string) bool {
	d := decoder{data: []byte(s), maxField: len(s) + 1}
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var v value
	err := d.parseNumber(&v)
	return err == nil && d.pos == len(s)
}
