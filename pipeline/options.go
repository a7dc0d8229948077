package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// UTF8Mode says what the normalizer does with a string that is not valid
// UTF-8 (including a lone UTF-16 surrogate written as a \u escape).
type UTF8Mode string

const (
	// UTF8Reject refuses the record with a FieldError naming the field path.
	// It is the default, and the right choice for a webhook, whose client can
	// be told (400) and fix its output.
	UTF8Reject UTF8Mode = "reject"
	// UTF8Escape replaces the string with InvalidUTF8Prefix followed by the
	// standard base64 of its raw bytes: lossless and visibly marked. It is the
	// right choice for a file source, whose producer cannot be asked again.
	UTF8Escape UTF8Mode = "escape"
)

// InvalidUTF8Prefix starts every string that UTF8Escape mode produced.
const InvalidUTF8Prefix = "kt:invalid-utf8:base64:"

// Defaults used by NewDefaultOptions and by New for zero fields, and the
// bounds Validate enforces.
const (
	DefaultMaxDepth      = 32
	DefaultMaxFieldBytes = 1 << 20
	// DefaultMaxIDBytes is the default longest event id.
	DefaultMaxIDBytes = 1024
	// MaxIDBytesCeiling bounds Options.MaxIDBytes. The ledger stores an id
	// with a 16-bit length (at most 65535 bytes); ids are dedupe keys
	// that every sink and index carries, so the ceiling is far lower.
	MaxIDBytesCeiling = 4096
	// DefaultMaxEventBytes is the default largest encoded event (Body).
	DefaultMaxEventBytes = 4 << 20
	// MaxEventBytesCeiling bounds Options.MaxEventBytes. A ledger entry
	// is at most 16 MiB: 157 fixed bytes, the id (at most
	// MaxIDBytesCeiling), the signing key id (at most 65535) and the
	// body. 15 MiB leaves more than 900 KiB for the rest.
	MaxEventBytesCeiling = 15 << 20
	// MaxNameBytes is the longest action, category, outcome, actor.type and
	// target.type: these are names, not free text.
	MaxNameBytes = 256
	// MinRedactKeyBytes is the shortest accepted RedactKey.
	MinRedactKeyBytes = 32
	// maxMaxDepth bounds MaxDepth so the recursive decoder can never
	// exhaust the stack, whatever the configuration says.
	maxMaxDepth = 1024
)

// Options configures a Normalizer. Build one with NewDefaultOptions, set
// RedactKey (required) and check it with Validate; New validates too.
type Options struct {
	// RedactPaths are extra dotted paths (into the normalized event) whose
	// values are redacted; "*" matches exactly one segment, array elements
	// are numbered segments. Example: "changes.after.credentials.*".
	RedactPaths []string
	// RedactNames are extra secret member names, besides the built-in name
	// rules: a member so named is redacted, whole value, at any depth, and
	// so is the value of a key=value or key: value pair so named inside a
	// string. Matched ASCII case-insensitively, '-' and '_' equal.
	RedactNames []string
	// RedactPatterns are RE2 regular expressions of secret values, matched
	// against every string of every event (values and member names): a
	// match is replaced by its redaction; when the pattern has a capturing
	// group, only the text of the first group is. Each one costs a regular
	// expression search per string: keep them few and anchored on a
	// literal where possible.
	RedactPatterns []string
	// RedactKey is the HMAC-SHA256 key of the redaction stage, at least
	// MinRedactKeyBytes long. Required.
	RedactKey []byte
	// InvalidUTF8 is UTF8Reject (default) or UTF8Escape.
	InvalidUTF8 UTF8Mode
	// MaxDepth is the deepest nesting of objects and arrays accepted, the
	// record itself being level 1 (default DefaultMaxDepth; zero means the
	// default).
	MaxDepth int
	// MaxFieldBytes bounds the decoded length of any one string or member
	// name (default DefaultMaxFieldBytes; zero means the default).
	MaxFieldBytes int
	// MaxIDBytes bounds the event id, whatever gave it (the record, the
	// source's fallback id): default DefaultMaxIDBytes, at most
	// MaxIDBytesCeiling; zero means the default.
	MaxIDBytes int
	// MaxEventBytes bounds the encoded event (Event.Body): default
	// DefaultMaxEventBytes, at most MaxEventBytesCeiling; zero means the
	// default.
	MaxEventBytes int
	// CategoryMap maps producer words for a category to one of
	// Categories (or CategoryOther), on top of DefaultCategoryMap, whose
	// entries it overrides. Keys are matched ASCII case-insensitively,
	// with '-' and ' ' taken as '_'.
	CategoryMap map[string]string
	// ActorTypeMap maps producer words for an actor type to one of
	// ActorTypes, on top of DefaultActorTypeMap, like CategoryMap.
	ActorTypeMap map[string]string
}

