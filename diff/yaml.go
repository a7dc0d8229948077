package diff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// errNotDocument marks YAML that parses but cannot be a JSON document
// (a mapping as a key, duplicate keys, a bad merge); such a string is
// compared as text.
var errNotDocument = errors.New("diff: YAML is not a JSON-compatible document")

// parseYAML parses s as one YAML document whose root is a mapping or a
// sequence, converted to JSON-compatible values. ok is false when s is
// not such a document; err is set only for documents beyond the limits.
func parseYAML(s string) (v any, ok bool, err error) {
	defer func() {
		// The YAML parser is third-party code: whatever it does with a
		// hostile string, the string is then just text.
		if r := recover(); r != nil {
			v, ok, err = nil, false, nil
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, false, nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		return nil, false, nil // a stream of several documents, or garbage after one
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, false, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode && root.Kind != yaml.SequenceNode {
		return nil, false, nil
	}
	c := &yamlConverter{}
	v, err = c.convert(root, 0)
	switch {
	case err == nil:
		return v, true, nil
	case errors.Is(err, ErrTooDeep) || errors.Is(err, ErrTooLarge):
		return nil, false, err
	}
	return nil, false, nil
}

type yamlConverter struct {
	nodes int
}

// convert turns n into a JSON-compatible value; depth is the number of
// containers enclosing it.
func (c *yamlConverter) convert(n *yaml.Node, depth int) (any, error) {
	if n == nil {
		return nil, errNotDocument
	}
	c.nodes++
	if c.nodes > MaxNodes {
		return nil, ErrTooLarge
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		return yamlScalar(n), nil
	case yaml.SequenceNode:
		if depth+1 > MaxDepth {
			return nil, ErrTooDeep
		}
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.MappingNode:
		if depth+1 > MaxDepth {
			return nil, ErrTooDeep
		}
		return c.mapping(n, depth)
	}
	return nil, errNotDocument
}

// mapping converts a mapping node, applying merge keys: explicit keys
// win over merged ones, earlier merged mappings over later ones; merged
// members take the place of the merge key.
func (c *yamlConverter) mapping(n *yaml.Node, depth int) (any, error) {
	if len(n.Content)%2 != 0 {
		return nil, errNotDocument
	}
	type entry struct {
		key    string
		value  any
		merged []*object // set for a merge key
	}
	entries := make([]entry, 0, len(n.Content)/2)
	explicit := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			v, err := c.convert(vn, depth+1)
			if err != nil {
				return nil, err
			}
			var merged []*object
			switch t := v.(type) {
			case *object:
				merged = []*object{t}
			case []any:
				for _, e := range t {
					o, ok := e.(*object)
					if !ok {
						return nil, errNotDocument
					}
					merged = append(merged, o)
				}
			default:
				return nil, errNotDocument
			}
			entries = append(entries, entry{merged: merged})
			continue
		}
		k, err := c.key(kn)
		if err != nil {
			return nil, err
		}
		if explicit[k] {
			return nil, errNotDocument // duplicate key
		}
		explicit[k] = true
		v, err := c.convert(vn, depth+1)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{key: k, value: v})
	}
	o := newObject()
	for _, e := range entries {
		if e.merged == nil {
			o.set(e.key, e.value)
			continue
		}
		for _, m := range e.merged {
			for _, k := range m.keys {
				if !explicit[k] && !o.has(k) {
					o.set(k, m.vals[k])
				}
			}
		}
	}
	return o, nil
}

// key converts a mapping key to a string: strings as they are; null,
// bool, int and float keys by fmt.Sprint of their value ("null" for
// null); other scalars by their source text. A collection key is refused.
func (c *yamlConverter) key(n *yaml.Node) (string, error) {
	c.nodes++
	if c.nodes > MaxNodes {
		return "", ErrTooLarge
	}
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", errNotDocument
	}
	switch n.ShortTag() {
	case "!!str":
		return n.Value, nil
	case "!!null":
		return "null", nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value, nil
		}
		return fmt.Sprint(v), nil
	}
	return n.Value, nil
}

// yamlScalar converts a scalar: null, bool, string, and numbers as JSON
// numbers; a non-finite float and any other tag (timestamp, binary,
// custom) as its source text.
func yamlScalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!str":
		return n.Value
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		var v any
		if err := n.Decode(&v); err == nil {
			switch t := v.(type) {
			case int:
				return json.Number(strconv.Itoa(t))
			case int64:
				return json.Number(strconv.FormatInt(t, 10))
			case uint64:
				return json.Number(strconv.FormatUint(t, 10))
			case float64:
				if num, ok := finiteNumber(t); ok {
					return num
				}
			}
		}
	case "!!float":
		if isJSONNumber(n.Value) {
			return json.Number(n.Value)
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			if num, ok := finiteNumber(f); ok {
				return num
			}
		}
	}
	return n.Value
}

func finiteNumber(f float64) (json.Number, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
