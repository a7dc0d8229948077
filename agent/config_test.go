package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/configs"
	"github.com/keeptrusts/kt/sources/webhook"
)

func render(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, fmt.Sprintf("%s: %s; %s", loc, d.Summary, d.Detail))
	}
	return strings.Join(out, "\n")
}

const base = `
source "webhook" "w" {
  listen = "127.0.0.1:8780"
}
`

func TestConfigMistakes(t *testing.T) {
	t.Setenv("KT_SET", "value")
	cases := []struct {
		name string
		src  string
		want string // "file:line:col: Summary" prefix of one diagnostic
	}{
		{"unknown block", base + "\nbogus {\n}\n", `t.hcl:6:1: Unsupported block type`},
		{"unknown attribute", "data_dirr = \"x\"\n" + base, `t.hcl:1:1: Unsupported argument`},
		{"unknown plugin attribute", "source \"webhook\" \"w\" {\n  listen = \"127.0.0.1:1\"\n  lisen = 1\n}\n", `t.hcl:3:3: Unsupported argument`},
		{"wrong type", "data_dir = [\"a\"]\n" + base, `t.hcl:1:12: Unsuitable value type`},
		{"bad duration", "signing {\n  checkpoint_interval = \"10 seconds\"\n}\n" + base, `t.hcl:2:25: Invalid duration`},
		{"missing required", "source \"webhook\" \"w\" {\n}\n", `t.hcl:1:22: Missing required argument`},
		{"duplicate sink name", base + "sink \"file\" \"a\" {\n  path = \"/tmp/a\"\n}\nsink \"file\" \"a\" {\n  path = \"/tmp/b\"\n}\n", `t.hcl:8:1: Duplicate sink name`},
		{"unknown sink type", base + "sink \"splunk\" \"a\" {\n}\n", `t.hcl:5:1: Unknown sink type`},
		{"not built yet", base + "sink \"kafka\" \"bus\" {\n  brokers = [\"k:9092\"]\n}\n", `t.hcl:5:1: Not available yet: sink kafka`},
		{"retention not built yet", base + "retention {\n  max_age = \"1h\"\n}\n", `t.hcl:5:1: Not available yet: retention`},
		{"unset env", "source \"webhook\" \"w\" {\n  listen = \"127.0.0.1:1\"\n  token = env(\"KT_UNSET_FOR_TEST\")\n}\n", `t.hcl:3:11: Error in function call`},
		{"bad listen", "source \"webhook\" \"w\" {\n  listen = \"nowhere\"\n}\n", `t.hcl:2:12: Invalid listen address`},
		{"no source", "data_dir = \"x\"\n", `t.hcl:1:1: No source`},
		{"two signing blocks", "signing {\n}\nsigning {\n}\n" + base, `t.hcl:3:1: Duplicate signing block`},
		{"syntax error", "source \"webhook\" {\n", `t.hcl:1:`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, diags := LoadBytes("t.hcl", []byte(tc.src))
			require.True(t, diags.HasErrors(), "want an error")
			assert.Contains(t, render(diags), tc.want)
		})
	}
}

func TestConfigValues(t *testing.T) {
	t.Setenv("KT_TOK", "tok")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("hmac-key\n"), 0o600))
	src := `
data_dir = "/srv/kt"
signing {
  checkpoint_interval = "3s"
}
source "webhook" "w" {
  listen        = "127.0.0.1:9999"
  token         = env("KT_TOK")
  hmac_secret   = file("secret.txt")
  replay_window = "1m"
}
sink "file" "f" {
  path = "/srv/kt/out.ndjson"
}
`
	p := filepath.Join(dir, "kt.hcl")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
	cfg, _, diags := LoadFile(p)
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, "/srv/kt", cfg.DataDir)
	assert.Equal(t, 3*time.Second, cfg.Signing.CheckpointInterval)
	assert.Equal(t, "/srv/kt/signing.key", cfg.Signing.KeyFile)
	hooks := webhooks(cfg)
	require.Len(t, hooks, 1)
	assert.Equal(t, "tok", hooks[0].Token)
	assert.Equal(t, []byte("hmac-key"), hooks[0].HMACSecret)
	assert.Equal(t, time.Minute, hooks[0].ReplayWindow)
	assert.Equal(t, "/v1/events", hooks[0].Path)
	require.Len(t, cfg.Sinks, 1)
	assert.Equal(t, "file", cfg.Sinks[0].Type)
	assert.Nil(t, cfg.QueryAPI)
}

// TestEmbeddedConfigs validates every config that ships.
func TestEmbeddedConfigs(t *testing.T) {
	cfg, _, diags := LoadDefault()
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, "./kt-data", cfg.DataDir)
	require.NotNil(t, cfg.QueryAPI)
	assert.Equal(t, "127.0.0.1:8781", cfg.QueryAPI.Listen)
	hooks := webhooks(cfg)
	require.Len(t, hooks, 1)
	assert.Equal(t, "127.0.0.1:8780", hooks[0].Listen)

	t.Setenv("KT_WEBHOOK_TOKEN", "t")
	t.Setenv("KT_WEBHOOK_HMAC", "h")
	t.Setenv("KT_API_TOKEN", "a")
	_, _, diags = LoadBytes("example.hcl", configs.Example)
	require.False(t, diags.HasErrors(), render(diags))
	for _, f := range []string{"../packaging/kt.hcl"} {
		if _, err := os.Stat(f); err == nil {
			_, _, diags := LoadFile(f)
			require.False(t, diags.HasErrors(), render(diags))
		}
	}
}