// NewDefaultOptions returns the defaults: no extra paths, names or
// patterns, UTF8Reject, depth 32, 1 MiB per string, 1 KiB ids, 4 MiB
// events, the default vocabulary maps. RedactKey is left empty and must be
// set.
func NewDefaultOptions() Options {
	return Options{
		InvalidUTF8:   UTF8Reject,
		MaxDepth:      DefaultMaxDepth,
		MaxFieldBytes: DefaultMaxFieldBytes,
		MaxIDBytes:    DefaultMaxIDBytes,
		MaxEventBytes: DefaultMaxEventBytes,
	}
}

// Validate reports the first problem with o, or nil. Zero MaxDepth,
// MaxFieldBytes, MaxIDBytes, MaxEventBytes and InvalidUTF8 stand for their
// defaults.
func (o Options) Validate() error {
	if len(o.RedactKey) < MinRedactKeyBytes {
		return fmt.Errorf("pipeline: redact key must be at least %d bytes, got %d", MinRedactKeyBytes, len(o.RedactKey))
	}
	switch o.InvalidUTF8 {
	case "", UTF8Reject, UTF8Escape:
	default:
		return fmt.Errorf("pipeline: invalid_utf8 mode %q: must be %q or %q", string(o.InvalidUTF8), UTF8Reject, UTF8Escape)
	}
	if o.MaxDepth < 0 || o.MaxDepth > maxMaxDepth {
		return fmt.Errorf("pipeline: max depth %d out of range 1..%d", o.MaxDepth, maxMaxDepth)
	}
	if o.MaxFieldBytes < 0 {
		return fmt.Errorf("pipeline: max field bytes %d must be positive", o.MaxFieldBytes)
	}
	if o.MaxIDBytes < 0 || o.MaxIDBytes > MaxIDBytesCeiling {
		return fmt.Errorf("pipeline: max id bytes %d out of range 1..%d", o.MaxIDBytes, MaxIDBytesCeiling)
	}
	if o.MaxEventBytes < 0 || o.MaxEventBytes > MaxEventBytesCeiling {
		return fmt.Errorf("pipeline: max event bytes %d out of range 1..%d", o.MaxEventBytes, MaxEventBytesCeiling)
	}
	for i, p := range o.RedactPaths {
		if p == "" {
			return fmt.Errorf("pipeline: redact path %d is empty", i)
		}
		for _, s := range strings.Split(p, ".") {
			if s == "" {
				return fmt.Errorf("pipeline: redact path %q has an empty segment", p)
			}
		}
	}
	for i, name := range o.RedactNames {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("pipeline: redact name %d is empty", i)
		}
	}
	for _, p := range o.RedactPatterns {
		if _, err := compilePattern(p); err != nil {
			return err
		}
	}
	if err := validateMap("category_map", o.CategoryMap, knownCategory); err != nil {
		return err
	}
	return validateMap("actor_type_map", o.ActorTypeMap, knownActorType)
}

// compilePattern compiles one of Options.RedactPatterns.
func compilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("pipeline: redact pattern is empty")
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("pipeline: redact pattern %q: %w", p, err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("pipeline: redact pattern %q matches the empty string", p)
	}
	return re, nil
}

func (o Options) withDefaults() Options {
	if o.InvalidUTF8 == "" {
		o.InvalidUTF8 = UTF8Reject
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxFieldBytes == 0 {
		o.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if o.MaxIDBytes == 0 {
		o.MaxIDBytes = DefaultMaxIDBytes
	}
	if o.MaxEventBytes == 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	o.RedactKey = append([]byte(nil), o.RedactKey...)
	o.RedactPaths = append([]string(nil), o.RedactPaths...)
	o.RedactNames = append([]string(nil), o.RedactNames...)
	o.RedactPatterns = append([]string(nil), o.RedactPatterns...)
	return o
}

// FieldError is the error of every refused record. Field is the dotted path
// of the offending field in the input ("" for the record as a whole);
// Reason says what is wrong. Neither ever contains a field's value.
type FieldError struct {
	Field  string
	Reason string
}

// Error renders `field "actor": missing`, or `record: not an object` when
// Field is empty.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "record: " + e.Reason
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Reason)
}

// ErrInvalidRecord is matched by errors.Is for every *FieldError.
var ErrInvalidRecord = errors.New("pipeline: invalid record")

// Is makes errors.Is(err, ErrInvalidRecord) true for a FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidRecord }
