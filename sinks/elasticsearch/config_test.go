package elasticsearch

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

func block(attrs ...string) string { return sinktest.Block(Type, "soc", attrs...) }

const addrAttr = `addresses = ["https://es.example:9200"]`

func TestDecodeDefaults(t *testing.T) {
	c, diags := sinktest.Decode(t, Decode, block(addrAttr))
	require.Empty(t, diags)
	want := NewDefaultConfig()
	want.Delivery.Name = "soc"
	want.Addresses = []string{"https://es.example:9200"}
	assert.Equal(t, want, c)
	wantD := sinks.NewDelivery("elasticsearch", "soc")
	wantD.InFlight = DefaultInFlight
	assert.Equal(t, wantD, c.Delivery)
	assert.Equal(t, "elasticsearch.soc", c.Delivery.Key())
	assert.Equal(t, "logs-keeptrusts.audit-default", c.Index)
	assert.Equal(t, ModeDataStream, c.Mode)
	assert.True(t, c.Gzip)
	assert.False(t, c.InstallTemplate)
	assert.Empty(t, c.APIKey)
	assert.Empty(t, c.Username)
	assert.Empty(t, c.Pipeline)
	assert.Equal(t, 30*time.Second, c.Delivery.Timeout)
	assert.NoError(t, c.Validate())
}

func TestDecodeEverything(t *testing.T) {
	t.Setenv("KT_TEST_ES_PASSWORD", "pw-from-env")
	c, diags := sinktest.Decode(t, Decode, block(
		`addresses = ["https://es1.example:9200", "http://10.0.0.2:9200/es/"]`,
		`index = "kt-audit"`,
		`mode = "index"`,
		`username = "kt_writer"`,
		`password = env("KT_TEST_ES_PASSWORD")`,
		`install_template = true`,
		`pipeline = "kt-enrich"`,
		`gzip = false`,
		`in_flight = 4`,
		`batch {`,
		`  max_events = 1000`,
		`}`,
	))
	require.Empty(t, diags)
	assert.Equal(t, []string{"https://es1.example:9200", "http://10.0.0.2:9200/es/"}, c.Addresses)
	assert.Equal(t, "kt-audit", c.Index)
	assert.Equal(t, ModeIndex, c.Mode)
	assert.Equal(t, "kt_writer", c.Username)
	assert.Equal(t, "pw-from-env", c.Password)
	assert.True(t, c.InstallTemplate)
	assert.Equal(t, "kt-enrich", c.Pipeline)
	assert.False(t, c.Gzip)
	assert.Equal(t, 4, c.Delivery.InFlight)
	assert.Equal(t, 1000, c.Delivery.MaxEvents)

	c, diags = sinktest.Decode(t, Decode, block(addrAttr, `api_key = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="`))
	require.Empty(t, diags)
	assert.Equal(t, "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", c.APIKey)
}

func TestDecodeMistakes(t *testing.T) {
	sinktest.CheckMistakes(t, block, Decode, []sinktest.Mistake{
		{"no addresses", []string{`index = "x"`}, "Missing required argument", "", "addresses"},
		{"empty addresses", []string{`addresses = []`}, "Invalid addresses", "addresses", "at least one node"},
		{"empty address", []string{`addresses = [""]`}, "Invalid addresses", "addresses", "base URL"},
		{"scheme", []string{`addresses = ["es.example:9200"]`}, "Invalid addresses", "addresses", "scheme"},
		{"no host", []string{`addresses = ["https://:9200"]`}, "Invalid addresses", "addresses", "no host"},
		{"user info", []string{`addresses = ["https://elastic:pw@es.example:9200"]`}, "Invalid addresses", "addresses", "credentials"},
		{"query", []string{`addresses = ["https://es.example:9200/?x=1"]`}, "Invalid addresses", "addresses", "no query"},
		{"bulk path", []string{`addresses = ["https://es.example:9200/_bulk"]`}, "Invalid addresses", "addresses", "without /_bulk"},
		{"twice", []string{`addresses = ["https://a:9200", "https://a:9200"]`}, "Invalid addresses", "addresses", "twice"},
		{"addresses type", []string{`addresses = "https://a:9200"`}, "Unsuitable value type", "addresses", "list"},
		{"index case", []string{addrAttr, `index = "Audit"`}, "Invalid index", "index", "lowercase"},
		{"index char", []string{addrAttr, `index = "kt*"`}, "Invalid index", "index", "none of"},
		{"index date math", []string{addrAttr, `index = "<kt-{now/d}>"`}, "Invalid index", "index", "date math"},
		{"index start", []string{addrAttr, `index = "_kt"`}, "Invalid index", "index", "start with"},
		{"index empty", []string{addrAttr, `index = ""`}, "Invalid index", "index", "empty"},
		{"backing index", []string{addrAttr, `index = ".ds-logs-x-default-2026.01.01-000001"`}, "Invalid index", "index", "backing index"},
		{"mode", []string{addrAttr, `mode = "datastream"`}, "Invalid mode", "mode", `"data_stream" or "index"`},
		{"both credentials", []string{addrAttr, `api_key = "abc"`, `username = "u"`, `password = "p"`}, "Conflicting credentials", "api_key", "not both"},
		{"password alone", []string{addrAttr, `password = "p"`}, "Missing username", "password", "username is not"},
		{"empty password", []string{addrAttr, `username = "u"`, `password = ""`}, "Empty password", "password", "unset variable"},
		{"no password", []string{addrAttr, `username = "u"`}, "Empty password", "", "unset variable"},
		{"ApiKey prefix", []string{addrAttr, `api_key = "ApiKey abc"`}, "Invalid api_key", "api_key", "the key alone"},
		{"api_key newline", []string{addrAttr, `api_key = "abc\n"`}, "Invalid api_key", "api_key", "white space"},
		{"username colon", []string{addrAttr, `username = "a:b"`, `password = "p"`}, "Invalid username", "username", "':'"},
		{"pipeline", []string{addrAttr, `pipeline = "a b"`}, "Invalid pipeline", "pipeline", "white space"},
		{"gzip type", []string{addrAttr, `gzip = "yes please"`}, "Unsuitable value type", "gzip", "bool"},
		{"unknown attribute", []string{addrAttr, `api_kye = "x"`}, "Unsupported argument", "api_kye", ""},
		{"delivery", []string{addrAttr, `in_flight = 0`}, "Invalid in_flight", "", "at least 1"},
	})
}

func TestValidate(t *testing.T) {
	c := NewDefaultConfig()
	c.Delivery.Name = "soc"
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "elasticsearch soc: addresses")

	c.Addresses = []string{"http://127.0.0.1:9200"}
	require.NoError(t, c.Validate())

	c.Mode = ""
	assert.ErrorContains(t, c.Validate(), "mode", "a Mode must be given")
	c.Mode = ModeIndex
	require.NoError(t, c.Validate())

	bare := Config{Addresses: c.Addresses, Index: "kt", Mode: ModeIndex}
	assert.ErrorContains(t, bare.Validate(), "timeout", "a Config without its Delivery defaults")

	c.APIKey, c.Username, c.Password = "k", "u", "p"
	assert.ErrorContains(t, c.Validate(), "not both")
	c.Username, c.Password = "", ""
	require.NoError(t, c.Validate())

	c.Index = strings.Repeat("a", 256)
	assert.ErrorContains(t, c.Validate(), "255 bytes")
}
