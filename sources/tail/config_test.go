package tail

import (
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/hclconf"
)

func decode(t *testing.T, src string) (Config, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig([]byte(src), "kt.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	return Decode("cp", f.Body, hclconf.EvalContext(t.TempDir()))
}

func TestDecode(t *testing.T) {
	c, diags := decode(t, `
paths          = ["/var/log/keeptrusts/audit*.log"]
exclude        = ["*.old"]
start_at       = "end"
max_line_bytes = 4096
poll_interval  = "250ms"
dead_letter_text_rate = 5
`)
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Equal(t, "cp", c.Name)
	assert.Equal(t, []string{"/var/log/keeptrusts/audit*.log"}, c.Paths)
	assert.Equal(t, []string{"*.old"}, c.Exclude)
	assert.Equal(t, StartEnd, c.StartAt)
	assert.Equal(t, int64(4096), c.MaxLineBytes)
	assert.Equal(t, 250*time.Millisecond, c.PollInterval)
	assert.Equal(t, 5, c.DeadLetterTextRate)
	c.SetDataDir("/var/lib/kt")
	assert.Equal(t, "/var/lib/kt/sources/file/cp/positions.json", c.PositionsFile)
	assert.Equal(t, "/var/lib/kt/sources/file/cp/dead-letter.ndjson", c.DeadLetterFile)
	require.NoError(t, c.Validate())

	d, diags := decode(t, `paths = ["/a/*.log"]`)
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Equal(t, StartBeginning, d.StartAt)
	assert.Equal(t, int64(1<<20), d.MaxLineBytes)
	assert.Equal(t, time.Second, d.PollInterval)
	assert.Equal(t, 100, d.DeadLetterTextRate)
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ src, summary string }{
		{`start_at = "end"`, "Missing required argument"},
		{`paths = []`, "Empty paths"},
		{`paths = ["/a/[.log"]`, "Invalid glob"},
		{"paths = [\"/a\"]\nexclude = [\"[\"]", "Invalid glob"},
		{"paths = [\"/a\"]\nstart_at = \"middle\"", "Invalid start_at"},
		{"paths = [\"/a\"]\nmax_line_bytes = 10", "Invalid max_line_bytes"},
		{"paths = [\"/a\"]\npoll_interval = \"soon\"", "Invalid duration"},
		{"paths = [\"/a\"]\ndead_letter_text_rate = -1", "Invalid dead_letter_text_rate"},
		{"paths = [\"/a\"]\nfollow = true", "Unsupported argument"},
	} {
		t.Run(tc.summary, func(t *testing.T) {
			_, diags := decode(t, tc.src)
			require.True(t, diags.HasErrors())
			assert.Equal(t, tc.summary, diags[0].Summary)
			require.NotNil(t, diags[0].Subject, "a diagnostic points into the file")
			assert.Equal(t, "kt.hcl", diags[0].Subject.Filename)
		})
	}
}

func TestValidate(t *testing.T) {
	c := NewDefaultConfig()
	c.Name = "cp"
	assert.ErrorContains(t, c.Validate(), "paths")
	c.Paths = []string{"/a"}
	assert.ErrorContains(t, c.Validate(), "SetDataDir")
	c.SetDataDir(t.TempDir())
	require.NoError(t, c.Validate())
	c.DeadLetterTextRate = -1
	assert.ErrorContains(t, c.Validate(), "dead_letter_text_rate")
	c.DeadLetterTextRate = 0
	require.NoError(t, c.Validate())
	c.StartAt = "middle"
	assert.ErrorContains(t, c.Validate(), "start_at")
}
