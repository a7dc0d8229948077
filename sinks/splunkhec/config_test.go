package splunkhec

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

func block(attrs ...string) string { return sinktest.Block(Type, "soc", attrs...) }

const (
	endpointAttr = `endpoint = "https://splunk.example:8088"`
	tokenAttr    = `token = "8a1c5f3e-0d2b-4b8e-9a51-2f4c7a9d1e60"`
)

func TestDecodeDefaults(t *testing.T) {
	c, diags := sinktest.Decode(t, Decode, block(endpointAttr, tokenAttr))
	require.Empty(t, diags)
	host, _ := os.Hostname()
	want := NewDefaultConfig()
	want.Delivery.Name = "soc"
	want.Endpoint = "https://splunk.example:8088"
	want.Token = "8a1c5f3e-0d2b-4b8e-9a51-2f4c7a9d1e60"
	assert.Equal(t, want, c)
	assert.Equal(t, sinks.NewDelivery("splunk_hec", "soc"), c.Delivery)
	assert.Equal(t, "splunk_hec.soc", c.Delivery.Key())
	assert.Equal(t, host, c.Host)
	assert.Equal(t, "keeptrusts:audit", c.Sourcetype)
	assert.Equal(t, "kt", c.Source)
	assert.Empty(t, c.Index)
	assert.True(t, c.Gzip)
	assert.False(t, c.Ack)
	assert.Equal(t, time.Second, c.AckPollInterval)
	assert.Equal(t, 3*time.Minute, c.AckTimeout)
	assert.Empty(t, c.Channel)
	assert.Equal(t, 30*time.Second, c.Delivery.Timeout)
	assert.NoError(t, c.Validate())
}

func TestDecodeEverything(t *testing.T) {
	t.Setenv("KT_TEST_HEC_TOKEN", "tok-from-env")
	c, diags := sinktest.Decode(t, Decode, block(
		`endpoint = "https://splunk.example:8088/hec/"`,
		`token = env("KT_TEST_HEC_TOKEN")`,
		`index = "audit"`,
		`sourcetype = "kt:json"`,
		`source = ""`,
		`host = "cp-1"`,
		`gzip = false`,
		`ack = true`,
		`ack_poll_interval = "250ms"`,
		`ack_timeout = "2m"`,
		`channel = "0b7c4a52-3f7e-4d8e-bb1a-6a8a1e3c9f21"`,
		`in_flight = 4`,
		`batch {`,
		`  max_events = 100`,
		`}`,
	))
	require.Empty(t, diags)
	assert.Equal(t, "https://splunk.example:8088/hec/", c.Endpoint)
	assert.Equal(t, "tok-from-env", c.Token)
	assert.Equal(t, "audit", c.Index)
	assert.Equal(t, "kt:json", c.Sourcetype)
	assert.Empty(t, c.Source, "an empty source is the token's default")
	assert.Equal(t, "cp-1", c.Host)
	assert.False(t, c.Gzip)
	assert.True(t, c.Ack)
	assert.Equal(t, 250*time.Millisecond, c.AckPollInterval)
	assert.Equal(t, 2*time.Minute, c.AckTimeout)
	assert.Equal(t, "0b7c4a52-3f7e-4d8e-bb1a-6a8a1e3c9f21", c.Channel)
	assert.Equal(t, 4, c.Delivery.InFlight)
	assert.Equal(t, 100, c.Delivery.MaxEvents)
	assert.Equal(t, 2*time.Minute+30*time.Second, c.Delivery.Timeout, "ack raises the default timeout above ack_timeout")
}

func TestDecodeAckTimeout(t *testing.T) {
	c, diags := sinktest.Decode(t, Decode, block(endpointAttr, tokenAttr, `ack = true`))
	require.Empty(t, diags)
	assert.Equal(t, 3*time.Minute+30*time.Second, c.Delivery.Timeout)

	c, diags = sinktest.Decode(t, Decode, block(endpointAttr, tokenAttr, `ack = true`, `ack_timeout = "20s"`, `timeout = "45s"`))
	require.Empty(t, diags)
	assert.Equal(t, 45*time.Second, c.Delivery.Timeout, "an explicit timeout is kept")
}