// TestDesignExample checks that the full example of the design is part of
// the schema: the only errors are "not available yet" for features that are
// not built, one per such block.
func TestDesignExample(t *testing.T) {
	for _, v := range []string{"KT_WEBHOOK_TOKEN", "KT_WEBHOOK_HMAC", "SPLUNK_HEC_TOKEN", "ES_API_KEY", "KT_API_TOKEN"} {
		t.Setenv(v, "x")
	}
	src, err := os.ReadFile("testdata/design-example.hcl")
	require.NoError(t, err)
	_, _, diags := LoadBytes("design.hcl", src)
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	sort.Strings(got)
	assert.Equal(t, []string{
		"Not available yet: retention",
		"Not available yet: sink kafka",
		"Not available yet: sink s3",
		"Not available yet: sink syslog",
	}, got, render(diags))
	assert.False(t, bytes.Contains(src, []byte("THIS-MUST")))
}

// TestConfigMistakesAllAtOnce: a file with mistakes at the top level and in
// several blocks gets every one of them in one run, each once.
func TestConfigMistakesAllAtOnce(t *testing.T) {
	src := `data_dirr = "x"
query_api {
  listen = "127.0.0.1:8781"
  token  = env("KT_UNSET_FOR_TEST_A")
}
source "webhook" "w" {
  listen = "nowhere"
}
sink "file" "f" {
  path        = "/tmp/f"
  batch_events = 0
}
`
	_, _, diags := LoadBytes("t.hcl", []byte(src))
	got := render(diags)
	for _, want := range []string{
		"t.hcl:1:1: Unsupported argument",
		"t.hcl:4:12: Error in function call",
		"t.hcl:7:12: Invalid listen address",
		"Invalid batch_events",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "Unsuitable value type", "an unset env() is reported once, not echoed by the decoder")
	assert.Len(t, diags, 4, got)
}

// TestConfigPipelineBlocks: redact, normalize, ledger and health reach the
// config, and their mistakes point at the attribute.
func TestConfigPipelineBlocks(t *testing.T) {
	src := base + `
redact {
  paths    = ["changes.after.credentials.*"]
  names    = ["x-vendor-sig"]
  patterns = ["\\bACME-[0-9]{6}\\b"]
}
normalize {
  category_map   = { data_access = "policy" }
  actor_type_map = { robot = "system" }
  max_id_bytes   = 512
  max_event_bytes = 1048576
}
ledger {
  segment_bytes = 262144
}
health {
  stall_after = "30s"
}
`
	cfg, _, diags := LoadBytes("t.hcl", []byte(src))
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, []string{"x-vendor-sig"}, cfg.Redact.Names)
	assert.Equal(t, []string{`\bACME-[0-9]{6}\b`}, cfg.Redact.Patterns)
	assert.Equal(t, map[string]string{"data_access": "policy"}, cfg.Normalize.CategoryMap)
	assert.Equal(t, map[string]string{"robot": "system"}, cfg.Normalize.ActorTypeMap)
	assert.Equal(t, 512, cfg.Normalize.MaxIDBytes)
	assert.Equal(t, int64(262144), cfg.Ledger.SegmentBytes)
	assert.Equal(t, 30*time.Second, cfg.Health.StallAfter)
	o := pipelineOptions(cfg, make([]byte, 32))
	assert.NoError(t, o.Validate())
	assert.Equal(t, 1048576, o.MaxEventBytes)

	def, _, diags := LoadBytes("t.hcl", []byte(base))
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, DefaultStallAfter, def.Health.StallAfter)

	for _, c := range []struct{ src, want string }{
		{"redact {\n  patterns = [\"(unclosed\"]\n}\n", "t.hcl:7:14: Invalid redact pattern"},
		{"normalize {\n  category_map = { x = \"nonsense\" }\n}\n", "t.hcl:7:18: Invalid category_map"},
		{"normalize {\n  actor_type_map = { bot = \"wizard\" }\n}\n", "t.hcl:7:20: Invalid actor_type_map"},
		{"normalize {\n  max_id_bytes = 100000\n}\n", "t.hcl:7:18: Invalid max_id_bytes"},
		{"normalize {\n  max_event_bytes = 0\n}\n", "t.hcl:7:21: Invalid max_event_bytes"},
		{"ledger {\n  segment_bytes = 10\n}\n", "t.hcl:7:19: Invalid segment_bytes"},
		{"health {\n  stall_after = \"soon\"\n}\n", "t.hcl:7:17: Invalid duration"},
		{"normalize {\n  bogus = 1\n}\n", "t.hcl:7:3: Unsupported argument"},
	} {
		_, _, diags := LoadBytes("t.hcl", []byte(base+"\n"+c.src))
		assert.Contains(t, render(diags), c.want, c.src)
	}
}

// TestConfigBlockMistakesAllAtOnce: inside one block too, a mistyped or
// unknown attribute does not hide the others' mistakes, and nothing is
// reported twice.
func TestConfigBlockMistakesAllAtOnce(t *testing.T) {
	src := base + `
source "file" "f" {
  paths = []
  poll_interval = "often"
  bogus = 1
}
sink "file" "out" {
  path = "/tmp/out"
  batch_events = 0
  heartbeat_interval = "x"
  nope = true
}
`
	_, _, diags := LoadBytes("t.hcl", []byte(src))
	got := render(diags)
	for _, want := range []string{"Empty paths", "Invalid duration", `named "bogus"`, "Invalid batch_events", `named "nope"`} {
		assert.Contains(t, got, want)
	}
	assert.Len(t, diags, 6, got)
}

// webhooks returns the decoded webhook blocks of cfg.
func webhooks(cfg *Config) []webhook.Config {
	var out []webhook.Config
	for _, b := range cfg.Sources {
		if c, ok := b.Spec.Config.(webhook.Config); ok {
			out = append(out, c)
		}
	}
	return out
}
