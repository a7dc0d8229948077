package hclconf

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
)

func TestDedupeKeepsOneErrorPerPlace(t *testing.T) {
	at := func(line, col, b int) *hcl.Range {
		return &hcl.Range{Filename: "kt.hcl", Start: hcl.Pos{Line: line, Column: col, Byte: b}, End: hcl.Pos{Line: line, Column: col + 5, Byte: b + 5}}
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Error in function call", Subject: at(3, 12, 40)},
		{Severity: hcl.DiagError, Summary: "Unsuitable value type", Subject: at(3, 12, 40)},
		{Severity: hcl.DiagError, Summary: "Invalid duration", Subject: at(5, 3, 70)},
		{Severity: hcl.DiagWarning, Summary: "a warning", Subject: at(5, 3, 70)},
		{Severity: hcl.DiagError, Summary: "No source"},
		{Severity: hcl.DiagError, Summary: "No sink"},
	}
	got := Dedupe(diags)
	var sums []string
	for _, d := range got {
		sums = append(sums, d.Summary)
	}
	assert.Equal(t, []string{"Error in function call", "Invalid duration", "a warning", "No source", "No sink"}, sums)
}

func TestSortByPosition(t *testing.T) {
	at := func(file string, b int) *hcl.Range {
		return &hcl.Range{Filename: file, Start: hcl.Pos{Byte: b}, End: hcl.Pos{Byte: b + 1}}
	}
	diags := hcl.Diagnostics{
		{Summary: "none"},
		{Summary: "a:30", Subject: at("a", 30)},
		{Summary: "b:1", Subject: at("b", 1)},
		{Summary: "a:10", Subject: at("a", 10)},
		{Summary: "none 2"},
	}
	Sort(diags)
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	assert.Equal(t, []string{"a:10", "a:30", "b:1", "none", "none 2"}, got)
}
