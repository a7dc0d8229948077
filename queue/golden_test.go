package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/keeptrusts/kt/ledger"
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

// docBlock returns the indented lines of doc.go between "BEGIN <name>"
// and "END <name>".
func docBlock(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var got []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, "BEGIN "+name) {
			in = true
			continue
		}
		if strings.Contains(line, "END "+name) {
			break
		}
		if in && strings.HasPrefix(line, "//\t") {
			got = append(got, strings.TrimPrefix(line, "//\t"))
		}
	}
	require.NotEmpty(t, got, name)
	return strings.Join(got, "\n") + "\n"
}

func TestDocExample(t *testing.T) {
	require.Equal(t, hex.Dump(exampleSegment()), docBlock(t, "EXAMPLE"), "regenerate the doc.go example from exampleSegment")
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

// exampleCommitFrame is the package doc's example of a type 3 commit
// checkpoint frame.
func exampleCommitFrame() []byte {
	c := &ledger.Checkpoint{Size: 3, Note: []byte("note")}
	for i := range c.Root {
		c.Root[i] = 0x55
	}
	ents := []wentry{{id: []byte("a")}, {id: []byte("b")}}
	for i := range ents[0].digest {
		ents[0].digest[i], ents[1].digest[i] = 0x33, 0x44
	}
	keys := []idKey{keyOfString("a"), keyOfString("b")}
	return appendCommitFrame(nil, c, keys, ents)
}

func TestDocCommitExample(t *testing.T) {
	b := exampleCommitFrame()
	require.Equal(t, hex.Dump(b), docBlock(t, "COMMIT EXAMPLE"), "regenerate the doc.go example from exampleCommitFrame")
	typ, p, n, err := parseFrame(b)
	require.NoError(t, err)
	require.Equal(t, byte(frameCheckpointIDs), typ)
	require.Equal(t, len(b), n)
	c := decodeCheckpoint(typ, p)
	require.Equal(t, int64(3), c.Size)
	require.Equal(t, "note", string(c.Note))
	first, list := commitIDs(typ, p)
	require.Equal(t, uint64(1), first)
	ka, kb := keyOfString("a"), keyOfString("b")
	require.Equal(t, append(append(append(ka[:], bytes.Repeat([]byte{0x33}, 16)...), kb[:]...), bytes.Repeat([]byte{0x44}, 16)...), list)
	// A list longer than the payload, or than the tree, is corrupt.
	for _, n := range []uint32{3, 4, 1 << 30} {
		bad := bytes.Clone(b)
		binary.LittleEndian.PutUint32(bad[frameHeaderSize+40:], n)
		putFrameHeader(bad, frameCheckpointIDs, bad[frameHeaderSize:])
		_, _, _, err := parseFrame(bad)
		require.ErrorIs(t, err, errCorrupt, "n=%d", n)
	}
}
