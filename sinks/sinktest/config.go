package sinktest

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/hclconf"
)

// The config tests of every sink plugin: a block is parsed the way the
// agent parses a config file (t.hcl) and handed to the plugin's Decode;
// each mistake must be a diagnostic at the attribute it is about.

// Block returns the config file `sink "<typ>" "<name>" { attrs }`, one
// attribute (or block line) a line.
func Block(typ, name string, attrs ...string) string {
	return "sink \"" + typ + "\" \"" + name + "\" {\n  " + strings.Join(attrs, "\n  ") + "\n}\n"
}

// ParseBlock parses src, a file t.hcl with one sink block, the way the
// agent does, and returns the block's name, body and the context its
// expressions are evaluated in (env() and file() work).
func ParseBlock(t *testing.T, src string) (name string, body hcl.Body, ctx *hcl.EvalContext) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%v", diags)
	var root struct {
		Sinks []struct {
			Type string   `hcl:"type,label"`
			Name string   `hcl:"name,label"`
			Body hcl.Body `hcl:",remain"`
		} `hcl:"sink,block"`
	}
	diags = gohcl.DecodeBody(f.Body, nil, &root)
	require.False(t, diags.HasErrors(), "%v", diags)
	require.Len(t, root.Sinks, 1)
	return root.Sinks[0].Name, root.Sinks[0].Body, hclconf.EvalContext(t.TempDir())
}

// AttrPos returns the 1-based line and column of the value of attr in src,
// or the block's line when attr is "".
func AttrPos(src, attr string) (line, col int) {
	if attr == "" {
		return 1, 0
	}
	for i, l := range strings.Split(src, "\n") {
		name, value, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(name) == attr {
			return i + 1, len(name) + 1 + len(value) - len(strings.TrimLeft(value, " ")) + 1
		}
	}
	panic("no attribute " + attr)
}

// Mistake is a block with one mistake and the diagnostic it must give: a
// test's table lists them without field names, as
// {"name", attrs, "Summary", "attr it points at", "part of the detail"}.
type Mistake = struct {
	Name    string
	Attrs   []string // the block's attributes
	Summary string   // of the error diagnostic
	At      string   // the attribute it points at; "" = the block
	Detail  string   // part of its detail
}

// Decode parses src (ParseBlock) and decodes the block with a plugin's
// decode function.
func Decode[C any](t *testing.T, decode func(string, hcl.Body, *hcl.EvalContext) (C, hcl.Diagnostics), src string) (C, hcl.Diagnostics) {
	t.Helper()
	return decode(ParseBlock(t, src))
}

// CheckMistakes decodes the block of each mistake (block makes the config
// file from the attributes, decode is the plugin's) and checks that an
// error diagnostic with the summary is there, with the detail, pointing at
// the attribute's value (its line, and its column unless the range is
// HCL's own: "Unsupported argument", "Unsuitable value type") or at the
// block.
func CheckMistakes[C any](t *testing.T, block func(attrs ...string) string, decode func(string, hcl.Body, *hcl.EvalContext) (C, hcl.Diagnostics), mistakes []Mistake) {
	for _, tc := range mistakes {
		t.Run(tc.Name, func(t *testing.T) {
			src := block(tc.Attrs...)
			_, diags := Decode(t, decode, src)
			require.True(t, diags.HasErrors(), "no error for %s", src)
			var d *hcl.Diagnostic
			for _, x := range diags {
				if x.Severity == hcl.DiagError && x.Summary == tc.Summary {
					d = x
					break
				}
			}
			require.NotNil(t, d, "no %q diagnostic in %v", tc.Summary, diags)
			assert.Contains(t, d.Detail, tc.Detail)
			require.NotNil(t, d.Subject)
			assert.Equal(t, "t.hcl", d.Subject.Filename)
			line, col := AttrPos(src, tc.At)
			assert.Equal(t, line, d.Subject.Start.Line, "%s: points at %q", d.Subject, tc.At)
			if tc.At != "" && tc.Summary != "Unsupported argument" && tc.Summary != "Unsuitable value type" { // hcl's own ranges
				assert.Equal(t, col, d.Subject.Start.Column, "%s: points at the value of %s", d.Subject, tc.At)
			}
		})
	}
}
