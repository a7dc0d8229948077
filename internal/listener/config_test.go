package listener

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/internal/hclconf"
	"github.com/keeptrusts/kt/internal/listener/certtest"
)

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:8780":   true,
		"127.1.2.3:1":      true,
		"[::1]:8780":       true,
		"localhost:8780":   true,
		"LocalHost.:8780":  true,
		":8780":            false,
		"0.0.0.0:8780":     false,
		"[::]:8780":        false,
		"192.168.1.10:80":  false,
		"[fe80::1%lo]:80":  false,
		"kt.example:8780":  false,
		"localhost.evil:1": false,
		"nowhere":          false,
	}
	for listen, want := range cases {
		assert.Equal(t, want, IsLoopback(listen), listen)
	}
}

// decode decodes src as a listener body the way a plugin does, and
// renders the diagnostics as "file:line:col: Summary: Detail" lines.
func decode(t *testing.T, src string) (Config, string) {
	t.Helper()
	p := hclparse.NewParser()
	f, diags := p.ParseHCL([]byte(src), "t.hcl")
	require.False(t, diags.HasErrors(), diags.Error())
	c := NewDefaultConfig()
	diags = Decode(f.Body, hclconf.EvalContext("."), &c)
	diags = diags.Extend(c.RequireAuth(Auth{Options: "token", Exposes: "do things"}))
	var b strings.Builder
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail)
	}
	return c, b.String()
}

func TestDecodeExposure(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	cert, key := ca.Server(t, dir, "server")
	tlsBlock := fmt.Sprintf("tls {\n  cert_file = %q\n  key_file = %q\n  client_ca_file = %q\n}\n", cert, key, ca.File)
	cases := []struct {
		name, src string
		want      string // "" = valid
	}{
		{"loopback", `listen = "127.0.0.1:8780"`, ""},
		{"localhost", `listen = "localhost:8780"`, ""},
		{"all interfaces", `listen = "0.0.0.0:8780"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"empty host", `listen = ":8780"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"ipv6 any", `listen = "[::]:8780"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"lan address", `listen = "10.1.2.3:8780"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"host name", `listen = "kt.example:8780"`, "t.hcl:1:10: Listener exposed without authentication"},
		{"said so", "listen = \"0.0.0.0:8780\"\nallow_unauthenticated = true", ""},
		{"client certificates", "listen = \"0.0.0.0:8780\"\n" + tlsBlock, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := decode(t, tc.src)
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
			assert.Contains(t, got, "allow_unauthenticated = true", "the message names the way out")
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	c, got := decode(t, `listen = "127.0.0.1:1"`)
	require.Empty(t, got)
	assert.Equal(t, NewDefaultConfig().MaxInflightBytes, c.MaxInflightBytes)
	assert.Equal(t, 1024, c.MaxConnections)
	assert.Equal(t, 30*time.Second, c.ReadTimeout)

	c, got = decode(t, "listen = \"127.0.0.1:1\"\nmax_body_bytes = 134217728")
	require.Empty(t, got)
	assert.Equal(t, int64(128<<20), c.MaxInflightBytes, "the in-flight default grows to hold one largest body")

	c, got = decode(t, `listen = "127.0.0.1:1"
max_connections = 8
max_inflight_bytes = 2097152
max_header_bytes = 8192
read_timeout = "5s"
write_timeout = "6s"
idle_timeout = "7s"
read_header_timeout = "2s"`)
	require.Empty(t, got)
	assert.Equal(t, Config{Listen: "127.0.0.1:1", MaxBodyBytes: 1 << 20, MaxInflightBytes: 2 << 20, InflightWait: time.Second,
		MaxConnections: 8, MaxHeaderBytes: 8192, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 6 * time.Second, IdleTimeout: 7 * time.Second, listenRange: c.listenRange}, c)

	cases := []struct{ name, src, want string }{
		{"in-flight below one body", "max_body_bytes = 4096\nmax_inflight_bytes = 2048", "t.hcl:3:22: Invalid max_inflight_bytes"},
		{"no connections", "max_connections = 0", "t.hcl:2:19: Invalid max_connections"},
		{"tiny headers", "max_header_bytes = 100", "t.hcl:2:20: Invalid max_header_bytes"},
		{"write before read", "read_timeout = \"10s\"\nwrite_timeout = \"5s\"", "t.hcl:3:17: Invalid write_timeout"},
		{"bad duration", "idle_timeout = \"soon\"", "t.hcl:2:16: Invalid duration"},
		{"unknown attribute", "max_conections = 3", "t.hcl:2:1: Unsupported argument"},
		{"bad listen", "", "t.hcl:1:10: Invalid listen address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			listen := `listen = "127.0.0.1:1"`
			if tc.name == "bad listen" {
				listen = `listen = "nowhere"`
			}
			_, got := decode(t, listen+"\n"+tc.src)
			assert.Contains(t, got, tc.want)
		})
	}
}

func TestDecodeTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	cert, key := ca.Server(t, dir, "server")
	otherCert, otherKey := ca.Server(t, dir, "other")
	_ = otherCert
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("not a certificate\n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	block := func(attrs string) string { return "listen = \"127.0.0.1:1\"\ntls {\n" + attrs + "\n}\n" }
	c, got := decode(t, block(fmt.Sprintf("cert_file = %q\nkey_file = %q\nclient_ca_file = %q\nmin_version = \"1.3\"", cert, key, ca.File)))
	require.Empty(t, got)
	require.NotNil(t, c.TLS)
	assert.Equal(t, uint16(tls.VersionTLS13), c.TLS.MinVersion)
	assert.True(t, c.ClientCertsRequired())
	c, got = decode(t, block(fmt.Sprintf("cert_file = %q\nkey_file = %q", cert, key)))
	require.Empty(t, got)
	assert.Equal(t, uint16(tls.VersionTLS12), c.TLS.MinVersion, "TLS 1.2 is the default minimum")
	assert.False(t, c.ClientCertsRequired())

	cases := []struct{ name, attrs, want string }{
		{"unreadable cert", fmt.Sprintf("cert_file = %q\nkey_file = %q", missing, key), "t.hcl:3:13: Invalid tls file: tls cert_file:"},
		{"cert not PEM", fmt.Sprintf("cert_file = %q\nkey_file = %q", junk, key), "t.hcl:3:13: Invalid tls file: tls cert_file: " + junk + ": no PEM CERTIFICATE block"},
		{"unreadable key", fmt.Sprintf("cert_file = %q\nkey_file = %q", cert, missing), "t.hcl:4:12: Invalid tls file: tls key_file:"},
		{"key of another cert", fmt.Sprintf("cert_file = %q\nkey_file = %q", cert, otherKey), "t.hcl:4:12: Invalid tls file: tls key_file: " + otherKey + " does not go with " + cert},
		{"client CA not PEM", fmt.Sprintf("cert_file = %q\nkey_file = %q\nclient_ca_file = %q", cert, key, junk), "t.hcl:5:18: Invalid tls file: tls client_ca_file:"},
		{"old version", fmt.Sprintf("cert_file = %q\nkey_file = %q\nmin_version = \"1.0\"", cert, key), "t.hcl:5:15: Invalid min_version"},
		{"no key", fmt.Sprintf("cert_file = %q", cert), "t.hcl:2:5: Missing required argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := decode(t, block(tc.attrs))
			assert.Contains(t, got, tc.want)
		})
	}
}

func TestStartWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	cert, key := ca.Server(t, dir, "server")
	withTLS, err := LoadTLS(cert, key, "", 0)
	require.NoError(t, err)
	mtls, err := LoadTLS(cert, key, ca.File, 0)
	require.NoError(t, err)
	a := Auth{Exposes: "write events"}
	authed := Auth{Configured: true, Exposes: "write events"}
	cases := []struct {
		name string
		cfg  Config
		auth Auth
		want []string
	}{
		{"loopback", Config{Listen: "127.0.0.1:1"}, a, nil},
		{"exposed, allowed", Config{Listen: "0.0.0.0:1", AllowUnauthenticated: true, TLS: withTLS}, a, []string{"without authentication (allow_unauthenticated = true)"}},
		{"exposed, in clear", Config{Listen: "0.0.0.0:1"}, authed, []string{"without TLS"}},
		{"exposed, both", Config{Listen: ":1", AllowUnauthenticated: true}, a, []string{"without authentication", "without TLS"}},
		{"client certificates", Config{Listen: "0.0.0.0:1", TLS: mtls}, a, nil},
		{"token and TLS", Config{Listen: "0.0.0.0:1", TLS: withTLS}, authed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.StartWarnings(tc.auth)
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				assert.Contains(t, got[i], w)
			}
		})
	}
	expired := *withTLS
	leaf := *withTLS.Certificate.Leaf
	leaf.NotAfter = time.Now().Add(-time.Hour)
	expired.Certificate.Leaf = &leaf
	got := Config{Listen: "0.0.0.0:1", TLS: &expired}.StartWarnings(authed)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "expired")
}
