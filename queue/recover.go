package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/ledger"
)

// ErrLost is returned (wrapped) by Open when the ledger held entries that
// are gone — the local checkpoint file, a sink's cursor or the segments
// themselves show that entries existed, but no entry can be read — so Open
// refuses to start a new ledger in its place. See the package doc,
// "Evidence of a ledger".
var ErrLost = errors.New("queue: the ledger's entries are gone")

// recovery is what one scan of the segments at Open found besides the
// entries: damage, the seqs lost in it and their ids, and what shows how
// large the ledger was.
type recovery struct {
	hint     ckptHint                // the local checkpoint file, unchecked
	found    []*damageFound          // in file order
	byID     map[string]*damageFound // the same, by id
	cur      *damageFound            // damage since the last accepted entry: lost seqs are charged to it
	owner    map[uint64]*damageFound // lost seqs whose id is not known yet
	salvaged map[uint64]salvaged     // ids read from the headers of damaged entry frames, by seq
	firstGap int64                   // the first seq lost, -1 if none
	sawLater bool                    // a valid frame of an entry with seq >= 1 or a checkpoint of size >= 2
	origin   string                  // origin of the checkpoint frames read
	skipRun  *damageFound            // the run of skipped frames being extended
	skipEnd  int64                   // end of its last frame
}

// damageFound is a damage record being built by a scan.
type damageFound struct {
	rec DamageRecord
}

type salvaged struct {
	key    idKey
	digest [16]byte
}

func newRecovery(dir string) *recovery {
	return &recovery{hint: readCheckpointHint(dir), byID: map[string]*damageFound{},
		owner: map[uint64]*damageFound{}, salvaged: map[uint64]salvaged{}, firstGap: -1}
}

// damage returns the record of the damage at off in segment s, making it.
func (rc *recovery) damage(s segFile, off, n int64, kind DamageKind) *damageFound {
	id := damageID(s.first, off)
	if d := rc.byID[id]; d != nil {
		return d
	}
	d := &damageFound{rec: DamageRecord{ID: id, Segment: s.name, Offset: off, Bytes: n, Kind: kind}}
	rc.found = append(rc.found, d)
	rc.byID[id] = d
	return d
}

// damaged notes the damaged bytes b at off in segment s: they may hold
// lost entries, charged to this damage.
func (rc *recovery) damaged(s segFile, off int, b []byte, kind DamageKind) {
	rc.cur = rc.damage(s, int64(off), int64(len(b)), kind)
	salvageIDs(b, rc.salvaged)
}

// skipped notes a valid frame at off that Open does not keep; adjacent
// ones make one record.
func (rc *recovery) skipped(s segFile, off, n int) {
	if d := rc.skipRun; d != nil && d.rec.Segment == s.name && rc.skipEnd == int64(off) {
		d.rec.Bytes += int64(n)
		rc.skipEnd += int64(n)
		return
	}
	rc.skipRun = rc.damage(s, int64(off), int64(n), SkippedFrames)
	rc.skipEnd = int64(off + n)
}

// lose charges the lost seq to the current damage.
func (rc *recovery) lose(seq uint64) {
	if rc.firstGap < 0 {
		rc.firstGap = int64(seq)
	}
	d := rc.cur
	if d == nil {
		return
	}
	if d.rec.Lost == 0 {
		d.rec.LostFirst = seq
	}
	d.rec.Lost++
	d.rec.LostLast = seq
	rc.owner[seq] = d
}

// salvageIDs reads the id key and digest of each entry frame at the start
// of the damaged bytes b whose header and id still read, as far as the
// frame lengths lead. They are not checked (the CRC failed): a damaged id
// reserves a wrong id and leaves the real one unknown.
func salvageIDs(b []byte, into map[uint64]salvaged) {
	for len(b) >= frameHeaderSize {
		length := int(binary.LittleEndian.Uint32(b))
		if length > maxPayload || frameHeaderSize+length > len(b) {
			return
		}
		p := b[frameHeaderSize : frameHeaderSize+length]
		switch b[8] {
		case frameEntry:
			if length < entryFixedSize {
				return
			}
			idLen := int(binary.LittleEndian.Uint16(p[153:]))
			if idLen == 0 || entryFixedSize+idLen > len(p) {
				return
			}
			seq := binary.LittleEndian.Uint64(p[1:])
			if _, dup := into[seq]; !dup {
				s := salvaged{key: keyOf(p[entryFixedSize : entryFixedSize+idLen])}
				copy(s.digest[:], p[73:89])
				into[seq] = s
			}
		case frameCheckpoint, frameCheckpointIDs:
		default:
			return
		}
		b = b[frameHeaderSize+length:]
	}
}

