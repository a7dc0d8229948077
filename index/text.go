package index

import (
	"encoding/json"
	"strings"

	"github.com/keeptrusts/kt/event"
)

// The free text of an event: what Filter.Text searches. It is the actor's
// id and name, the action, category, outcome and reason, the target's
// type, id and name, the org, and the names of the members of changes
// (before and after, at every depth: "rate_limit.rpm" is searched as
// the words rate, limit and rpm), not their values: a value can be a secret
// the pipeline redacted, and searching inside documents is the diff's job.
// Words are SQLite FTS5's unicode61 tokens (letters and digits; case and
// diacritics folded), so "alice@acme.example" is the words alice, acme,
// example, and the phrase "alice@acme.example" finds it.
const (
	maxTextPaths = 500 // member names taken from changes, at most
	maxTextDepth = 16  // how deep into changes
)

// searchText returns the words of ev to index.
func searchText(ev *event.Event) string {
	var b strings.Builder
	for _, s := range []string{ev.Actor.ID, ev.Actor.Name, ev.Action, ev.Category, ev.Outcome, ev.Reason,
		ev.Target.Type, ev.Target.ID, ev.Target.Name, ev.OrgID} {
		if s != "" {
			b.WriteString(s)
			b.WriteByte(' ')
		}
	}
	n := 0
	for _, doc := range []json.RawMessage{ev.Changes.Before, ev.Changes.After} {
		if len(doc) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(doc, &v) != nil {
			continue
		}
		memberNames(v, 0, &n, &b)
	}
	return b.String()
}

// memberNames writes the member names of the objects in v.
func memberNames(v any, depth int, n *int, b *strings.Builder) {
	if depth > maxTextDepth || *n >= maxTextPaths {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if *n >= maxTextPaths {
				return
			}
			*n++
			b.WriteString(k)
			b.WriteByte(' ')
			memberNames(c, depth+1, n, b)
		}
	case []any:
		for _, c := range v {
			memberNames(c, depth+1, n, b)
		}
	}
}

// matchExpr turns free text (words and "quoted phrases", as ParseSearch
// leaves them in Filter.Text) into an FTS5 query that needs every word and
// phrase: each is quoted, so nothing a user types is FTS5 syntax (AND,
// OR, NEAR, column filters, *). "" when there is no word.
func matchExpr(text string) string {
	var terms []string
	for _, t := range splitText(text) {
		if strings.TrimSpace(t) == "" {
			continue
		}
		terms = append(terms, `"`+strings.ReplaceAll(t, `"`, `""`)+`"`)
	}
	return strings.Join(terms, " ")
}

// splitText splits text into words and the contents of double-quoted
// phrases (\" and \\ unescaped).
func splitText(text string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(text):
			i++
			cur.WriteByte(text[i])
		case c == '"':
			flush()
			inQuote = !inQuote
		case !inQuote && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
