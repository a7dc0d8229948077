package tail

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/layout"
)

// StartAt says where reading begins in a file the source has never seen.
type StartAt string

// The start_at modes.
const (
	// StartBeginning reads files found at first start from their first line.
	StartBeginning StartAt = "beginning"
	// StartEnd skips the complete lines files hold at first start; lines
	// appended later are read.
	StartEnd StartAt = "end"
)

// Config is the `source "file" "NAME" { ... }` block.
type Config struct {
	Name         string        // the block's second label
	Paths        []string      // globs of the files to tail (filepath.Match syntax)
	Exclude      []string      // globs of matched files to leave alone (full path or base name)
	StartAt      StartAt       // where a file never seen before starts, on the first run only
	MaxLineBytes int64         // longer lines are dead-lettered and skipped
	PollInterval time.Duration // how often paths are rescanned without a notification
	// DeadLetterTextRate is how many refused lines a second keep their
	// (redacted) text in the dead-letter file; the others keep their
	// reason, location, SHA-256 and length only. 0 keeps no text.
	DeadLetterTextRate int

	// Filled by the agent from data_dir (see SetDataDir), not by HCL.
	PositionsFile  string // JSON read positions, written atomically (0600)
	DeadLetterFile string // NDJSON of refused lines (0600)
}

// NewDefaultConfig returns the defaults of every optional attribute.
func NewDefaultConfig() Config {
	return Config{
		StartAt:      StartBeginning,
		MaxLineBytes: 1 << 20,
		PollInterval: time.Second,

		DeadLetterTextRate: 100,
	}
}

// maxTextRate bounds dead_letter_text_rate.
const maxTextRate = 100000

// SetDataDir derives PositionsFile and DeadLetterFile from the agent's
// data_dir: DIR/sources/file/NAME/{positions.json,dead-letter.ndjson}.
func (c *Config) SetDataDir(dataDir string) {
	dir := layout.Source(dataDir, Type, c.Name)
	c.PositionsFile = filepath.Join(dir, "positions.json")
	c.DeadLetterFile = filepath.Join(dir, "dead-letter.ndjson")
}

// Validate checks the rules Decode checks, for configs built in code.
func (c Config) Validate() error {
	if len(c.Paths) == 0 {
		return fmt.Errorf("file %s: paths is empty", c.Name)
	}
	for _, p := range append(append([]string(nil), c.Paths...), c.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("file %s: glob %q: %w", c.Name, p, err)
		}
	}
	if c.StartAt != StartBeginning && c.StartAt != StartEnd {
		return fmt.Errorf("file %s: start_at %q is not \"beginning\" or \"end\"", c.Name, c.StartAt)
	}
	if c.MaxLineBytes < minLineBytes {
		return fmt.Errorf("file %s: max_line_bytes %d is below %d", c.Name, c.MaxLineBytes, minLineBytes)
	}
	if c.PollInterval <= 0 {
		return fmt.Errorf("file %s: poll_interval must be positive", c.Name)
	}
	if c.DeadLetterTextRate < 0 || c.DeadLetterTextRate > maxTextRate {
		return fmt.Errorf("file %s: dead_letter_text_rate %d is outside 0..%d", c.Name, c.DeadLetterTextRate, maxTextRate)
	}
	if c.PositionsFile == "" || c.DeadLetterFile == "" {
		return fmt.Errorf("file %s: positions and dead-letter files are not set (SetDataDir)", c.Name)
	}
	return nil
}

const minLineBytes = 1024

type hclConfig struct {
	Paths        []string       `hcl:"paths"`
	Exclude      []string       `hcl:"exclude,optional"`
	StartAt      *string        `hcl:"start_at,optional"`
	MaxLineBytes *int64         `hcl:"max_line_bytes,optional"`
	PollInterval hcl.Expression `hcl:"poll_interval,optional"`
	TextRate     *int           `hcl:"dead_letter_text_rate,optional"`
}

// Decode reads a file block body. Every problem is a diagnostic that points
// into the config file. PositionsFile and DeadLetterFile are left for the
// agent (SetDataDir).
func Decode(name string, body hcl.Body, ctx *hcl.EvalContext) (Config, hcl.Diagnostics) {
	c := NewDefaultConfig()
	c.Name = name
	var h hclConfig
	diags, rng := hclconf.DecodeBlock(body, ctx, &h)
	c.Paths, c.Exclude = h.Paths, h.Exclude
	if len(c.Paths) == 0 {
		diags = diags.Extend(hclconf.Error(rng("paths"), "Empty paths",
			"paths must list at least one file or glob, such as [\"/var/log/keeptrusts/audit*.log\"]."))
	}
	for _, g := range []struct {
		attr  string
		globs []string
	}{{"paths", c.Paths}, {"exclude", c.Exclude}} {
		attr := g.attr
		for _, p := range g.globs {
			if _, err := filepath.Match(p, ""); err != nil || p == "" {
				diags = diags.Extend(hclconf.Error(rng(attr), "Invalid glob",
					fmt.Sprintf("%s: %q is not a valid glob (filepath.Match syntax: *, ?, [a-z]).", attr, p)))
			}
		}
	}
	if h.StartAt != nil {
		c.StartAt = StartAt(*h.StartAt)
		if c.StartAt != StartBeginning && c.StartAt != StartEnd {
			diags = diags.Extend(hclconf.Error(rng("start_at"), "Invalid start_at",
				fmt.Sprintf("start_at = %q: write \"beginning\" or \"end\".", *h.StartAt)))
		}
	}
	if h.MaxLineBytes != nil {
		c.MaxLineBytes = *h.MaxLineBytes
		if c.MaxLineBytes < minLineBytes || c.MaxLineBytes > 64<<20 {
			diags = diags.Extend(hclconf.Error(rng("max_line_bytes"), "Invalid max_line_bytes",
				fmt.Sprintf("max_line_bytes = %d is outside %d..%d.", c.MaxLineBytes, minLineBytes, 64<<20)))
		}
	}
	if h.TextRate != nil {
		c.DeadLetterTextRate = *h.TextRate
		if c.DeadLetterTextRate < 0 || c.DeadLetterTextRate > maxTextRate {
			diags = diags.Extend(hclconf.Error(rng("dead_letter_text_rate"), "Invalid dead_letter_text_rate",
				fmt.Sprintf("dead_letter_text_rate = %d is outside 0..%d (lines a second whose text is kept; 0 keeps none).", c.DeadLetterTextRate, maxTextRate)))
		}
	}
	var d hcl.Diagnostics
	c.PollInterval, d = hclconf.Duration(h.PollInterval, ctx, "poll_interval", c.PollInterval)
	diags = diags.Extend(d)
	return c, diags
}
