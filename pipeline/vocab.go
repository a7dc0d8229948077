package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ActorTypes lists the known values of "actor.type".
var ActorTypes = []string{"user", "api_token", "system"}

// Outcomes lists the known values of "outcome".
var Outcomes = []string{"success", "failure"}

// defaultCategoryMap and defaultActorTypeMap are the documented default
// mappings of producer words to the known vocabulary (docs/EVENTS.md).
// Keys are folded (see foldVocab).
var (
	defaultCategoryMap = map[string]string{
		"auth":           "authentication",
		"authn":          "authentication",
		"login":          "authentication",
		"identity":       "authentication",
		"credential":     "secret",
		"credentials":    "secret",
		"secrets":        "secret",
		"authorization":  "policy",
		"authz":          "policy",
		"access_control": "policy",
		"permissions":    "policy",
		"rbac":           "policy",
		"policies":       "policy",
		"users":          "user_management",
		"user":           "user_management",
		"membership":     "user_management",
		"members":        "user_management",
		"teams":          "team_management",
		"team":           "team_management",
		"config":         "configuration",
		"settings":       "configuration",
		"export":         "export_job",
		"exports":        "export_job",
	}
	defaultActorTypeMap = map[string]string{
		"api_key":               "api_token",
		"apikey":                "api_token",
		"token":                 "api_token",
		"access_token":          "api_token",
		"pat":                   "api_token",
		"personal_access_token": "api_token",
		"service_account":       "system",
		"service":               "system",
		"bot":                   "system",
		"machine":               "system",
		"automation":            "system",
		"human":                 "user",
		"person":                "user",
	}
)

// DefaultCategoryMap returns a copy of the default mapping of producer
// words to categories; Options.CategoryMap adds to it and overrides it.
func DefaultCategoryMap() map[string]string { return maps.Clone(defaultCategoryMap) }

// DefaultActorTypeMap returns a copy of the default mapping of producer
// words to actor types; Options.ActorTypeMap adds to it and overrides it.
func DefaultActorTypeMap() map[string]string { return maps.Clone(defaultActorTypeMap) }

func knownCategory(s string) bool {
	return s == CategoryOther || slices.Contains(Categories, s)
}

func knownActorType(s string) bool { return slices.Contains(ActorTypes, s) }

// foldVocab appends s trimmed of white space, lower-cased, with '-' and
// ' ' taken as '_': the form in which vocabulary words are compared.
func foldVocab(dst []byte, s string) []byte {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-' || c == ' ':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

func validateMap(name string, m map[string]string, known func(string) bool) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		fk := string(foldVocab(nil, k))
		switch {
		case fk == "":
			return fmt.Errorf("pipeline: %s: empty key", name)
		case known(fk):
			return fmt.Errorf("pipeline: %s: %q is a known value itself and cannot be mapped", name, k)
		case !known(v):
			return fmt.Errorf("pipeline: %s: %q maps to %q, which is not a known value", name, k, v)
		}
	}
	return nil
}

// vocabMap maps folded words to known values: the known values
// themselves, the defaults, then the configured entries.
type vocabMap map[string]string

func newVocabMap(known []string, defaults, configured map[string]string) vocabMap {
	m := vocabMap{}
	for _, k := range known {
		m[k] = k
	}
	for k, v := range defaults {
		m[k] = v
	}
	for k, v := range configured {
		m[string(foldVocab(nil, k))] = v
	}
	return m
}

// lookup returns the known value s stands for, if any.
func (m vocabMap) lookup(s string) (string, bool) {
	if len(s) > MaxNameBytes {
		return "", false
	}
	var buf [MaxNameBytes]byte
	v, ok := m[string(foldVocab(buf[:0], s))] // no allocation
	return v, ok
}

// checkName refuses a category, outcome or type value that is not a name:
// longer than MaxNameBytes, or with a control character.
func checkName(field, s string) error {
	if len(s) > MaxNameBytes {
		return &FieldError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", MaxNameBytes)}
	}
	for _, r := range s {
		if isControl(r) {
			return mustBe(field, "a name without control characters")
		}
	}
	return nil
}

// isControl reports C0 and C1 controls, DEL and the Unicode line and
// paragraph separators.
func isControl(r rune) bool {
	return r < ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029
}

// reservedCategory and reservedAction report a category or action that
// names the ledger's own records: category "ledger", action "ledger" or
// "ledger.*", in any case.
func reservedCategory(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "ledger") }

func reservedAction(s string) bool {
	return strings.EqualFold(s, "ledger") || hasPrefixFold(s, "ledger.")
}

// Fields whose unmapped values are counted.
const (
	UnmappedCategory  = "category"
	UnmappedActorType = "actor.type"
	UnmappedOutcome   = "outcome"
)

// MaxUnmappedValues is how many distinct values of one field Unmapped
// counts by name; the others are counted together as UnmappedOtherValue.
const MaxUnmappedValues = 64

// UnmappedOtherValue stands for the values past MaxUnmappedValues.
const UnmappedOtherValue = "(other)"

// UnmappedCount is how many events had Value, outside the known
// vocabulary and not mapped, in Field.
type UnmappedCount struct {
	Field string
	Value string
	Count uint64
}

// unmappedField counts the unmapped values of one field: a map read under
// a shared lock and counted atomically, written only for a new value.
type unmappedField struct {
	mu    sync.RWMutex
	seen  map[string]*atomic.Uint64
	full  atomic.Bool
	other atomic.Uint64
}

func (u *unmappedField) add(v string) {
	u.mu.RLock()
	c := u.seen[v]
	u.mu.RUnlock()
	if c != nil {
		c.Add(1)
		return
	}
	if u.full.Load() {
		u.other.Add(1)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c = u.seen[v]; c == nil {
		if len(u.seen) >= MaxUnmappedValues {
			u.full.Store(true)
			u.other.Add(1)
			return
		}
		if u.seen == nil {
			u.seen = make(map[string]*atomic.Uint64)
		}
		c = new(atomic.Uint64)
		u.seen[strings.Clone(v)] = c
	}
	c.Add(1)
}

func (u *unmappedField) appendTo(out []UnmappedCount, field string) []UnmappedCount {
	u.mu.RLock()
	for v, c := range u.seen {
		out = append(out, UnmappedCount{Field: field, Value: v, Count: c.Load()})
	}
	u.mu.RUnlock()
	if n := u.other.Load(); n > 0 {
		out = append(out, UnmappedCount{Field: field, Value: UnmappedOtherValue, Count: n})
	}
	return out
}

// Unmapped returns, for category, actor.type and outcome, how many events
// since New carried each value outside the known vocabulary that no
// mapping covers (kept as given), sorted by field and value: what an
// operator may want to add to category_map or actor_type_map. At most
// MaxUnmappedValues values per field are named; the rest are counted
// under UnmappedOtherValue. Safe for concurrent use.
func (n *Normalizer) Unmapped() []UnmappedCount {
	var out []UnmappedCount
	out = n.unmapped[0].appendTo(out, UnmappedCategory)
	out = n.unmapped[1].appendTo(out, UnmappedActorType)
	out = n.unmapped[2].appendTo(out, UnmappedOutcome)
	slices.SortFunc(out, func(a, b UnmappedCount) int {
		if c := strings.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}
