package queue

import (
	"fmt"
	"os"
	"path/filepath"
)

// DamageKind says what is wrong with a byte range of a segment.
type DamageKind string

// Kinds of damage.
const (
	// TornTail is an incomplete or invalid run of bytes at the end of a
	// segment with no valid frame after it: what a crash during a write
	// leaves. Open cuts it from the last segment.
	TornTail DamageKind = "torn tail"
	// CorruptFrame is an invalid run of bytes with valid frames after it:
	// bit rot or tampering, never a crash. Open reports it, quarantines a
	// copy and keeps the entries after it, in the last segment too. (In
	// the last segment, invalid bytes followed only by frames of the
	// commits a crash can tear are a TornTail: see the package doc.)
	CorruptFrame DamageKind = "corrupt frame"
	// BadHeader is a segment header that does not check.
	BadHeader DamageKind = "bad header"
	// SkippedFrames are valid frames that do not follow the entries
	// before them (another history, a stale copy): Open skips them.
	SkippedFrames DamageKind = "skipped frames"
	// MissingEntries are entries gone with no damaged bytes in their
	// place: the end of the ledger, when the local checkpoint file or a
	// sink's cursor shows entries beyond the last one read, or the seqs
	// between the end of a segment and the first seq of the next one.
	MissingEntries DamageKind = "missing entries"
)

// Damage is a damaged byte range of a segment.
type Damage struct {
	Segment string // file name, e.g. 00000000000000000000.seg
	Offset  int64
	Bytes   int64
	Kind    DamageKind
}

// String describes the damaged range in one line, for logs and kt verify.
func (d Damage) String() string {
	return fmt.Sprintf("%s: %s at offset %d (%d bytes)", d.Segment, d.Kind, d.Offset, d.Bytes)
}

// scanSegment calls fn for each valid frame of segment data b in order and
// returns the damaged ranges. A damaged range with no valid frame after it
// is a TornTail.
func scanSegment(name string, b []byte, fn func(off int, typ byte, payload []byte) error) ([]Damage, error) {
	var dmg []Damage
	if _, ok := parseSegHeader(b); !ok {
		n := min(len(b), segHeaderSize)
		kind := BadHeader
		if len(b) <= segHeaderSize {
			kind = TornTail
		}
		dmg = append(dmg, Damage{Segment: name, Offset: 0, Bytes: int64(n), Kind: kind})
	}
	off := segHeaderSize
	for off < len(b) {
		typ, payload, n, err := parseFrame(b[off:])
		if err != nil {
			next := resync(b, off)
			if next < 0 {
				dmg = append(dmg, Damage{Segment: name, Offset: int64(off), Bytes: int64(len(b) - off), Kind: TornTail})
				break
			}
			dmg = append(dmg, Damage{Segment: name, Offset: int64(off), Bytes: int64(next - off), Kind: CorruptFrame})
			off = next
			continue
		}
		if err := fn(off, typ, payload); err != nil {
			return dmg, err
		}
		off += n
	}
	return dmg, nil
}

// Scan reads the ledger in dir read-only (it never writes or truncates)
// and calls fn for every valid item in file order: entries and commit
// checkpoints, including ones a running agent has not committed yet. It
// returns every damaged byte range it skipped, classified as Open does: a
// TornTail only at the end of the last segment (where it also holds the
// frames after a hole that a power cut can leave, which Open cuts and fn
// does not see), CorruptFrame or BadHeader elsewhere. An error from fn
// stops the scan and is returned. Scan is for kt verify: it does not check
// hashes, signatures or the chain.
func Scan(dir string, fn func(Item) error) ([]Damage, error) {
	hint := readCheckpointHint(dir)
	segs, err := listSegments(filepath.Join(dir, segmentsDir))
	if err != nil {
		return nil, err
	}
	var all []Damage
	var line []byte
	var e wentry
	for i, s := range segs {
		b, err := os.ReadFile(s.path)
		if err != nil {
			return all, fmt.Errorf("queue: scan %s: %w", s.name, err)
		}
		last := i == len(segs)-1
		var tail []Damage
		if last {
			if t := crashTail(s.name, b, hint); t >= 0 {
				tail = []Damage{{Segment: s.name, Offset: int64(t), Bytes: int64(len(b) - t), Kind: TornTail}}
				b = b[:t]
			}
		}
		dmg, err := scanSegment(s.name, b, func(_ int, typ byte, p []byte) error {
			if isCheckpoint(typ) {
				return fn(Item{Kind: ItemCheckpoint, Checkpoint: decodeCheckpoint(typ, p)})
			}
			decodeEntry(p, &e)
			line = e.appendLine(line[:0])
			return fn(Item{Kind: ItemEntry, Seq: e.seq, Line: line})
		})
		if !last {
			// A segment is complete before the next one is made: invalid
			// bytes at its end are damage.
			for j := range dmg {
				if dmg[j].Kind == TornTail {
					dmg[j].Kind = CorruptFrame
				}
			}
		}
		all = append(all, dmg...)
		all = append(all, tail...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}
