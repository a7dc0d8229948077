package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxUnsyncedCommits is the most commits that can be written to a segment
// and not yet fdatasync'd at any moment: the one the syncer syncs, the one
// queued for it (syncq holds one) and the one the writer has written and
// waits to hand off. Only these can be torn by a power cut.
const maxUnsyncedCommits = 3

// ckptHint is the local checkpoint file as read, unchecked: a convenience
// that a power cut can leave empty or torn, and that is never newer than
// what the segments hold durably (it is written after the fdatasync).
type ckptHint struct {
	origin string
	size   int64
	note   []byte
}

func readCheckpointHint(dir string) ckptHint {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return ckptHint{}
	}
	lines := bytes.SplitN(b, []byte("\n"), 3)
	if len(lines) < 3 {
		return ckptHint{}
	}
	n, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || n < 0 {
		return ckptHint{}
	}
	return ckptHint{origin: string(lines[0]), size: n, note: b}
}

// crashTail returns the offset in b, the last segment, from which every
// byte may be what a power cut left, or -1. A power cut can tear only the
// commits not yet fdatasync'd (at most maxUnsyncedCommits), and can keep a
// later page of them without an earlier one: zeros or stale bytes, then
// valid frames. So the tail starts at the first damaged range that at most
// maxUnsyncedCommits commit checkpoint frames follow — unless the valid
// frames before it are of a smaller tree than the local checkpoint file
// names (when it names the origin of the segment's checkpoints): that
// file is written only after the fdatasync, so the frames after the
// damage were durable, and the damage is no crash.
func crashTail(name string, b []byte, hint ckptHint) int {
	type frame struct {
		off  int
		size int64 // entries: seq+1; checkpoints: tree size
		ckpt bool
	}
	var frames []frame
	origin := ""
	dmg, _ := scanSegment(name, b, func(off int, typ byte, p []byte) error {
		f := frame{off: off, ckpt: isCheckpoint(typ)}
		if f.ckpt {
			f.size = int64(binary.LittleEndian.Uint64(p))
			if origin == "" {
				origin = noteOrigin(p, typ)
			}
		} else {
			f.size = int64(binary.LittleEndian.Uint64(p[1:])) + 1
		}
		frames = append(frames, f)
		return nil
	})
	want := hint.size
	if hint.origin != origin && origin != "" {
		want = 0 // another ledger's file
	}
	// after[i]: checkpoint frames at frames[i:].
	after := make([]int, len(frames)+1)
	for i := len(frames) - 1; i >= 0; i-- {
		after[i] = after[i+1]
		if frames[i].ckpt {
			after[i]++
		}
	}
	i := 0
	// before is the largest tree size known before the damage: at least
	// the segment's first seq, since the entries below it are in earlier
	// segments, and a segment is rolled only once every commit before it
	// is durable (the first commit into a new segment can be torn too).
	var before int64
	if first, ok := parseSegHeader(b); ok {
		before = int64(first)
	} else if first, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64); err == nil {
		before = int64(first)
	}
	for _, d := range dmg {
		if d.Kind == BadHeader {
			continue
		}
		for i < len(frames) && int64(frames[i].off) < d.Offset {
			before = max(before, frames[i].size)
			i++
		}
		if after[i] <= maxUnsyncedCommits && before >= want {
			return int(d.Offset)
		}
	}
	return -1
}

// noteOrigin returns the first line of the note of a checkpoint payload.
func noteOrigin(p []byte, typ byte) string {
	note := decodeCheckpoint(typ, p).Note
	if i := bytes.IndexByte(note, '\n'); i >= 0 {
		return string(note[:i])
	}
	return ""
}

// lastSeg is what scanAll found in the last segment, which finishLast
// cuts and opens for writing once recover has checked that nothing shows a
// larger ledger than the one read (so that nothing is cut in vain).
type lastSeg struct {
	seg        segFile
	size       int  // bytes
	headerOK   bool // the header checks
	keptEnd    int  // end of the last frame Open keeps
	validEnd   int  // end of the last valid frame, kept or not
	damaged    int  // damaged ranges before keptEnd
	torn       int  // start of the torn tail crashTail found, or -1
	tornFrames bool // valid frames after it
}

func headerOK(b []byte) bool { _, ok := parseSegHeader(b); return ok }

// finishLast cuts the torn tail of the last segment (and whatever follows
// the last frame Open keeps) and opens it for writing; with no segment it
// creates the first one.
func (l *Ledger) finishLast(rc *recovery) error {
	t := l.last
	if t == nil {
		f, path, err := createSegment(l.segDir, 0)
		if err != nil {
			return err
		}
		l.useSegment(f, 0, path, segHeaderSize)
		return nil
	}
	s := t.seg
	if t.tornFrames {
		l.log.Warn("queue: torn tail holds frames of commits that were never acknowledged (a power cut kept a later page of them without an earlier one); cut",
			"segment", s.name, "offset", t.torn, "bytes", t.size-t.torn)
	}
	// Cut what follows the last kept frame (the checkpoint frames skipped
	// there go with it). If valid frames are cut too, this is no crash:
	// keep a copy.
	if t.validEnd > t.keptEnd && t.damaged == 0 {
		l.log.Error("queue: valid frames after the last kept one", "segment", s.name, "offset", t.keptEnd, "bytes", t.validEnd-t.keptEnd)
		l.quarantine(s, rc)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("queue: open segment %s: %w", s.name, err)
	}
	size := t.size
	if !t.headerOK && t.keptEnd == segHeaderSize {
		// No valid frame: a torn new segment. Start it again.
		f.Close()
		first := l.next
		if s.first != first {
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("queue: remove torn segment: %w", err)
			}
		}
		var path string
		if f, path, err = createSegment(l.segDir, first); err != nil {
			return err
		}
		l.log.Warn("queue: torn segment header rewritten", "segment", s.name, "bytes", t.size)
		l.unreject(s.path, 0)
		s = segFile{name: segName(first), first: first, path: path}
		size = 0
	}
	if cut := size - t.keptEnd; size > 0 && cut > 0 {
		l.unreject(s.path, int64(t.keptEnd)) // new frames go there
		if err := f.Truncate(int64(t.keptEnd)); err != nil {
			f.Close()
			return fmt.Errorf("queue: cut torn tail of %s: %w", s.name, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("queue: cut torn tail of %s: %w", s.name, err)
		}
		l.log.Warn("queue: cut torn tail", "segment", s.name, "offset", t.keptEnd, "bytes", cut)
		l.mu.Lock()
		l.stats.TornBytes += int64(cut)
		l.mu.Unlock()
	}
	l.useSegment(f, s.first, s.path, int64(t.keptEnd))
	return nil
}

// hasValidFrame reports whether b holds a valid frame anywhere.
func hasValidFrame(b []byte) bool {
	if _, _, _, err := parseFrame(b); err == nil {
		return true
	}
	return resync(b, 0) >= 0
}
