package pipeline

import (
	"errors"
	"fmt"
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

// Defaults used by NewDefaultOptions and by New for zero fields.
const (
	DefaultMaxDepth      = 32
	DefaultMaxFieldBytes = 1 << 20
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
}

// NewDefaultOptions returns the defaults: no extra paths, UTF8Reject, depth
// 32, 1 MiB per string. RedactKey is left empty and must be set.
func NewDefaultOptions() Options {
	return Options{
		InvalidUTF8:   UTF8Reject,
		MaxDepth:      DefaultMaxDepth,
		MaxFieldBytes: DefaultMaxFieldBytes,
	}
}

// Validate reports the first problem with o, or nil. Zero MaxDepth,
// MaxFieldBytes and InvalidUTF8 stand for their defaults.
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
	return nil
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
	o.RedactKey = append([]byte(nil), o.RedactKey...)
	o.RedactPaths = append([]string(nil), o.RedactPaths...)
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