// recover scans the segments, rebuilds the writer state and the hash
// store, and merges the damage found into the damage register.
func (l *Ledger) recover() error {
	segs, err := listSegments(l.segDir)
	if err != nil {
		return err
	}
	rc := newRecovery(l.opts.Dir)
	if err := l.scanAll(segs, rc); err != nil {
		return err
	}
	if l.origin == "" {
		l.origin = rc.origin // the genesis entry is lost
	}
	size, why := l.provenSize(rc)
	missingTail := l.next > 0 && uint64(size) > l.next
	switch {
	case l.next == 0 && size > 0:
		return fmt.Errorf("%w: %s shows %d entries, but %s holds none; restore the ledger from a backup, or, to start a new ledger on purpose, move %s and the sink cursors away",
			ErrLost, why, size, l.segDir, l.opts.Dir)
	case l.next == 0 && rc.sawLater:
		return fmt.Errorf("%w: %s holds entries but not the start of the ledger; restore the missing segments from a backup, or, to start a new ledger on purpose, move %s and the sink cursors away",
			ErrLost, l.segDir, l.opts.Dir)
	case missingTail:
		// Entries that were durable are gone from the end. Their seqs
		// were given out (and shipped): they are never given again.
		l.log.Error("queue: entries missing at the end of the ledger", "from", l.next, "to", size-1, "evidence", why)
		rc.cur = rc.damage(l.last.seg, int64(l.last.keptEnd), 0, MissingEntries)
		if err := l.fillLost(rc, uint64(size)); err != nil {
			return err
		}
		l.skippedTo = max(l.skippedTo, size) // a checkpoint of this size was signed over the real entries
	}
	if err := l.finishLast(rc); err != nil {
		return err
	}
	if missingTail && l.segFirst < l.next {
		// The next Open must see the seqs filled here as gone: new
		// entries go to a segment that starts after them.
		if err := l.roll(); err != nil {
			return fmt.Errorf("queue: after missing entries: %w", err)
		}
	}
	l.resolveSalvaged(rc)
	rewritten, firstBad, extra, err := l.tree.finishRecovery()
	if err != nil {
		return err
	}
	if rewritten > 0 || extra > 0 {
		l.log.Warn("queue: hash store did not match the entries; rewritten from them",
			"hashes_rewritten", rewritten, "first_index", firstBad, "hashes_cut", extra)
	}
	if cp := l.latestW; cp != nil {
		v, verr := ledger.NewVerifier(l.opts.Signer.VerifierKey())
		if verr == nil {
			if _, err := ledger.OpenCheckpoint(cp.Note, ledger.Keyring{v.KeyID(): v}); err != nil {
				l.log.Error("queue: latest checkpoint is not signed by this key; a new one will be signed", "err", err)
				l.latestW = nil
			}
		}
	}
	if err := l.mergeDamage(rc); err != nil {
		return err
	}
	removeStaleTemps(l.opts.Dir, l.log)
	l.mu.Lock()
	l.size = l.next
	l.latest = l.latestW
	l.mu.Unlock()
	return nil
}

// provenSize returns the largest ledger size that something other than
// the segments shows was durable, and what shows it: the local checkpoint
// file, when signed by this ledger's key for its origin, or a sink cursor
// in Options.CursorDir.
func (l *Ledger) provenSize(rc *recovery) (int64, string) {
	var size int64
	why := ""
	if rc.hint.size > 0 {
		if v, err := ledger.NewVerifier(l.opts.Signer.VerifierKey()); err == nil {
			cp, err := ledger.OpenCheckpoint(rc.hint.note, ledger.Keyring{v.KeyID(): v})
			if err == nil && (l.origin == "" || cp.Origin == l.origin || cp.Origin == l.opts.Origin) {
				size, why = cp.Size, filepath.Join(l.opts.Dir, checkpointFile)
			}
		}
	}
	if l.opts.CursorDir != "" {
		if name, next := maxCursor(l.opts.CursorDir); int64(next) > size {
			size, why = int64(next), "the cursor "+filepath.Join(l.opts.CursorDir, name)
		}
	}
	return size, why
}

