package queue

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// exampleSegment is the worked example of the package doc: a segment
// header with first seq 1 and one entry frame.
func exampleSegment() []byte {
	e := &wentry{kind: entryEvent, seq: 1, id: []byte("a"), keyID: []byte("k+01020304"), body: []byte(`{"a":1}`)}
	for i := range e.prev {
		e.prev[i], e.hash[i] = 0x11, 0x22
	}
	for i := range e.digest {
		e.digest[i] = 0x33
	}
	for i := range e.sig {
		e.sig[i] = 0x44
	}
	b := appendSegHeader(nil, 1)
	frame := make([]byte, frameHeaderSize+e.payloadSize())
	putEntryFrame(frame, e)
	return append(b, frame...)
}

func TestDocExample(t *testing.T) {
	want := hex.Dump(exampleSegment())
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var got []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, "BEGIN EXAMPLE") {
			in = true
			continue
		}
		if strings.Contains(line, "END EXAMPLE") {
			break
		}
		if in && strings.HasPrefix(line, "//\t") {
			got = append(got, strings.TrimPrefix(line, "//\t"))
		}
	}
	require.Equal(t, want, strings.Join(got, "\n")+"\n", "regenerate the doc.go example from exampleSegment")
	// And the example reads back.
	b := exampleSegment()
	first, ok := parseSegHeader(b)
	require.True(t, ok)
	require.Equal(t, uint64(1), first)
	typ, p, n, err := parseFrame(b[segHeaderSize:])
	require.NoError(t, err)
	require.Equal(t, byte(frameEntry), typ)
	require.Equal(t, len(b)-segHeaderSize, n)
	var e wentry
	decodeEntry(p, &e)
	require.Equal(t, "a", string(e.id))
	require.True(t, bytes.Equal([]byte(`{"a":1}`), e.body))
}