func TestDecodeMistakes(t *testing.T) {
	sinktest.CheckMistakes(t, block, Decode, []sinktest.Mistake{
		{"no endpoint", []string{tokenAttr}, "Missing required argument", "", "endpoint"},
		{"no token", []string{endpointAttr}, "Missing required argument", "", "token"},
		{"empty token", []string{endpointAttr, `token = ""`}, "Empty token", "token", "unset variable"},
		{"Splunk prefix", []string{endpointAttr, `token = "Splunk abc"`}, "Invalid token", "token", `the token alone`},
		{"token newline", []string{endpointAttr, `token = "abc\n"`}, "Invalid token", "token", "white space"},
		{"empty endpoint", []string{`endpoint = ""`, tokenAttr}, "Invalid endpoint", "endpoint", "base URL"},
		{"ftp", []string{`endpoint = "ftp://splunk.example:8088"`, tokenAttr}, "Invalid endpoint", "endpoint", "scheme"},
		{"no scheme", []string{`endpoint = "splunk.example:8088"`, tokenAttr}, "Invalid endpoint", "endpoint", "scheme"},
		{"no host", []string{`endpoint = "https://"`, tokenAttr}, "Invalid endpoint", "endpoint", "no host"},
		{"no host, port", []string{`endpoint = "https://:8088"`, tokenAttr}, "Invalid endpoint", "endpoint", "no host"},
		{"full path", []string{`endpoint = "https://splunk.example:8088/services/collector/event"`, tokenAttr}, "Invalid endpoint", "endpoint", "without /services/collector/event"},
		{"collector path", []string{`endpoint = "https://splunk.example:8088/services/collector/"`, tokenAttr}, "Invalid endpoint", "endpoint", "without /services/collector"},
		{"query", []string{`endpoint = "https://splunk.example:8088/?token=x"`, tokenAttr}, "Invalid endpoint", "endpoint", "no query"},
		{"user info", []string{`endpoint = "https://admin:pw@splunk.example:8088"`, tokenAttr}, "Invalid endpoint", "endpoint", "credentials"},
		{"bad URL", []string{`endpoint = "https://splunk example:8088"`, tokenAttr}, "Invalid endpoint", "endpoint", "invalid character"},
		{"index case", []string{endpointAttr, tokenAttr, `index = "Audit"`}, "Invalid index", "index", "lowercase"},
		{"index dash", []string{endpointAttr, tokenAttr, `index = "-audit"`}, "Invalid index", "index", "lowercase"},
		{"sourcetype control", []string{endpointAttr, tokenAttr, `sourcetype = "kt\u0001"`}, "Invalid sourcetype", "sourcetype", "control"},
		{"host newline", []string{endpointAttr, tokenAttr, `host = "cp\n1"`}, "Invalid host", "host", "control"},
		{"channel", []string{endpointAttr, tokenAttr, `ack = true`, `channel = "kt-soc"`}, "Invalid channel", "channel", "not a UUID"},
		{"ack_timeout zero", []string{endpointAttr, tokenAttr, `ack = true`, `ack_timeout = "0s"`}, "Invalid duration", "ack_timeout", "positive"},
		{"ack_poll_interval unit", []string{endpointAttr, tokenAttr, `ack = true`, `ack_poll_interval = "5"`}, "Invalid duration", "ack_poll_interval", "unit"},
		{"poll above timeout", []string{endpointAttr, tokenAttr, `ack = true`, `ack_poll_interval = "10s"`, `ack_timeout = "5s"`}, "Invalid ack_poll_interval", "ack_poll_interval", "above"},
		{"ack_timeout above timeout", []string{endpointAttr, tokenAttr, `ack = true`, `ack_timeout = "5m"`, `timeout = "1m"`}, "Invalid ack_timeout", "ack_timeout", "raise timeout"},
		{"timeout below default ack_timeout", []string{endpointAttr, tokenAttr, `ack = true`, `timeout = "1m"`}, "Invalid ack_timeout", "timeout", "raise timeout"},
		{"gzip type", []string{endpointAttr, tokenAttr, `gzip = "yes please"`}, "Unsuitable value type", "gzip", "bool"},
		{"unknown attribute", []string{endpointAttr, tokenAttr, `tokn = "x"`}, "Unsupported argument", "tokn", ""},
		{"delivery", []string{endpointAttr, tokenAttr, `in_flight = 0`}, "Invalid in_flight", "", "at least 1"},
	})
}

func TestDecodeWarnings(t *testing.T) {
	src := block(endpointAttr, tokenAttr, `ack_timeout = "1m"`, `channel = "0b7c4a52-3f7e-4d8e-bb1a-6a8a1e3c9f21"`)
	_, diags := sinktest.Decode(t, Decode, src)
	require.False(t, diags.HasErrors(), "%v", diags)
	require.Len(t, diags, 2)
	for _, d := range diags {
		assert.Equal(t, hcl.DiagWarning, d.Severity)
		assert.Contains(t, d.Detail, "ack = true")
		line, col := sinktest.AttrPos(src, strings.TrimPrefix(d.Summary, "Unused "))
		assert.Equal(t, line, d.Subject.Start.Line)
		assert.Equal(t, col, d.Subject.Start.Column)
	}
}

func TestDecodeHTTP(t *testing.T) {
	c, diags := sinktest.Decode(t, Decode, block(`endpoint = "http://127.0.0.1:8088"`, tokenAttr))
	require.Empty(t, diags, "http is allowed (with a warning at start)")
	assert.Equal(t, "http://127.0.0.1:8088", c.Endpoint)
}

func TestValidate(t *testing.T) {
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "splunk_hec soc: endpoint")
	assert.Contains(t, err.Error(), "token:")

	c.Endpoint, c.Token = "https://splunk.example:8088", "tok"
	require.NoError(t, c.Validate())

	bare := Config{Endpoint: c.Endpoint, Token: c.Token}
	assert.ErrorContains(t, bare.Validate(), "timeout", "a Config without its Delivery defaults")

	c.Ack = true
	require.Error(t, c.Validate(), "ack_timeout 3m is not below timeout 30s")
	c.AckTimeout = 10 * time.Second
	require.NoError(t, c.Validate())
}