// fillLost gives the seqs from l.next up to to, lost, placeholder leaves.
func (l *Ledger) fillLost(rc *recovery, to uint64) error {
	for ; l.next < to; l.next++ {
		if err := l.tree.appendLeafHash(placeholderLeaf); err != nil {
			return err
		}
		rc.lose(l.next)
	}
	return l.flushIfBig()
}

func (l *Ledger) flushIfBig() error {
	if l.tree.unflushed() >= recoveryFlush {
		return l.tree.flush()
	}
	return nil
}

// resolveIDs reserves the ids of lost entries that a commit checkpoint's
// id list names (first is the seq of its first item).
func (l *Ledger) resolveIDs(rc *recovery, first uint64, list []byte) {
	for i := 0; i+ckptIDSize <= len(list); i += ckptIDSize {
		seq := first + uint64(i/ckptIDSize)
		d, ok := rc.owner[seq]
		if !ok {
			continue
		}
		var r idRec
		var k idKey
		copy(k[:], list[i:i+16])
		copy(r.digest[:], list[i+16:i+32])
		r.seq = seq
		l.reserve(k, r)
		d.rec.IDsKnown++
		delete(rc.owner, seq)
	}
}

// resolveSalvaged reserves the ids salvaged from damaged entry frames for
// the lost seqs no commit checkpoint named, and counts the rest unknown.
func (l *Ledger) resolveSalvaged(rc *recovery) {
	for seq, d := range rc.owner {
		if s, ok := rc.salvaged[seq]; ok {
			l.reserve(s.key, idRec{seq: seq, digest: s.digest})
			d.rec.IDsKnown++
			continue
		}
		d.rec.IDsUnknown++
	}
	clear(rc.owner)
}

// reserve keeps the id key k of a lost entry from being used again with
// other content.
func (l *Ledger) reserve(k idKey, r idRec) {
	if _, ok := l.index[k]; ok {
		return
	}
	if l.reserved == nil {
		l.reserved = map[idKey]idRec{}
	}
	l.reserved[k] = r
}

// placeholderLeaf is the stored leaf of an entry lost in damaged frames:
// the leaf of the zero entry hash.
var placeholderLeaf = ledger.LeafHash(ledger.Hash{})

