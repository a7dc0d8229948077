package webhook

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/hclconf"
)

func decode(t *testing.T, src string) (Config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "kt.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
	return Decode("console", f.Body, hclconf.EvalContext(t.TempDir()))
}

func render(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, loc+d.Summary)
	}
	return strings.Join(out, "\n")
}

func TestDecode(t *testing.T) {
	t.Setenv("KT_TEST_HMAC", "whsec_"+"c2VjcmV0")
	c, diags := decode(t, `
listen        = "127.0.0.1:8780"
path          = "/hooks/audit"
token         = "t0k"
hmac_secret   = env("KT_TEST_HMAC")
replay_window = "90s"
max_body_bytes = 65536
`)
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, "console", c.Name)
	assert.Equal(t, "127.0.0.1:8780", c.Listen)
	assert.Equal(t, "/hooks/audit", c.Path)
	assert.Equal(t, "t0k", c.Token)
	assert.Equal(t, []byte("secret"), c.HMACSecret, "whsec_ secrets are base64")
	assert.Equal(t, 90*time.Second, c.ReplayWindow)
	assert.Equal(t, int64(65536), c.MaxBodyBytes)
	require.NoError(t, c.Validate())

	d, diags := decode(t, `listen = "127.0.0.1:0"`)
	require.False(t, diags.HasErrors(), render(diags))
	assert.Equal(t, "/v1/events", d.Path)
	assert.Equal(t, 5*time.Minute, d.ReplayWindow)
	assert.Equal(t, int64(DefaultMaxBodyBytes), d.MaxBodyBytes)
	assert.Empty(t, d.Token)
	assert.Nil(t, d.HMACSecret)
	require.NoError(t, d.Validate())
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"listen = \"127.0.0.1:1\"\npath = \"events\"\n", "kt.hcl:2:8: Invalid path"},
		{"listen = \"127.0.0.1:1\"\ntoken = \"\"\n", "kt.hcl:2:9: Empty token"},
		{"listen = \"127.0.0.1:1\"\nhmac_secret = \"whsec_***\"\n", "kt.hcl:2:15: Invalid hmac_secret"},
		{"listen = \"127.0.0.1:1\"\nreplay_window = \"soon\"\n", "kt.hcl:2:17: Invalid duration"},
		{"listen = \"0.0.0.0:8780\"\n", "kt.hcl:1:10: Listener exposed without authentication"},
		{"listen = \"nowhere\"\n", "kt.hcl:1:10: Invalid listen address"},
	} {
		_, diags := decode(t, c.src)
		assert.Contains(t, render(diags), c.want, c.src)
	}
	// Every mistake at once.
	_, diags := decode(t, "listen = \"127.0.0.1:1\"\npath = \"x\"\ntoken = \"\"\nreplay_window = \"?\"\n")
	assert.Len(t, diags, 3, render(diags))
}

func TestValidate(t *testing.T) {
	ok := NewDefaultConfig()
	ok.Name, ok.Listen = "w", "127.0.0.1:0"
	require.NoError(t, ok.Validate())
	for name, edit := range map[string]func(c *Config){
		"no name":          func(c *Config) { c.Name = "" },
		"bad listen":       func(c *Config) { c.Listen = "nowhere" },
		"relative path":    func(c *Config) { c.Path = "events" },
		"no window":        func(c *Config) { c.ReplayWindow = 0 },
		"tiny body":        func(c *Config) { c.MaxBodyBytes = 10 },
		"empty secret":     func(c *Config) { c.HMACSecret = []byte{} },
		"exposed, no auth": func(c *Config) { c.Listen = "0.0.0.0:8780" },
	} {
		c := ok
		edit(&c)
		assert.Error(t, c.Validate(), name)
	}
	c := ok
	c.Listen, c.Token = "0.0.0.0:8780", "t"
	assert.NoError(t, c.Validate(), "exposed with a token")
	c.Token, c.AllowUnauthenticated = "", true
	assert.NoError(t, c.Validate(), "exposed, said so")
}
