// Package hclconf holds the HCL pieces every config block shares: the
// evaluation context with the env() and file() functions, and typed
// attribute values (durations, sizes) whose errors point at file:line:col.
package hclconf

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// EvalContext returns the context config expressions are evaluated in. dir
// is the directory of the config file: relative file() paths start there.
//
//	env("NAME")            the variable's value; an error if it is not set
//	env("NAME", "default") the variable's value, or default if not set
//	file("path")           the file's content without one trailing newline
func EvalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Description: "Returns the value of an environment variable.",
			Params:      []function.Parameter{{Name: "name", Type: cty.String}},
			VarParam:    &function.Parameter{Name: "default", Type: cty.String},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				name := args[0].AsString()
				if v, ok := os.LookupEnv(name); ok {
					return cty.StringVal(v), nil
				}
				if len(args) > 1 {
					return args[1], nil
				}
				return cty.NilVal, fmt.Errorf("environment variable %s is not set (give a default with env(%q, \"...\"))", name, name)
			},
		}),
		"file": function.New(&function.Spec{
			Description: "Returns the content of a file.",
			Params:      []function.Parameter{{Name: "path", Type: cty.String}},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				p := args[0].AsString()
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")), nil
			},
		}),
	}}
}

// Duration evaluates an optional duration attribute ("10s", "5m"); def when
// it is absent. Zero and negative durations are refused.
func Duration(expr hcl.Expression, ctx *hcl.EvalContext, name string, def time.Duration) (time.Duration, hcl.Diagnostics) {
	s, diags := String(expr, ctx, "")
	if diags.HasErrors() || s == "" {
		return def, diags
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return def, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%s = %q is not a positive duration; use a number with a unit, such as \"500ms\", \"10s\", \"5m\" or \"2h\".", name, s),
			Subject:  expr.Range().Ptr(),
		}}
	}
	return d, nil
}

// String evaluates an optional string attribute; def when it is absent.
func String(expr hcl.Expression, ctx *hcl.EvalContext, def string) (string, hcl.Diagnostics) {
	if IsAbsent(expr) {
		return def, nil
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return def, diags
	}
	if v.IsNull() {
		return def, nil
	}
	if v.Type() != cty.String {
		return def, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("A string is required, not %s.", v.Type().FriendlyName()),
			Subject:  expr.Range().Ptr(),
		}}
	}
	return v.AsString(), nil
}

// IsAbsent reports whether an optional expression attribute was left out.
func IsAbsent(expr hcl.Expression) bool {
	if expr == nil {
		return true
	}
	// gohcl gives absent optional hcl.Expression fields a static null value.
	v, diags := expr.Value(nil)
	return !diags.HasErrors() && v.IsNull()
}

// Error returns a one-diagnostic list pointing at rng.
func Error(rng hcl.Range, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}}
}

// DecodeBlock decodes body into val (a struct with hcl tags) and returns
// the diagnostics with AttrRange(body), for the checks that follow.
// Decoding goes on past an attribute that failed (it keeps its zero value)
// so that every mistake of the block is reported at once; Dedupe drops a
// second diagnostic at the same place.
func DecodeBlock(body hcl.Body, ctx *hcl.EvalContext, val any) (hcl.Diagnostics, func(name string) hcl.Range) {
	return gohcl.DecodeBody(body, ctx, val), AttrRange(body)
}

// AttrRange returns a function giving the range of a block's attribute
// value, for a diagnostic that points at it, or the block's end when the
// attribute is absent. JustAttributes complains about the nested blocks
// but still returns the attributes.
func AttrRange(body hcl.Body) func(name string) hcl.Range {
	attrs, _ := body.JustAttributes()
	return func(name string) hcl.Range {
		if a, ok := attrs[name]; ok {
			return a.Expr.Range()
		}
		return body.MissingItemRange()
	}
}

// Set copies an optional attribute's value into dst when it was given.
func Set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Dedupe drops the diagnostics that only echo an earlier error at the same
// place: a failed function call such as env("UNSET") is reported by HCL
// and then again by the decoder ("Unsuitable value type: value must be
// known"). An operator should read each mistake once. Order is kept.
func Dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		file       string
		start, end int
	}
	seen := map[key]bool{}
	out := diags[:0:0]
	for _, d := range diags {
		if d.Subject != nil && d.Severity == hcl.DiagError {
			k := key{d.Subject.Filename, d.Subject.Start.Byte, d.Subject.End.Byte}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, d)
	}
	return out
}

// Sort orders diagnostics by file and position, those without a position
// last, so that an operator reads them top to bottom. The order is stable.
func Sort(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}
