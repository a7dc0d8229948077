package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/keeptrusts/kt/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// Wire format constants. Changing any of them changes the on-disk format
// (see the package doc); bump formatVersion if you must.
const (
	segMagic      = "KTLEDGER" // segment header magic, 8 bytes
	formatVersion = 1          // segment header version
	segHeaderSize = 32         // magic(8) version(4) reserved(4) first_seq(8) crc(4) zero(4)

	frameHeaderSize = 9 // length(4) crc(4) type(1)

	frameEntry         = 1 // frame type: ledger entry
	frameCheckpoint    = 2 // frame type: commit checkpoint (read, no longer written)
	frameCheckpointIDs = 3 // frame type: commit checkpoint with the id keys and digests of its entries

	entryFixedSize   = 157        // entry payload bytes before id, key id and body
	ckptFixedSize    = 8 + 32     // type 2 checkpoint payload bytes before the note
	ckptIDsFixedSize = 8 + 32 + 4 // type 3 checkpoint payload bytes before the id list
	ckptIDSize       = 16 + 16    // one id list item: id key, digest
	sigSize          = 64         // Ed25519 signature
	maxPayload       = 16 << 20   // largest frame payload accepted
	maxIDLen         = 1<<16 - 1  // id and key id are u16-length-prefixed
	segNameDigits    = 20         // <20-digit first seq>.seg
	segSuffix        = ".seg"
	hashSize         = tlog.HashSize
	minEntryFrame    = frameHeaderSize + entryFixedSize
	crcHeaderRange   = 24
)

// Entry kinds, stored in the first payload byte of an entry frame so that
// recovery knows the ledger's own entries without parsing JSON.
const (
	entryEvent      = 0
	entryGenesis    = 1
	entryCheckpoint = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errShort means the bytes end inside a frame; errCorrupt means the bytes
// at this offset are not a valid frame.
var (
	errShort   = errors.New("queue: incomplete frame")
	errCorrupt = errors.New("queue: corrupt frame")
)

// appendSegHeader appends a segment header for a segment whose first entry
// has seq first.
func appendSegHeader(dst []byte, first uint64) []byte {
	var h [segHeaderSize]byte
	copy(h[:], segMagic)
	binary.LittleEndian.PutUint32(h[8:], formatVersion)
	binary.LittleEndian.PutUint64(h[16:], first)
	binary.LittleEndian.PutUint32(h[24:], crc32.Checksum(h[:crcHeaderRange], crcTable))
	return append(dst, h[:]...)
}

// parseSegHeader checks a segment header and returns its first seq.
func parseSegHeader(b []byte) (uint64, bool) {
	if len(b) < segHeaderSize || string(b[:8]) != segMagic ||
		binary.LittleEndian.Uint32(b[8:]) != formatVersion ||
		binary.LittleEndian.Uint32(b[24:]) != crc32.Checksum(b[:crcHeaderRange], crcTable) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[16:]), true
}

// wentry is an entry as the writer and the readers see it.
type wentry struct {
	kind   byte
	seq    uint64
	prev   ledger.Hash
	hash   ledger.Hash
	digest [16]byte
	sig    [sigSize]byte
	id     []byte
	keyID  []byte
	body   []byte
}

func (e *wentry) payloadSize() int { return entryFixedSize + len(e.id) + len(e.keyID) + len(e.body) }

// putEntryFrame writes the frame of e into dst, which must be exactly
// frameHeaderSize+e.payloadSize() bytes long.
func putEntryFrame(dst []byte, e *wentry) {
	p := dst[frameHeaderSize:]
	p[0] = e.kind
	binary.LittleEndian.PutUint64(p[1:], e.seq)
	copy(p[9:41], e.prev[:])
	copy(p[41:73], e.hash[:])
	copy(p[73:89], e.digest[:])
	copy(p[89:153], e.sig[:])
	binary.LittleEndian.PutUint16(p[153:], uint16(len(e.id)))
	binary.LittleEndian.PutUint16(p[155:], uint16(len(e.keyID)))
	n := entryFixedSize
	n += copy(p[n:], e.id)
	n += copy(p[n:], e.keyID)
	copy(p[n:], e.body)
	putFrameHeader(dst, frameEntry, p)
}

func putFrameHeader(dst []byte, typ byte, payload []byte) {
	binary.LittleEndian.PutUint32(dst[0:], uint32(len(payload)))
	dst[8] = typ
	crc := crc32.Update(0, crcTable, dst[8:9])
	crc = crc32.Update(crc, crcTable, payload)
	binary.LittleEndian.PutUint32(dst[4:], crc)
}

// appendCheckpointFrame appends a type 2 checkpoint frame for c. The
// writer no longer writes them; tests do, to check they are still read.
func appendCheckpointFrame(dst []byte, c *ledger.Checkpoint) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize+ckptFixedSize)...)
	dst = append(dst, c.Note...)
	p := dst[start+frameHeaderSize:]
	binary.LittleEndian.PutUint64(p, uint64(c.Size))
	copy(p[8:40], c.Root[:])
	putFrameHeader(dst[start:], frameCheckpoint, p)
	return dst
}

