package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keeptrusts/kt/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTornTail(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 5 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i), pend(fmt.Sprint("f", i), i)})
		require.NoError(t, err)
	}
	acked := l.Size()
	require.NoError(t, l.Close()) // adds a checkpoint entry
	seg := lastSegment(t, base)
	full, err := os.ReadFile(seg)
	require.NoError(t, err)
	offs := frameOffsets(t, seg)
	// Cut at every byte of the last 5 frames: the ones written by Close
	// (checkpoint entry + checkpoint) and the last Append's. A cut inside
	// Close's commit is a crash; a cut before it loses acknowledged data
	// (not a crash) but must still recover cleanly.
	start := offs[len(offs)-5]
	closeCommit := offs[len(offs)-2]
	for cut := start; cut <= len(full); cut++ {
		dir := t.TempDir()
		copyDir(t, base, dir)
		require.NoError(t, os.WriteFile(lastSegment(t, dir), full[:cut], 0o600))
		o := opts
		o.Dir = dir
		l, err := Open(o)
		require.NoError(t, err, "cut %d", cut)
		if cut >= closeCommit {
			require.GreaterOrEqual(t, l.Size(), acked, "cut %d: acknowledged entries kept", cut)
		}
		rb := readAll(t, l, opts.Signer)
		if cut%7 != 0 && cut != len(full) {
			require.NoError(t, l.Close())
			continue // the full append-and-reopen check on a sample of cuts
		}
		_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
		require.NoError(t, err)
		require.NoError(t, l.Close())
		l, err = Open(o)
		require.NoError(t, err)
		rb2 := readAll(t, l, opts.Signer)
		require.Len(t, rb2.entries, len(rb.entries)+2) // + "after" + checkpoint entry
		require.NoError(t, l.Close())
		dmg, err := Scan(dir, func(Item) error { return nil })
		require.NoError(t, err)
		require.Empty(t, dmg, "cut %d", cut)
	}
	// Garbage appended. A stale copy of a frame is no crash: it is
	// recorded as damage, with a ledger.damage entry.
	for i, junk := range [][]byte{bytes.Repeat([]byte{0}, 100), []byte("garbage"), full[offs[2]:offs[3]]} {
		dir := t.TempDir()
		copyDir(t, base, dir)
		f, err := os.OpenFile(lastSegment(t, dir), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(junk)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		o := opts
		o.Dir = dir
		l, err := Open(o)
		require.NoError(t, err)
		stale := 0
		if i == 2 {
			stale = 1
		}
		require.Len(t, l.Damage(), stale)
		require.Equal(t, acked+1+uint64(stale), l.Size())
		readAll(t, l, opts.Signer)
		require.NoError(t, l.Close())
	}
}

func TestDamageInMiddle(t *testing.T) {
	base := t.TempDir()
	opts := testOpts(t, base)
	l, err := Open(opts)
	require.NoError(t, err)
	for i := range 10 {
		_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
		require.NoError(t, err)
	}
	size := l.Size()
	require.NoError(t, l.Close())
	seg := lastSegment(t, base)
	offs := frameOffsets(t, seg)
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	b[offs[5]+20] ^= 0xff // flip a byte inside frame 5 (an entry or checkpoint)
	require.NoError(t, os.WriteFile(seg, b, 0o600))
	before, err := os.ReadFile(seg)
	require.NoError(t, err)

	var n int
	dmg, err := Scan(base, func(Item) error { n++; return nil })
	require.NoError(t, err)
	require.Len(t, dmg, 1)
	assert.Equal(t, CorruptFrame, dmg[0].Kind)
	assert.Equal(t, int64(offs[5]), dmg[0].Offset)
	assert.Equal(t, int64(offs[6]-offs[5]), dmg[0].Bytes)
	assert.Equal(t, len(offs)-1, n)
	after, err := os.ReadFile(seg)
	require.NoError(t, err)
	require.Equal(t, before, after, "Scan never writes")

	l, err = Open(opts)
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 1, l.Stats().Damaged)
	assert.GreaterOrEqual(t, l.Size(), size+1-1)
	_, err = os.Stat(filepath.Join(base, "quarantine", filepath.Base(seg)))
	require.NoError(t, err)
	// Later entries are still readable.
	r, err := l.NewReader(0)
	require.NoError(t, err)
	var last uint64
	for {
		rec, err := r.Next()
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		if rec.Kind == ItemEntry {
			last = rec.Seq
		}
	}
	assert.Equal(t, l.Size()-1, last)
	_, err = l.Append(context.Background(), []Pending{pend("after", 1)})
	require.NoError(t, err)
}