// scanAll reads every segment, rebuilding the tip, the id index and the
// whole hash store (every leaf, and so every stored hash, is recomputed
// from the entries read); it quarantines damaged segments and notes in
// l.last what finishLast cuts from the last one. It writes no segment.
//
// Damage is handled the same in every segment, the last one included:
// entries lost in a damaged range get placeholder leaves (leaf index = seq)
// and the scan goes on at the next valid frame, so the writer continues
// after the last valid entry and never reuses a seq that was written.
// Checkpoint frames are checked against the tree of the entries read so
// far, never against the hash store file.
func (l *Ledger) scanAll(segs []segFile, rc *recovery) error {
	var e wentry
	var lost int64        // damaged bytes since the last accepted entry: they may hold lost entries
	tipLost := false      // the entry before l.next is lost: the next one cannot be chain-checked
	var skippedHere int64 // largest size of the skipped checkpoint frames after the last kept frame
	// canBeLost tells whether the damaged bytes since the last accepted
	// entry could hold missing entries.
	canBeLost := func(missing uint64) bool {
		return lost > 0 && missing <= uint64(lost/minEntryFrame)+1
	}
	var prev segFile // the segment before s
	var prevEnd int
	for si, s := range segs {
		last := si == len(segs)-1
		full, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("queue: read segment %s: %w", s.name, err)
		}
		if si > 0 && l.next > 0 && s.first > l.next && lost == 0 {
			// A segment starts at the seq after the last commit before it
			// (it is made once that is durable): the seqs in between are
			// gone, with no damaged bytes to show for them. Their tree was
			// signed over the real entries.
			l.log.Error("queue: entries missing between two segments", "segment", s.name, "from", l.next, "to", s.first-1)
			rc.cur = rc.damage(prev, int64(prevEnd), 0, MissingEntries)
			if err := l.fillLost(rc, s.first); err != nil {
				return err
			}
			l.skippedTo = max(l.skippedTo, int64(s.first))
			tipLost = true
		}
		prev, prevEnd = s, len(full)
		b := full
		torn := -1
		if last {
			if torn = crashTail(s.name, full, rc.hint); torn >= 0 {
				b = full[:torn]
			}
		}
		keptEnd := segHeaderSize  // end of the last frame Open keeps
		validEnd := segHeaderSize // end of the last valid frame, accepted or not
		kept := func(off int, p []byte) {
			keptEnd = off + frameHeaderSize + len(p)
			// Skipped frames before it stay on disk.
			l.skippedTo = max(l.skippedTo, skippedHere)
			skippedHere = 0
		}
		reject := func(off int, p []byte) {
			l.reject(s.path, off)
			rc.skipped(s, off, frameHeaderSize+len(p))
		}
		skip := func(off int, p []byte, cp *ledger.Checkpoint, msg string) {
			reject(off, p)
			skippedHere = max(skippedHere, cp.Size)
			l.log.Error(msg, "segment", s.name, "offset", off, "size", cp.Size)
		}
		dmg, err := scanSegment(s.name, b, func(off int, typ byte, p []byte) error {
			// scanSegment skips only damaged bytes between valid frames.
			if off > validEnd {
				lost += int64(off - validEnd)
				rc.damaged(s, validEnd, b[validEnd:off], CorruptFrame)
			}
			validEnd = off + frameHeaderSize + len(p)
			if isCheckpoint(typ) {
				cp := decodeCheckpoint(typ, p)
				if cp.Size >= 2 {
					rc.sawLater = true
				}
				if rc.origin == "" {
					rc.origin = cp.Origin
				}
				keep := false // on disk, though skipped by the readers
				if cp.Size >= 1 && uint64(cp.Size) > l.next && canBeLost(uint64(cp.Size)-l.next) {
					// The entries before this commit checkpoint were
					// written: those not read are lost in the damage.
					// The frame stays on disk, the evidence of the gap.
					l.log.Error("queue: entries lost in damaged frames", "segment", s.name, "from", l.next, "to", cp.Size-1)
					if err := l.fillLost(rc, uint64(cp.Size)); err != nil {
						return err
					}
					tipLost, lost, keep = true, 0, true
				}
				ok := true
				switch {
				case cp.Size < 1 || uint64(cp.Size) > l.next:
					skip(off, p, cp, "queue: checkpoint frame beyond the entries; skipped")
					ok = false
				default:
					if root, err := l.tree.root(cp.Size); err != nil || root != cp.Root {
						ok = false
						if rc.firstGap >= 0 && cp.Size > rc.firstGap {
							// Signed over an entry that is lost now: its
							// root covers the real leaf, not the
							// placeholder. It was shipped: keep it.
							l.reject(s.path, off)
							skippedHere = max(skippedHere, cp.Size)
							keep = true
						} else {
							skip(off, p, cp, "queue: checkpoint frame does not match the entries; skipped")
						}
					}
				}
				if ok {
					l.latestW = cp
				}
				if ok || keep {
					first, list := commitIDs(typ, p)
					l.resolveIDs(rc, first, list)
					kept(off, p)
				}
				return nil
			}
			decodeEntry(p, &e)
			if e.seq >= 1 {
				rc.sawLater = true
			}
			if e.seq < l.next {
				reject(off, p)
				l.log.Error("queue: entry out of order; skipped", "segment", s.name, "offset", off, "seq", e.seq, "want", l.next)
				return nil
			}
			if e.seq > l.next {
				if !canBeLost(e.seq - l.next) {
					reject(off, p)
					l.log.Error("queue: entry out of order; skipped", "segment", s.name, "offset", off, "seq", e.seq, "want", l.next)
					return nil
				}
				l.log.Error("queue: entries lost in damaged frames", "segment", s.name, "from", l.next, "to", e.seq-1)
				if err := l.fillLost(rc, e.seq); err != nil {
					return err
				}
				tipLost = true
			}
			if e.prev != l.tip && !tipLost {
				// Not the successor of the tip: a frame of another
				// ledger or of another history. Never a crash. (The
				// first entry after a gap cannot be checked: kt verify
				// reports the gap.)
				reject(off, p)
				l.log.Error("queue: chain break; entry skipped", "segment", s.name, "offset", off, "seq", e.seq)
				return nil
			}
			if err := l.tree.appendLeaf(e.hash); err != nil {
				return err
			}
			if err := l.flushIfBig(); err != nil {
				return err
			}
			l.index[keyOf(e.id)] = idRec{seq: e.seq, digest: e.digest}
			switch e.kind {
			case entryCheckpoint:
				l.ckptEntryTo = e.seq + 1
			case entryGenesis:
				l.readGenesis(e.body)
			}
			l.next = e.seq + 1
			l.tip = e.hash
			tipLost, lost = false, 0
			rc.cur = nil
			kept(off, p)
			return nil
		})
		if err != nil {
			return err
		}
		damaged := 0
		for _, d := range dmg {
			if last && d.Kind == TornTail {
				continue
			}
			if last && d.Offset >= int64(keptEnd) {
				continue // cut below
			}
			damaged++
			l.log.Error("queue: damaged segment", "damage", d.String())
			if d.Kind == BadHeader {
				rc.damage(s, 0, d.Bytes, BadHeader)
			}
		}
		if !last && len(b) > validEnd {
			// Invalid bytes at the end of a segment may hold lost entries.
			lost += int64(len(b) - validEnd)
			rc.damaged(s, validEnd, b[validEnd:], CorruptFrame)
		}
		if damaged > 0 {
			l.quarantine(s, rc)
			l.mu.Lock()
			l.stats.Damaged += damaged
			l.mu.Unlock()
		}
		if !last {
			l.skippedTo = max(l.skippedTo, skippedHere)
			skippedHere = 0
			l.mu.Lock()
			l.segs = append(l.segs, segInfo{first: s.first, path: s.path, end: int64(len(b))})
			l.mu.Unlock()
			continue
		}
		l.last = &lastSeg{seg: s, size: len(full), headerOK: headerOK(full), keptEnd: keptEnd, validEnd: validEnd, damaged: damaged, torn: torn,
			tornFrames: torn >= 0 && hasValidFrame(full[torn:])}
	}
	return nil
}

