package listener

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/keeptrusts/kt/internal/hclconf"
)

// TLSConfig is a listener's tls block, with its files read and checked.
type TLSConfig struct {
	CertFile     string // PEM certificate chain, leaf first
	KeyFile      string // PEM private key of the leaf
	ClientCAFile string // PEM CA certificates; "" = no client certificates
	MinVersion   uint16 // tls.VersionTLS12 (default) or tls.VersionTLS13

	Certificate tls.Certificate
	// ClientCAs verify client certificates; nil when ClientCAFile is "".
	// When set, every connection must present a certificate they sign.
	ClientCAs *x509.CertPool
}

// FileError is a problem with one file of a tls block; Attr names the
// attribute that gives the file.
type FileError struct {
	Attr string // "cert_file", "key_file" or "client_ca_file"
	Err  error
}

// Error implements error.
func (e *FileError) Error() string { return fmt.Sprintf("tls %s: %v", e.Attr, e.Err) }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// LoadTLS reads and checks a listener's certificate, key and client CAs:
// every file must be readable and parse, and the key must match the
// certificate. Errors are *FileError.
func LoadTLS(certFile, keyFile, clientCAFile string, minVersion uint16) (*TLSConfig, error) {
	t := &TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: clientCAFile, MinVersion: minVersion}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FileError{"cert_file", err}
	}
	leaf, err := firstCert(certPEM)
	if err != nil {
		return nil, &FileError{"cert_file", fmt.Errorf("%s: %w", certFile, err)}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FileError{"key_file", err}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &FileError{"key_file", fmt.Errorf("%s does not go with %s: %w", keyFile, certFile, err)}
	}
	pair.Leaf = leaf
	t.Certificate = pair
	if clientCAFile != "" {
		caPEM, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, &FileError{"client_ca_file", err}
		}
		if _, err := firstCert(caPEM); err != nil {
			return nil, &FileError{"client_ca_file", fmt.Errorf("%s: %w", clientCAFile, err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, &FileError{"client_ca_file", fmt.Errorf("%s: no usable PEM certificate", clientCAFile)}
		}
		t.ClientCAs = pool
	}
	return t, nil
}

// firstCert parses the first PEM CERTIFICATE block of b.
func firstCert(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate does not parse: %w", err)
			}
			return c, nil
		}
	}
}

// ServerConfig returns the crypto/tls configuration of the listener:
// HTTP/1.1 only, the configured minimum version, and client certificates
// required and verified when ClientCAs is set.
func (t *TLSConfig) ServerConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:   t.MinVersion,
		Certificates: []tls.Certificate{t.Certificate},
		NextProtos:   []string{"http/1.1"},
	}
	if t.ClientCAs != nil {
		cfg.ClientCAs = t.ClientCAs
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// expiryProblem says when the certificate is not valid at now; "" when it is.
func (t *TLSConfig) expiryProblem(now time.Time) string {
	leaf := t.Certificate.Leaf
	switch {
	case leaf == nil:
		return ""
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("tls certificate %s expired on %s: clients that check it refuse the connection", t.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("tls certificate %s is not valid before %s: clients that check it refuse the connection", t.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return ""
}

type tlsHCL struct {
	CertFile     hcl.Expression `hcl:"cert_file"`
	KeyFile      hcl.Expression `hcl:"key_file"`
	ClientCAFile hcl.Expression `hcl:"client_ca_file,optional"`
	MinVersion   hcl.Expression `hcl:"min_version,optional"`
	Body         hcl.Body       `hcl:",remain"`
}

// tlsVersions are the values of min_version.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func decodeTLS(h *tlsHCL, ctx *hcl.EvalContext) (*TLSConfig, hcl.Diagnostics) {
	diags := required(h.CertFile, "cert_file", h.Body).Extend(required(h.KeyFile, "key_file", h.Body))
	if diags.HasErrors() {
		return nil, diags
	}
	str := func(e hcl.Expression) string {
		s, d := hclconf.String(e, ctx, "")
		diags = diags.Extend(d)
		return s
	}
	cert, key, ca, mv := str(h.CertFile), str(h.KeyFile), str(h.ClientCAFile), str(h.MinVersion)
	ranges := map[string]hcl.Range{"cert_file": h.CertFile.Range(), "key_file": h.KeyFile.Range(), "client_ca_file": h.ClientCAFile.Range()}
	for name, v := range map[string]string{"cert_file": cert, "key_file": key} {
		if v == "" && !diags.HasErrors() {
			diags = diags.Extend(hclconf.Error(ranges[name], "Empty "+name, name+" must name a PEM file."))
		}
	}
	version := uint16(tls.VersionTLS12)
	if mv != "" {
		v, ok := tlsVersions[mv]
		if !ok {
			diags = diags.Extend(hclconf.Error(h.MinVersion.Range(), "Invalid min_version",
				fmt.Sprintf("min_version = %q: write \"1.2\" or \"1.3\" (older versions are not offered).", mv)))
		}
		version = max(v, tls.VersionTLS12)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	t, err := LoadTLS(cert, key, ca, version)
	if err != nil {
		var fe *FileError
		rng := h.CertFile.Range()
		if errors.As(err, &fe) {
			rng = ranges[fe.Attr]
		}
		return nil, diags.Extend(hclconf.Error(rng, "Invalid tls file", err.Error()))
	}
	if w := t.expiryProblem(time.Now()); w != "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "TLS certificate not valid now", Detail: w, Subject: h.CertFile.Range().Ptr()})
	}
	return t, diags
}
