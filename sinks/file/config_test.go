package file

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sinks"
	"github.com/keeptrusts/kt/sinks/sinktest"
)

func block(attrs ...string) string { return sinktest.Block(Type, "local", attrs...) }

const pathAttr = `path = "/var/lib/kt/out/audit.ndjson"`

func TestDecodeDefaults(t *testing.T) {
	c, diags := sinktest.Decode(t, Decode, block(pathAttr))
	require.Empty(t, diags)
	want := NewDefaultConfig()
	want.Name, want.Path = "local", "/var/lib/kt/out/audit.ndjson"
	assert.Equal(t, want, c)
	assert.Equal(t, time.Minute, c.HeartbeatInterval)
	assert.Equal(t, 4096, c.BatchEvents)
	assert.NoError(t, c.Validate())

	d := c.Delivery()
	assert.Equal(t, "file.local", d.Key())
	assert.Equal(t, 4096, d.MaxEvents, "a batch is batch_events entries")
	assert.Equal(t, math.MaxInt, d.MaxBytes, "and no byte limit")
	assert.Zero(t, d.MaxWait, "written at once")
	assert.Equal(t, 1, d.InFlight)
	assert.Equal(t, time.Minute, d.HeartbeatInterval)
	assert.Equal(t, 30*time.Second, d.DrainTimeout)
	d.SetDataDir("/var/lib/kt")
	assert.Equal(t, "/var/lib/kt/sinks/file.local/dead-letter.ndjson", d.DeadLetterPath)
}

func TestDecodeEverything(t *testing.T) {
	t.Setenv("KT_TEST_OUT", "/srv/audit.ndjson")
	c, diags := sinktest.Decode(t, Decode, block(`path = env("KT_TEST_OUT")`, `heartbeat_interval = "5s"`, `batch_events = 100`))
	require.Empty(t, diags)
	assert.Equal(t, "/srv/audit.ndjson", c.Path)
	assert.Equal(t, 5*time.Second, c.HeartbeatInterval)
	assert.Equal(t, 100, c.BatchEvents)
	assert.Equal(t, 100, c.Delivery().MaxEvents)
	assert.Equal(t, 5*time.Second, c.Delivery().HeartbeatInterval)
}

func TestDecodeMistakes(t *testing.T) {
	sinktest.CheckMistakes(t, block, Decode, []sinktest.Mistake{
		{"no path", nil, "Missing required argument", "", "path"},
		{"empty path", []string{`path = ""`}, "Empty path", "path", "output file"},
		{"batch_events zero", []string{pathAttr, `batch_events = 0`}, "Invalid batch_events", "batch_events", "at least 1"},
		{"batch_events type", []string{pathAttr, `batch_events = "many"`}, "Unsuitable value type", "batch_events", "number"},
		{"heartbeat_interval unit", []string{pathAttr, `heartbeat_interval = "60"`}, "Invalid duration", "heartbeat_interval", "unit"},
		{"heartbeat_interval zero", []string{pathAttr, `heartbeat_interval = "0s"`}, "Invalid duration", "heartbeat_interval", "positive"},
		{"unknown attribute", []string{pathAttr, `pth = "x"`}, "Unsupported argument", "pth", ""},
	})
}

// TestDecodeAllAtOnce: every mistake of a block is reported, each at its
// attribute.
func TestDecodeAllAtOnce(t *testing.T) {
	src := block(`path = ""`, `batch_events = -1`, `heartbeat_interval = "soon"`)
	_, diags := sinktest.Decode(t, Decode, src)
	var got []string
	for _, d := range diags {
		require.NotNil(t, d.Subject)
		got = append(got, d.Summary)
	}
	assert.ElementsMatch(t, []string{"Empty path", "Invalid batch_events", "Invalid duration"}, got)
	for _, d := range diags {
		attr := map[string]string{"Empty path": "path", "Invalid batch_events": "batch_events", "Invalid duration": "heartbeat_interval"}[d.Summary]
		line, col := sinktest.AttrPos(src, attr)
		assert.Equal(t, line, d.Subject.Start.Line, d.Summary)
		assert.Equal(t, col, d.Subject.Start.Column, d.Summary)
	}
}

func TestValidate(t *testing.T) {
	c := NewDefaultConfig()
	c.Name = "local"
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file local: path:")

	c.Path = "/tmp/out.ndjson"
	require.NoError(t, c.Validate())

	bare := Config{Name: "local", Path: c.Path}
	err = bare.Validate()
	require.Error(t, err, "a Config without its defaults")
	assert.Contains(t, err.Error(), "batch_events")
	assert.Contains(t, err.Error(), "heartbeat_interval")
}

func TestPlugin(t *testing.T) {
	assert.Equal(t, "file", Plugin.Type)
	name, body, ctx := sinktest.ParseBlock(t, block(`path = "`+t.TempDir()+`/out.ndjson"`, `batch_events = 7`))
	sp, diags := Plugin.Decode(name, body, ctx)
	require.Empty(t, diags)
	assert.Equal(t, 7, sp.Delivery.MaxEvents)
	assert.Equal(t, "file.local", sp.Delivery.Key())
	tr, err := sp.New(nil)
	require.NoError(t, err)
	_, ok := tr.(sinks.CursorState)
	assert.True(t, ok, "the file sink keeps its size with the cursor")
	require.NoError(t, tr.Close())

	sp, diags = Plugin.Decode(sinktest.ParseBlock(t, block(`path = ""`)))
	require.True(t, diags.HasErrors())
	tr, err = sp.New(nil)
	assert.Error(t, err, "New validates")
	assert.Nil(t, tr, "no typed nil")
}
