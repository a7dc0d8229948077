package index

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ParseSearch reads a search string, as people type and share it in the
// style of GitHub's audit log search, into a Filter:
//
//	actor:alice@acme.example action:config.* created:2026-01-01..2026-03-31 "rate limit"
//
// The grammar:
//
//   - Terms are separated by whitespace. A term is key:value, a word or a
//     "quoted phrase".
//   - key:value sets a field. The key is case-insensitive and is one of
//     actor, actor_type (or actor-type), action, category, target_type (or
//     target-type), target (or target_id, target-id), outcome, org and
//     created (or time). The value is everything after the first colon
//     (target:gw:1 is target "gw:1"), or, to hold spaces, a double-quoted
//     string right after the colon (actor:"Alice Example"). Values are
//     matched exactly and case-sensitively. A value may not be empty.
//   - Inside double quotes, \" stands for a quote and \\ for a backslash;
//     any other backslash is an error. A closing quote must end the term.
//     Outside quotes a backslash is an ordinary character and a quote may
//     only open a term or a value.
//   - Anything else is free text: a word (which has no colon; quote it to
//     search for one, as in "10:30") or a quoted phrase. Filter.Text is the
//     words and phrases in order, joined by one space, phrases as typed
//     with their quotes and escapes: `"rate limit" deploy`.
//   - actor_type is user, api_token or system. action is an action name
//     or a prefix ending in ".*" (config.* is every action that starts with
//     "config."); no other "*" is allowed.
//   - Each key may be given once (an alias counts as its key); free text
//     may be given any number of times.
//
// created (or time) takes a date, YYYY-MM-DD, which means that whole day
// in loc (time.UTC when loc is nil), or an RFC 3339 timestamp, such as
// 2026-01-02T15:04:05.123456Z, which means its microsecond (the index
// keeps times to the microsecond; finer digits are dropped). Where a
// date's day ends at the next day's midnight, a timestamp t's microsecond
// ends at t+1µs. With X and Y such dates or timestamps:
//
//	created:X       from the start of X to its end: the day or the microsecond
//	created:X..Y    from the start of X to the end of Y (both included)
//	created:X..*    from the start of X on
//	created:*..Y    up to the end of Y
//	created:>=X     from the start of X on
//	created:>X      from the end of X on (for a date, the day after)
//	created:<=X     up to the end of X (To is the day after a date)
//	created:<X      up to the start of X
//
// Filter.From is inclusive and Filter.To exclusive; both are in loc. A
// range that is empty (From not before To) is an error.
//
// An error names the term as it was typed and says what is wrong with it,
// as in: search: term "created:2026-13-01": not a date (YYYY-MM-DD or RFC 3339).
func ParseSearch(s string, loc *time.Location) (Filter, error) {
	if loc == nil {
		loc = time.UTC
	}
	terms, err := searchTerms(s)
	if err != nil {
		return Filter{}, err
	}
	var f Filter
	var text []string
	seen := map[string]string{} // key → the term that gave it
	for _, t := range terms {
		if !t.pair {
			if t.quoted && strings.TrimSpace(t.value) == "" {
				return Filter{}, searchErrorf(t.raw, "empty phrase")
			}
			text = append(text, t.raw)
			continue
		}
		if t.key == "" {
			return Filter{}, searchErrorf(t.raw, "empty key before the colon (quote the term to search for it as text)")
		}
		key, ok := searchKeys[strings.ToLower(t.key)]
		if !ok {
			return Filter{}, searchErrorf(t.raw, "unknown key %q (known: %s)", t.key, searchKnownKeys)
		}
		v := t.value
		if strings.TrimSpace(v) == "" {
			return Filter{}, searchErrorf(t.raw, "empty value")
		}
		if first, ok := seen[key]; ok {
			return Filter{}, fmt.Errorf("search: %q given twice (first as %q)", t.raw, first)
		}
		seen[key] = t.raw
		switch key {
		case "actor":
			f.Actor = v
		case "actor_type":
			if v != "user" && v != "api_token" && v != "system" {
				return Filter{}, searchErrorf(t.raw, "actor_type is user, api_token or system")
			}
			f.ActorType = v
		case "action":
			if i := strings.IndexByte(v, '*'); i >= 0 && (i != len(v)-1 || len(v) < 3 || v[i-1] != '.') {
				return Filter{}, searchErrorf(t.raw, `action is a name or a prefix ending in ".*", as in config.*`)
			}
			f.Action = v
		case "category":
			f.Category = v
		case "target_type":
			f.TargetType = v
		case "target":
			f.TargetID = v
		case "outcome":
			f.Outcome = v
		case "org":
			f.Org = v
		case "created":
			from, to, err := searchCreated(v, loc)
			if err != nil {
				return Filter{}, searchErrorf(t.raw, "%v", err)
			}
			f.From, f.To = from, to
		}
	}
	f.Text = strings.Join(text, " ")
	return f, nil
}

// searchKeys maps each key of a search, and its aliases, in lower case to
// the key.
var searchKeys = map[string]string{
	"actor":       "actor",
	"actor_type":  "actor_type",
	"actor-type":  "actor_type",
	"action":      "action",
	"category":    "category",
	"target_type": "target_type",
	"target-type": "target_type",
	"target":      "target",
	"target_id":   "target",
	"target-id":   "target",
	"outcome":     "outcome",
	"org":         "org",
	"created":     "created",
	"time":        "created",
}

// searchKnownKeys lists the keys for an error about an unknown one.
const searchKnownKeys = "actor, actor_type, action, category, target_type, target, outcome, org, created"

// searchErrorf returns an error about term, as typed.
func searchErrorf(term, format string, args ...any) error {
	return fmt.Errorf("search: term %q: %s", term, fmt.Sprintf(format, args...))
}

// searchTerm is one term of a search string.
type searchTerm struct {
	raw    string // as typed
	pair   bool   // key:value; otherwise free text
	key    string // as typed, when pair
	value  string // the value, or the word or phrase; unquoted
	quoted bool   // value was quoted
}

// searchTerms splits s into its terms.
func searchTerms(s string) ([]searchTerm, error) {
	var terms []searchTerm
	i := 0
	for {
		for i < len(s) && searchSpace(s, i) > 0 {
			i += searchSpace(s, i)
		}
		if i == len(s) {
			return terms, nil
		}
		start := i
		var t searchTerm
		j := i // where a value or phrase starts
		if s[i] != '"' {
			for i < len(s) && s[i] != ':' && s[i] != '"' && searchSpace(s, i) == 0 {
				i++
			}
			switch {
			case i < len(s) && s[i] == '"':
				return nil, searchErrorf(s[start:searchWordEnd(s, i)], "a quote inside a word (quote the whole word or value)")
			case i < len(s) && s[i] == ':':
				t.pair, t.key = true, s[start:i]
				i++
				j = i
			default:
				t.raw, t.value = s[start:i], s[start:i]
				terms = append(terms, t)
				continue
			}
		}
		if j < len(s) && s[j] == '"' {
			v, end, closed, badEscape := searchQuoted(s, j)
			if !closed {
				return nil, fmt.Errorf("search: unterminated quote in %q", strings.TrimRightFunc(s[start:], unicode.IsSpace))
			}
			if end < len(s) && searchSpace(s, end) == 0 {
				return nil, searchErrorf(s[start:searchWordEnd(s, end)], "text right after a closing quote")
			}
			if badEscape {
				return nil, searchErrorf(s[start:end], `inside quotes a backslash is only in \" or \\`)
			}
			t.raw, t.value, t.quoted = s[start:end], v, true
			i = end
		} else {
			end := searchWordEnd(s, j)
			if k := strings.IndexByte(s[j:end], '"'); k >= 0 {
				return nil, searchErrorf(s[start:end], "a quote inside a value (quote the whole value)")
			}
			t.raw, t.value = s[start:end], s[j:end]
			i = end
		}
		terms = append(terms, t)
	}
}

// searchQuoted reads the quoted string that starts at s[i], a quote. It
// returns the string without quotes and escapes, the index after the
// closing quote, whether there was one, and whether a backslash was
// followed by something other than a quote or backslash.
func searchQuoted(s string, i int) (v string, end int, closed, badEscape bool) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			return b.String(), j + 1, true, badEscape
		case '\\':
			j++
			if j == len(s) {
				return b.String(), len(s), false, badEscape
			}
			if s[j] != '"' && s[j] != '\\' {
				badEscape = true
			}
			b.WriteByte(s[j])
		default:
			b.WriteByte(s[j])
		}
	}
	return b.String(), len(s), false, badEscape
}

// searchSpace returns the length of the white space character at s[i], or
// 0 if there is none.
func searchSpace(s string, i int) int {
	r, n := utf8.DecodeRuneInString(s[i:])
	if unicode.IsSpace(r) {
		return n
	}
	return 0
}

// searchWordEnd returns the index of the first white space in s at or after
// i, or len(s).
func searchWordEnd(s string, i int) int {
	for i < len(s) && searchSpace(s, i) == 0 {
		i++
	}
	return i
}

// errSearchNotDate says a value of created is not a date.
var errSearchNotDate = errors.New("not a date (YYYY-MM-DD or RFC 3339)")

// searchCreated reads the value v of a created term into the time range
// [from, to); a zero time is no bound.
func searchCreated(v string, loc *time.Location) (from, to time.Time, err error) {
	toSet := true
	switch {
	case strings.HasPrefix(v, ">="):
		from, _, err = searchDate(v[2:], v, loc)
		toSet = false
	case strings.HasPrefix(v, ">"):
		_, from, err = searchDate(v[1:], v, loc)
		toSet = false
	case strings.HasPrefix(v, "<="):
		_, to, err = searchDate(v[2:], v, loc)
	case strings.HasPrefix(v, "<"):
		to, _, err = searchDate(v[1:], v, loc)
	default:
		x, y, isRange := strings.Cut(v, "..")
		switch {
		case !isRange:
			from, to, err = searchDate(v, v, loc)
		case x == "*" && y == "*":
			err = errors.New("a range needs a date on at least one side")
		default:
			if x != "*" {
				from, _, err = searchDate(x, v, loc)
			}
			if y == "*" {
				toSet = false
			} else if err == nil {
				_, to, err = searchDate(y, v, loc)
			}
		}
	}
	switch {
	case err != nil:
		return time.Time{}, time.Time{}, err
	case toSet && to.IsZero():
		// A Filter takes a zero To for no end.
		return time.Time{}, time.Time{}, errors.New("out of range (the range would end at 0001-01-01T00:00:00Z)")
	case !from.IsZero() && toSet && !from.Before(to):
		return time.Time{}, time.Time{}, errors.New("empty range (the start is not before the end)")
	}
	return from, to, nil
}

// searchDate reads one date or timestamp s of the created value v and
// returns its start and end: a day's midnight in loc and the next one, or
// a timestamp's microsecond and the next.
func searchDate(s, v string, loc *time.Location) (start, end time.Time, err error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		y, m, d := t.Date()
		return t, time.Date(y, m, d+1, 0, 0, 0, 0, loc), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = t.Truncate(time.Microsecond).In(loc)
		return t, t.Add(time.Microsecond), nil
	}
	if s == v {
		return start, end, errSearchNotDate
	}
	return start, end, fmt.Errorf("%q is %v", s, errSearchNotDate)
}