// appendCommitFrame appends the type 3 checkpoint frame of a commit: c,
// then the id key and digest of each entry of the commit, in seq order
// (keys[i] is the id key of ents[i]; the last entry has seq c.Size-1).
func appendCommitFrame(dst []byte, c *ledger.Checkpoint, keys []idKey, ents []wentry) []byte {
	start := len(dst)
	n := ckptIDsFixedSize + ckptIDSize*len(ents)
	dst = append(dst, make([]byte, frameHeaderSize+n)...)
	dst = append(dst, c.Note...)
	p := dst[start+frameHeaderSize:]
	binary.LittleEndian.PutUint64(p, uint64(c.Size))
	copy(p[8:40], c.Root[:])
	binary.LittleEndian.PutUint32(p[40:], uint32(len(ents)))
	q := p[ckptIDsFixedSize:]
	for i := range ents {
		copy(q[:16], keys[i][:])
		copy(q[16:32], ents[i].digest[:])
		q = q[ckptIDSize:]
	}
	putFrameHeader(dst[start:], frameCheckpointIDs, p)
	return dst
}

// isCheckpoint reports whether a frame type is a commit checkpoint.
func isCheckpoint(typ byte) bool { return typ == frameCheckpoint || typ == frameCheckpointIDs }

// commitIDs returns, for a checkpoint payload that parseFrame accepted,
// the seq of the first entry of its commit and the commit's id list
// (ckptIDSize bytes per entry); a type 2 payload has none.
func commitIDs(typ byte, p []byte) (first uint64, list []byte) {
	if typ != frameCheckpointIDs {
		return 0, nil
	}
	size := binary.LittleEndian.Uint64(p)
	n := binary.LittleEndian.Uint32(p[40:])
	return size - uint64(n), p[ckptIDsFixedSize : ckptIDsFixedSize+int(n)*ckptIDSize]
}

// parseFrame reads the frame at the start of b. It returns errShort when b
// ends before the frame does (and the header is plausible), errCorrupt when
// the bytes are not a valid frame.
func parseFrame(b []byte) (typ byte, payload []byte, n int, err error) {
	if len(b) < frameHeaderSize {
		return 0, nil, 0, errShort
	}
	length := binary.LittleEndian.Uint32(b)
	typ = b[8]
	switch typ {
	case frameEntry:
		if length < entryFixedSize {
			return 0, nil, 0, errCorrupt
		}
	case frameCheckpoint:
		if length < ckptFixedSize {
			return 0, nil, 0, errCorrupt
		}
	case frameCheckpointIDs:
		if length < ckptIDsFixedSize {
			return 0, nil, 0, errCorrupt
		}
	default:
		return 0, nil, 0, errCorrupt
	}
	if length > maxPayload {
		return 0, nil, 0, errCorrupt
	}
	n = frameHeaderSize + int(length)
	if len(b) < n {
		return 0, nil, 0, errShort
	}
	payload = b[frameHeaderSize:n]
	crc := crc32.Update(0, crcTable, b[8:9])
	crc = crc32.Update(crc, crcTable, payload)
	if crc != binary.LittleEndian.Uint32(b[4:]) {
		return 0, nil, 0, errCorrupt
	}
	if typ == frameEntry {
		idLen := int(binary.LittleEndian.Uint16(payload[153:]))
		keyLen := int(binary.LittleEndian.Uint16(payload[155:]))
		if payload[0] > entryCheckpoint || entryFixedSize+idLen+keyLen > len(payload) {
			return 0, nil, 0, errCorrupt
		}
	}
	if typ == frameCheckpointIDs {
		ids := uint64(binary.LittleEndian.Uint32(payload[40:]))
		if ids*ckptIDSize > uint64(len(payload)-ckptIDsFixedSize) || ids > binary.LittleEndian.Uint64(payload) {
			return 0, nil, 0, errCorrupt
		}
	}
	return typ, payload, n, nil
}

// decodeEntry fills e from an entry payload that parseFrame accepted. The
// slices of e alias payload.
func decodeEntry(p []byte, e *wentry) {
	e.kind = p[0]
	e.seq = binary.LittleEndian.Uint64(p[1:])
	copy(e.prev[:], p[9:41])
	copy(e.hash[:], p[41:73])
	copy(e.digest[:], p[73:89])
	copy(e.sig[:], p[89:153])
	idLen := int(binary.LittleEndian.Uint16(p[153:]))
	keyLen := int(binary.LittleEndian.Uint16(p[155:]))
	n := entryFixedSize
	e.id = p[n : n+idLen]
	n += idLen
	e.keyID = p[n : n+keyLen]
	n += keyLen
	e.body = p[n:]
}

// decodeCheckpoint returns the checkpoint of a checkpoint payload of type
// typ that parseFrame accepted.
func decodeCheckpoint(typ byte, p []byte) *ledger.Checkpoint {
	c := &ledger.Checkpoint{Size: int64(binary.LittleEndian.Uint64(p))}
	copy(c.Root[:], p[8:40])
	note := p[ckptFixedSize:]
	if typ == frameCheckpointIDs {
		note = p[ckptIDsFixedSize+int(binary.LittleEndian.Uint32(p[40:]))*ckptIDSize:]
	}
	c.Note = bytes.Clone(note)
	if i := bytes.IndexByte(c.Note, '\n'); i >= 0 {
		c.Origin = string(c.Note[:i])
	}
	return c
}

// appendLine appends the NDJSON wire line of e.
func (e *wentry) appendLine(dst []byte) []byte {
	le := ledger.Entry{Seq: e.seq, PrevHash: e.prev, Hash: e.hash, Sig: e.sig[:], KeyID: string(e.keyID), Body: e.body}
	return le.AppendLine(dst)
}

// resync returns the offset of the first valid frame in b after offset
// from, or -1 if there is none.
func resync(b []byte, from int) int {
	for i := from + 1; i+frameHeaderSize <= len(b); i++ {
		if _, _, _, err := parseFrame(b[i:]); err == nil {
			return i
		}
	}
	return -1
}