func (l *Ledger) reject(path string, off int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rejected == nil {
		l.rejected = map[string]map[int64]bool{}
	}
	if l.rejected[path] == nil {
		l.rejected[path] = map[int64]bool{}
	}
	l.rejected[path][int64(off)] = true
}

// unreject forgets the rejected frames of path at offsets from off on.
func (l *Ledger) unreject(path string, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for o := range l.rejected[path] {
		if o >= off {
			delete(l.rejected[path], o)
		}
	}
}

func (l *Ledger) isRejected(path string, off int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rejected[path][off]
}

func (l *Ledger) readGenesis(body []byte) {
	var g struct {
		Attributes struct {
			LedgerID string `json:"ledger_id"`
			Origin   string `json:"origin"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(body, &g); err != nil {
		l.log.Error("queue: genesis entry unreadable", "err", err)
		return
	}
	l.ledgerID, l.origin = g.Attributes.LedgerID, g.Attributes.Origin
}

// quarantine copies a damaged segment into <Dir>/quarantine once, and
// names the copy in the segment's damage records.
func (l *Ledger) quarantine(s segFile, rc *recovery) {
	rel := filepath.Join(quarantineDir, s.name)
	defer func() {
		for _, d := range rc.found {
			if d.rec.Segment == s.name && d.rec.Quarantine == "" {
				d.rec.Quarantine = rel
			}
		}
	}()
	qdir := filepath.Join(l.opts.Dir, quarantineDir)
	dst := filepath.Join(qdir, s.name)
	if _, err := os.Stat(dst); err == nil {
		return
	}
	if err := atomicfile.MkdirAll(qdir, 0o700); err != nil {
		l.log.Error("queue: quarantine", "err", err)
		return
	}
	buf, err := os.ReadFile(s.path)
	if err == nil {
		err = atomicfile.WriteFile(dst, buf, 0o600)
	}
	if err != nil {
		l.log.Error("queue: quarantine", "err", err)
		return
	}
	l.log.Error("queue: damaged segment quarantined", "segment", s.name, "copy", dst)
}

// removeStaleTemps removes the temporary files that atomicfile left in
// the ledger directory and in quarantine/ when the process died before a
// rename.
func removeStaleTemps(dir string, log *slog.Logger) {
	for _, d := range []string{dir, filepath.Join(dir, quarantineDir)} {
		removed, err := atomicfile.RemoveTemps(d)
		for _, t := range removed {
			log.Warn("queue: removed a stale temporary file", "file", t)
		}
		if err != nil {
			log.Warn("queue: stale temporary files", "err", err)
		}
	}
}
