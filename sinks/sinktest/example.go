package sinktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/sinks"
)

// Every sink's package doc shows what the sink sends for entry 1 of the
// ledger package's worked example (ledger/testdata/worked_example.json);
// its TestWorkedExample checks the doc against the code.

// WorkedExample returns entry 1 of the ledger's worked example as a
// record (id "ev-1", time 2025-03-01T12:00:01Z) and the example's
// verifier key. A sink package's test runs from its folder, two levels
// below the repository root.
func WorkedExample(t *testing.T) (sinks.Record, string) {
	t.Helper()
	var ex struct {
		VerifierKey string `json:"verifier_key"`
		Line        string `json:"line"`
	}
	raw, err := os.ReadFile("../../ledger/testdata/worked_example.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ex))
	return sinks.Record{Kind: sinks.KindEntry, Seq: 1, ID: "ev-1", Line: []byte(ex.Line)}, ex.VerifierKey
}

// DocExample returns the worked example written in the package doc of the
// Go file src: the JSON values indented under the comment line that starts
// "// Worked example", each compacted, one a line, as they go on the wire.
func DocExample(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	var doc bytes.Buffer
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "// Worked example"):
			in = true
		case in && strings.HasPrefix(line, "//\t"):
			doc.WriteString(strings.TrimPrefix(line, "//\t"))
		case in && line == "//":
			if doc.Len() > 0 {
				doc.WriteString("\n")
			}
		case in && doc.Len() > 0:
			in = false
		}
	}
	require.NotZero(t, doc.Len(), "no worked example in %s", src)
	var want bytes.Buffer
	dec := json.NewDecoder(&doc)
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NoError(t, json.Compact(&want, v))
		want.WriteString("\n")
	}
	return want.String()
}

// CheckSigned checks that line is a ledger entry whose hash is its own and
// whose signature verifies with verifierKey: what a receiver holds is the
// entry verbatim.
func CheckSigned(t *testing.T, line []byte, verifierKey string) {
	t.Helper()
	e, err := ledger.ParseLine(line)
	require.NoError(t, err)
	v, err := ledger.NewVerifier(verifierKey)
	require.NoError(t, err)
	assert.Equal(t, e.Hash, e.ComputeHash())
	assert.True(t, v.VerifyHash(e.Hash, e.Sig))
}