// TestDamageKeepsLaterEntries corrupts one entry frame followed by valid
// frames, in the last segment and in an earlier one: Open reports the
// damage, keeps every later entry at its seq, fills the lost seq with a
// placeholder leaf, and the writer continues after the last entry without
// reusing a seq.
func TestDamageKeepsLaterEntries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segBytes int64
		earlier  bool // damage an earlier segment, not the last one
		lastOne  bool // damage the last entry frame (the commit checkpoint frame after it is intact)
		noStore  bool // remove tree.hashes: Open rebuilds it
	}{
		{name: "last segment"},
		{name: "last segment, store rebuilt", noStore: true},
		{name: "last entry", lastOne: true},
		{name: "last entry, store rebuilt", lastOne: true, noStore: true},
		{name: "earlier segment", segBytes: 4 << 10, earlier: true},
		{name: "last of several segments", segBytes: 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts(t, dir)
			opts.SegmentBytes = tc.segBytes
			l, err := Open(opts)
			require.NoError(t, err)
			for i := range 40 {
				_, err := l.Append(context.Background(), []Pending{pend(fmt.Sprint("e", i), i)})
				require.NoError(t, err)
			}
			require.NoError(t, l.Close()) // adds a checkpoint entry
			before, dmg := scanLines(t, dir)
			require.Empty(t, dmg)
			size := uint64(len(before))

			segs, err := listSegments(filepath.Join(dir, "segments"))
			require.NoError(t, err)
			seg := segs[len(segs)-1]
			if tc.earlier {
				require.Greater(t, len(segs), 2)
				seg = segs[len(segs)/2]
			}
			var entries []frameAt
			for _, f := range segFrames(t, seg.path) {
				if f.typ == frameEntry {
					entries = append(entries, f)
				}
			}
			require.Greater(t, len(entries), 2)
			victim := entries[len(entries)/2]
			if tc.lastOne {
				victim = entries[len(entries)-1]
				require.Equal(t, size-1, victim.seq)
			}
			b, err := os.ReadFile(seg.path)
			require.NoError(t, err)
			b[victim.off+frameHeaderSize+100] ^= 0x01 // inside the signature
			require.NoError(t, os.WriteFile(seg.path, b, 0o600))
			if tc.noStore {
				require.NoError(t, os.Remove(filepath.Join(dir, "tree.hashes")))
			}

			l, err = Open(opts)
			require.NoError(t, err)
			st := l.Stats()
			assert.Equal(t, 1, st.Damaged)
			assert.Zero(t, st.TornBytes)
			// The damage is recorded, with its ledger.damage entry at the
			// next seq: no seq is given again.
			assert.Equal(t, size+1, l.Size(), "no seq is given again")
			dr := l.Damage()
			require.Len(t, dr, 1)
			assert.Equal(t, CorruptFrame, dr[0].Kind)
			assert.Equal(t, seg.name, dr[0].Segment)
			assert.Equal(t, int64(victim.off), dr[0].Offset)
			assert.Equal(t, [3]uint64{1, victim.seq, victim.seq}, [3]uint64{dr[0].Lost, dr[0].LostFirst, dr[0].LostLast})
			assert.Equal(t, [2]uint64{1, 0}, [2]uint64{dr[0].IDsKnown, dr[0].IDsUnknown}, "the commit checkpoint frame names the lost id")
			assert.Equal(t, filepath.Join("quarantine", seg.name), dr[0].Quarantine)
			assert.False(t, dr[0].Acknowledged())
			assert.Equal(t, 1, st.DamageUnacked)
			_, err = os.Stat(filepath.Join(dir, "quarantine", seg.name))
			require.NoError(t, err)
			rb := readAll(t, l, opts.Signer)
			require.Equal(t, [][2]uint64{{victim.seq, victim.seq}}, rb.gaps)
			require.Len(t, rb.entries, int(size))
			for _, e := range rb.entries[:len(rb.entries)-1] {
				assert.Equal(t, before[e.Seq], string(e.AppendLine(nil)), "seq %d", e.Seq)
			}
			de := rb.entries[len(rb.entries)-1]
			assert.Equal(t, size, de.Seq)
			assert.Contains(t, string(de.Body), `"action":"ledger.damage"`)
			assert.Contains(t, string(de.Body), fmt.Sprintf(`"damage_id":%q`, dr[0].ID))
			assert.Contains(t, string(de.Body), fmt.Sprintf(`"lost_first_seq":%d`, victim.seq))

			// The lost id stays reserved: other content is refused,
			// naming the lost seq.
			lostLine, err := ledger.ParseLine([]byte(before[victim.seq]))
			require.NoError(t, err)
			lostID := bodyID(t, lostLine)
			_, err = l.Append(context.Background(), []Pending{pend(lostID, 12345)})
			var ce *ConflictError
			require.ErrorAs(t, err, &ce)
			assert.True(t, ce.Lost)
			assert.Equal(t, victim.seq, ce.Seq)
			assert.Contains(t, ce.Error(), "lost in damaged storage")

			res, err := l.Append(context.Background(), []Pending{pend("after", 1), pend("after2", 2)})
			require.NoError(t, err)
			assert.Equal(t, size+1, res.FirstSeq)
			assert.Equal(t, int64(size)+3, l.LatestCheckpoint().Size)
			rb = readAll(t, l, opts.Signer)
			tip := rb.entries[len(rb.entries)-4]
			if !tc.lastOne {
				require.Equal(t, size-1, tip.Seq)
			}
			assert.Equal(t, tip.Hash, rb.entries[len(rb.entries)-3].PrevHash, "the chain continues from the last entry")
			require.NoError(t, l.AckDamage(context.Background(), dr[0].ID, "alice"))
			require.NoError(t, l.AckDamage(context.Background(), dr[0].ID, "bob"), "twice")
			require.ErrorIs(t, l.AckDamage(context.Background(), "0@1", "alice"), ErrUnknownDamage)
			dr = l.Damage()
			assert.True(t, dr[0].Acknowledged())
			assert.Equal(t, "alice", dr[0].AckedBy)
			assert.Zero(t, l.Stats().DamageUnacked)
			require.NoError(t, l.Close())

			// Reopen: the same damage, the new entries kept, nothing signed
			// twice, nothing recorded twice.
			l, err = Open(opts)
			require.NoError(t, err)
			assert.Equal(t, 1, l.Stats().Damaged)
			assert.Equal(t, size+5, l.Size()) // + damage, after, after2, ack, checkpoint entry
			assert.Equal(t, dr, l.Damage())
			rb = readAll(t, l, opts.Signer)
			require.Equal(t, [][2]uint64{{victim.seq, victim.seq}}, rb.gaps)
			assert.Contains(t, string(rb.entries[len(rb.entries)-2].Body), `"action":"ledger.damage_acknowledged"`)
			assert.Contains(t, string(rb.entries[len(rb.entries)-2].Body), `"acknowledged_by":"alice"`)
			_, err = l.Append(context.Background(), []Pending{pend(lostID, 12345)})
			require.ErrorAs(t, err, &ce, "reserved after a restart and an acknowledgement")
			// The lost event posted again with its content is recorded
			// anew.
			_, victimN, _ := strings.Cut(lostID, "e")
			if n, err := strconv.Atoi(victimN); err == nil && !tc.lastOne {
				res, err := l.Append(context.Background(), []Pending{pend(lostID, n)})
				require.NoError(t, err)
				assert.Equal(t, 1, res.New)
				assert.Equal(t, size+5, res.FirstSeq)
			}
			require.NoError(t, l.Close())
			var codes []string
			for _, f := range verifyLedger(t, dir, opts.Signer) {
				codes = append(codes, string(f.Code))
			}
			assert.ElementsMatch(t, []string{"DAMAGED", "GAP"}, codes, "kt verify: the damage, nothing else")
			after, dmg := scanLines(t, dir)
			require.Len(t, dmg, 1)
			assert.Equal(t, CorruptFrame, dmg[0].Kind)
			assert.Equal(t, int64(victim.off), dmg[0].Offset)
			for seq, line := range before {
				if seq != victim.seq {
					assert.Equal(t, line, after[seq], "seq %d", seq)
				}
			}
			q, err := os.ReadDir(filepath.Join(dir, "quarantine"))
			require.NoError(t, err)
			assert.Len(t, q, 1, "one copy")
		})
	}
}
