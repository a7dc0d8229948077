package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "kt.test/ledger/01"

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testLedger builds a ledger in memory the way the agent does.
type testLedger struct {
	t       *testing.T
	signer  *Signer
	entries []*Entry
}

func newSigner(t *testing.T, name string) *Signer {
	t.Helper()
	skey, _, err := GenerateKey(nil, name)
	require.NoError(t, err)
	s, err := NewSigner(skey)
	require.NoError(t, err)
	return s
}

func keyringOf(t *testing.T, signers ...*Signer) Keyring {
	t.Helper()
	k := Keyring{}
	for _, s := range signers {
		v, err := NewVerifier(s.VerifierKey())
		require.NoError(t, err)
		k.Add(v)
	}
	return k
}

// newTestLedger returns a ledger of genesis + events with a checkpoint entry
// at every seq in ckpts.
func newTestLedger(t *testing.T, s *Signer) *testLedger {
	t.Helper()
	l := &testLedger{t: t, signer: s}
	body, err := GenesisBody("genesis", testTime, Genesis{LedgerID: "01", Origin: testOrigin,
		VerifierKey: s.VerifierKey(), KeyID: s.KeyID(), Version: "test"})
	require.NoError(t, err)
	l.append(body)
	return l
}

func (l *testLedger) append(body []byte) *Entry {
	e := &Entry{Seq: uint64(len(l.entries)), Body: body}
	if e.Seq > 0 {
		e.PrevHash = l.entries[e.Seq-1].Hash
	}
	l.seal(e, l.signer)
	l.entries = append(l.entries, e)
	return e
}

// seal sets the hash and signature of e.
func (l *testLedger) seal(e *Entry, s *Signer) {
	e.Hash = e.ComputeHash()
	e.Sig = s.SignHash(e.Hash)
	e.KeyID = s.KeyID()
}

func eventBody(t *testing.T, i int, who string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"id": fmt.Sprintf("ev-%d", i), "time": testTime.Add(time.Duration(i) * time.Second).Format(TimeFormat),
		"category": "configuration", "action": "config.update", "outcome": "success",
		"actor": map[string]any{"type": "user", "id": who},
	})
	require.NoError(t, err)
	body, err := jcs.Transform(raw)
	require.NoError(t, err)
	return body
}

func (l *testLedger) events(n int) {
	for range n {
		l.append(eventBody(l.t, len(l.entries), "alice"))
	}
}

// checkpoint returns a signed checkpoint of the whole ledger.
func (l *testLedger) checkpoint() *Checkpoint {
	var tree Tree
	for _, e := range l.entries {
		tree.Append(e.Hash)
	}
	root, err := tree.Root(tree.Size())
	require.NoError(l.t, err)
	c, err := SignCheckpoint(l.signer, testOrigin, tree.Size(), root)
	require.NoError(l.t, err)
	return c
}

func (l *testLedger) checkpointEntry() {
	body, err := CheckpointBody(fmt.Sprintf("ckpt-%d", len(l.entries)), testTime, l.checkpoint())
	require.NoError(l.t, err)
	l.append(body)
}

// rewrite re-seals every entry from seq on with the ledger's key, so the
// chain is consistent again: what an attacker holding the key does.
func (l *testLedger) rewrite(seq int) {
	old := l.entries
	l.entries = append([]*Entry{}, old[:seq]...)
	for _, e := range old[seq:] {
		if _, ok := checkpointNote(e); ok {
			l.checkpointEntry()
			continue
		}
		l.append(e.Body)
	}
}

func (l *testLedger) lines() [][]byte {
	var out [][]byte
	for _, e := range l.entries {
		out = append(out, e.AppendLine(nil))
	}
	return out
}

// standard is genesis, events 1..9, checkpoint entry 10 (size 10), events
// 11..14, checkpoint entry 15 (size 15).
func standard(t *testing.T, s *Signer) *testLedger {
	l := newTestLedger(t, s)
	l.events(9)
	l.checkpointEntry()
	l.events(4)
	l.checkpointEntry()
	return l
}

// key formats the identifying part of a finding: code, seq range, size.
func key(f Finding) string {
	f.Where, f.Detail = "", ""
	return f.String()
}

func keys(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, key(f))
	}
	sort.Strings(out)
	return out
}

type input struct {
	lines   [][]byte
	anchors [][]byte // signed notes from off the host
	local   bool
}

func run(t *testing.T, k Keyring, in input) ([]Finding, Stats) {
	t.Helper()
	c := NewCheck(k)
	c.Local = in.local
	for i, a := range in.anchors {
		c.Checkpoint(a, fmt.Sprintf("anchor:%d", i+1), true)
	}
	for i, line := range in.lines {
		c.Line(line, fmt.Sprintf("out.ndjson:%d", i+1))
	}
	findings, stats := c.Finish()

	// Lines, in chunks, finds exactly the same.
	c2 := NewCheck(k)
	c2.Local = in.local
	for i, a := range in.anchors {
		c2.Checkpoint(a, fmt.Sprintf("anchor:%d", i+1), true)
	}
	for lo := 0; lo < len(in.lines); lo += 3 {
		hi := min(lo+3, len(in.lines))
		var wheres []string
		for i := lo; i < hi; i++ {
			wheres = append(wheres, fmt.Sprintf("out.ndjson:%d", i+1))
		}
		c2.Lines(in.lines[lo:hi], wheres)
	}
	f2, s2 := c2.Finish()
	require.Equal(t, findings, f2, "Lines and Line disagree")
	require.Equal(t, stats, s2)
	return findings, stats
}

func TestCheckCodes(t *testing.T) {
	s := newSigner(t, "kt-test")
	other := newSigner(t, "kt-other")
	trusted := keyringOf(t, s)

	tests := []struct {
		name  string
		build func(t *testing.T) input
		keys  Keyring
		want  []string
	}{
		{"clean", func(t *testing.T) input {
			l := standard(t, s)
			return input{lines: l.lines(), anchors: [][]byte{l.checkpoint().Note}}
		}, nil, nil},
		{"clean without anchors", func(t *testing.T) input {
			return input{lines: standard(t, s).lines()}
		}, nil, nil},
		{"modified body", func(t *testing.T) input {
			l := standard(t, s)
			lines := l.lines()
			lines[3] = bytes.Replace(lines[3], []byte(`"alice"`), []byte(`"alicf"`), 1)
			return input{lines: lines}
		}, nil, []string{"MODIFIED seq=3"}},
		{"deleted entry", func(t *testing.T) input {
			l := standard(t, s)
			lines := l.lines()
			lines = append(lines[:4], lines[5:]...)
			return input{lines: lines, anchors: [][]byte{l.checkpoint().Note}}
		}, nil, []string{"GAP seq=4", "warning: UNANCHORED seq=0..14"}},
		{"deleted range", func(t *testing.T) input {
			lines := standard(t, s).lines()
			return input{lines: append(lines[:4], lines[7:]...)}
		}, nil, []string{"GAP seq=4..6", "warning: UNANCHORED seq=0..14"}},
		{"swapped entries", func(t *testing.T) input {
			lines := standard(t, s).lines()
			lines[5], lines[6] = lines[6], lines[5]
			return input{lines: lines}
		}, nil, []string{"REORDERED seq=5"}},
		{"truncated tail", func(t *testing.T) input {
			l := standard(t, s)
			anchor := l.checkpoint().Note
			return input{lines: l.lines()[:12], anchors: [][]byte{anchor}}
		}, nil, []string{"TRUNCATED seq=12..15 size=16", "warning: UNANCHORED seq=10..11"}},
		{"unknown key", func(t *testing.T) input {
			l := standard(t, s)
			l.seal(l.entries[7], other)
			return input{lines: l.lines()}
		}, nil, []string{"UNKNOWN_KEY seq=7"}},
		{"no trusted key at all", func(t *testing.T) input {
			return input{lines: standard(t, s).lines()}
		}, Keyring{}, []string{"UNKNOWN_KEY seq=0..15", "UNKNOWN_KEY seq=10 size=10",
			"UNKNOWN_KEY seq=15 size=15", "warning: UNANCHORED seq=0..14"}},
		{"garbage signature", func(t *testing.T) input {
			l := standard(t, s)
			l.entries[8].Sig = bytes.Repeat([]byte{7}, 64)
			return input{lines: l.lines()}
		}, nil, []string{"BAD_SIGNATURE seq=8"}},
		{"truncated signature", func(t *testing.T) input {
			l := standard(t, s)
			l.entries[8].Sig = l.entries[8].Sig[:10]
			return input{lines: l.lines()}
		}, nil, []string{"BAD_SIGNATURE seq=8"}},
		{"history rewritten after an anchor", func(t *testing.T) input {
			l := standard(t, s)
			anchor := l.checkpoint().Note
			l.entries[12].Body = eventBody(t, 12, "mallory")
			l.rewrite(12)
			return input{lines: l.lines(), anchors: [][]byte{anchor}, local: true}
		}, nil, []string{"FORK size=16", "warning: UNANCHORED seq=0..14"}},
		{"history rewritten, anchor is an older checkpoint entry", func(t *testing.T) input {
			l := standard(t, s)
			old := l.lines()[10] // the checkpoint entry of size 10, as a SIEM holds it
			l.entries[4].Body = eventBody(t, 4, "mallory")
			l.rewrite(4)
			return input{lines: l.lines(), anchors: [][]byte{mustNote(t, old)}, local: true}
		}, nil, []string{"FORK size=10", "FORK size=10", "warning: UNANCHORED seq=0..14"}},
		{"identical duplicate", func(t *testing.T) input {
			lines := standard(t, s).lines()
			lines = append(lines[:4], append([][]byte{lines[3]}, lines[4:]...)...)
			return input{lines: lines}
		}, nil, []string{"warning: DUPLICATE seq=3"}},
		{"redelivered batch", func(t *testing.T) input {
			lines := standard(t, s).lines()
			redo := append([][]byte{}, lines[:8]...)
			redo = append(redo, lines[5:]...)
			return input{lines: redo}
		}, nil, []string{"warning: DUPLICATE seq=5..7"}},
		{"different duplicate", func(t *testing.T) input {
			l := standard(t, s)
			lines := l.lines()
			forged := *l.entries[3]
			forged.Body = eventBody(t, 3, "mallory")
			l.seal(&forged, s)
			lines = append(lines[:4], append([][]byte{forged.AppendLine(nil)}, lines[4:]...)...)
			return input{lines: lines}
		}, nil, []string{"DUPLICATE seq=3"}},
		{"chain break", func(t *testing.T) input {
			l := newTestLedger(t, s)
			l.events(9)
			l.entries[6].PrevHash[0] ^= 1
			l.seal(l.entries[6], s)
			return input{lines: l.lines()}
		}, nil, []string{"CHAIN_BREAK seq=6", "CHAIN_BREAK seq=7", "warning: UNANCHORED seq=0..9"}},
		{"entry 0 is not genesis", func(t *testing.T) input {
			l := newTestLedger(t, s)
			l.events(3)
			l.entries[0].Body = eventBody(t, 0, "alice")
			l.rewrite(0)
			return input{lines: l.lines()}
		}, nil, []string{"CHAIN_BREAK seq=0", "warning: UNANCHORED seq=0..3"}},
		{"entry 0 with a prev_hash", func(t *testing.T) input {
			l := newTestLedger(t, s)
			l.events(3)
			l.entries[0].PrevHash[31] = 1
			l.seal(l.entries[0], s)
			l.rewrite(1)
			return input{lines: l.lines()}
		}, nil, []string{"CHAIN_BREAK seq=0", "warning: UNANCHORED seq=0..3"}},
		{"malformed line", func(t *testing.T) input {
			lines := standard(t, s).lines()
			lines = append(lines, []byte(`{"seq":"x"}`), []byte(`not json`))
			return input{lines: lines}
		}, nil, []string{"MALFORMED", "MALFORMED"}},
		{"unanchored tail", func(t *testing.T) input {
			l := standard(t, s)
			l.events(3)
			return input{lines: l.lines()}
		}, nil, []string{"warning: UNANCHORED seq=15..18"}},
		{"anchor by an unknown key", func(t *testing.T) input {
			l := standard(t, s)
			l.signer = other
			return input{lines: standard(t, s).lines(), anchors: [][]byte{l.checkpoint().Note}}
		}, nil, []string{"UNKNOWN_KEY size=16"}},
		{"anchor with a bad signature", func(t *testing.T) input {
			l := standard(t, s)
			note := l.checkpoint().Note
			i := bytes.LastIndex(note, []byte(" "))
			sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(note[i+1:])))
			require.NoError(t, err)
			sig[10] ^= 1
			bad := append(note[:i+1:i+1], base64.StdEncoding.EncodeToString(sig)+"\n"...)
			return input{lines: l.lines(), anchors: [][]byte{bad}}
		}, nil, []string{"BAD_SIGNATURE size=16"}},
		{"malformed anchor", func(t *testing.T) input {
			return input{lines: standard(t, s).lines(), anchors: [][]byte{[]byte("hello\n")}}
		}, nil, []string{"MALFORMED"}},
		{"two roots for one size", func(t *testing.T) input {
			l := standard(t, s)
			good := l.checkpoint().Note
			bad, err := SignCheckpoint(s, testOrigin, 16, tlog.Hash{1})
			require.NoError(t, err)
			return input{anchors: [][]byte{good, bad.Note}}
		}, nil, []string{"FORK size=16", "TRUNCATED seq=0..15 size=16", "TRUNCATED seq=0..15 size=16"}},
		{"two roots for one size, with entries", func(t *testing.T) input {
			l := standard(t, s)
			good := l.checkpoint().Note
			bad, err := SignCheckpoint(s, testOrigin, 16, tlog.Hash{1})
			require.NoError(t, err)
			return input{lines: l.lines(), anchors: [][]byte{good, bad.Note}}
		}, nil, []string{"FORK size=16", "FORK size=16"}},
		{"checkpoint and heartbeat records", func(t *testing.T) input {
			l := standard(t, s)
			c := l.checkpoint()
			rec, _ := json.Marshal(map[string]any{"record": "checkpoint", "size": c.Size,
				"root": base64.StdEncoding.EncodeToString(c.Root[:]), "checkpoint": string(c.Note)})
			hb, _ := json.Marshal(map[string]any{"record": "heartbeat", "time": testTime.Format(TimeFormat),
				"size": c.Size, "checkpoint": string(c.Note)})
			l.events(2)
			return input{lines: append(l.lines(), rec, hb)}
		}, nil, []string{"warning: UNANCHORED seq=16..17"}},
		{"record disagrees with its checkpoint", func(t *testing.T) input {
			l := standard(t, s)
			c := l.checkpoint()
			rec, _ := json.Marshal(map[string]any{"record": "checkpoint", "size": 3, "checkpoint": string(c.Note)})
			return input{lines: append(l.lines(), rec)}
		}, nil, []string{"MALFORMED"}},
		{"checkpoint entry with the wrong size", func(t *testing.T) input {
			l := standard(t, s)
			body, err := CheckpointBody("x", testTime, l.checkpoint()) // size 16
			require.NoError(t, err)
			l.append(body)                                            // at seq 16: fine
			body, err = CheckpointBody("y", testTime, l.checkpoint()) // size 17
			require.NoError(t, err)
			l.events(1)
			l.append(body) // at seq 18: wrong
			return input{lines: l.lines()}
		}, nil, []string{"MALFORMED seq=18 size=17", "warning: UNANCHORED seq=16..17"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.keys
			if k == nil {
				k = trusted
			}
			in := tt.build(t)
			got, _ := run(t, k, in)
			want := append([]string{}, tt.want...)
			sort.Strings(want)
			assert.Equal(t, want, keys(got), "findings:\n%s", dump(got))
		})
	}
}

func mustNote(t *testing.T, line []byte) []byte {
	e, err := ParseLine(line)
	require.NoError(t, err)
	note, ok := checkpointNote(e)
	require.True(t, ok)
	return note
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestCheckLocalCheckpointFile(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	local := l.checkpoint().Note
	c := NewCheck(keyringOf(t, s))
	c.Local = true
	c.Checkpoint(local, "checkpoint", false)
	for i, line := range l.lines()[:12] {
		c.Line(line, fmt.Sprintf("seg:%d", i))
	}
	got, st := c.Finish()
	assert.Equal(t, []string{"TRUNCATED seq=12..15 size=16", "warning: UNANCHORED seq=0..11"}, keys(got))
	assert.Equal(t, int64(0), st.Anchored)
	assert.Equal(t, 2, st.Checkpoints) // the local file and the entry at seq 10
	assert.Equal(t, 1, st.Verified)
}

func TestCheckStatsAndStrings(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	lines := l.lines()
	lines[3] = bytes.Replace(lines[3], []byte(`"alice"`), []byte(`"alicf"`), 1)
	c := NewCheck(keyringOf(t, s))
	for i, line := range lines {
		c.Line(line, fmt.Sprintf("out.ndjson:%d", i+1))
	}
	c.Checkpoint(l.checkpoint().Note, "anchors.ndjson:7", true)
	c.Damaged("seg-000002:4096", "bad CRC", false)
	got, st := c.Finish()
	require.Len(t, got, 2)
	assert.Equal(t, "DAMAGED at seg-000002:4096: bad CRC", got[0].String())
	assert.Equal(t, "MODIFIED seq=3 at out.ndjson:4: hash does not match the body", got[1].String())
	assert.Equal(t, Stats{Entries: 16, First: 0, Last: 15, Checkpoints: 3, Verified: 3, Anchored: 16}, st)

	w := Finding{Code: Unanchored, Seq: 16, Last: 18, Warning: true, Detail: "x"}
	assert.Equal(t, "warning: UNANCHORED seq=16..18: x", w.String())
	g := Finding{Code: Gap, Seq: 40, Last: 41, Where: "out.ndjson:42"}
	assert.Equal(t, "GAP seq=40..41 at out.ndjson:42", g.String())
}

func TestCheckAnchorLine(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	siem := l.lines() // a SIEM copy: entries with checkpoint entries
	l.events(2)
	c := NewCheck(keyringOf(t, s))
	c.Local = true
	for i, line := range siem {
		c.AnchorLine(line, fmt.Sprintf("siem:%d", i+1))
	}
	c.AnchorLine([]byte("garbage"), "siem:99")
	for i, line := range l.lines() {
		c.Line(line, fmt.Sprintf("seg:%d", i))
	}
	got, st := c.Finish()
	assert.Equal(t, []string{"warning: MALFORMED", "warning: UNANCHORED seq=15..17"}, keys(got))
	assert.Equal(t, int64(15), st.Anchored)
}

func TestCheckOtherOriginAnchorsIgnored(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	foreign, err := SignCheckpoint(newSigner(t, "kt-elsewhere"), "kt.test/other", 99, tlog.Hash{})
	require.NoError(t, err)
	got, _ := run(t, keyringOf(t, s), input{lines: l.lines(), anchors: [][]byte{foreign.Note, l.checkpoint().Note}})
	assert.Empty(t, got)
}

func TestGenesisKey(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	v, err := GenesisKey(l.entries[0])
	require.NoError(t, err)
	assert.Equal(t, s.KeyID(), v.KeyID())
	assert.True(t, v.VerifyHash(l.entries[0].Hash, l.entries[0].Sig))

	_, err = GenesisKey(l.entries[1])
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestAppendLineKeyIDIsJSON(t *testing.T) {
	e := &Entry{Seq: 1, KeyID: "a\x01\"\\b\u00ad😀", Body: []byte(`{"a":1}`)}
	line := e.AppendLine(nil)
	assert.True(t, json.Valid(line), "%s", line)
	got, err := ParseLine(line)
	require.NoError(t, err)
	assert.Equal(t, e.KeyID, got.KeyID)
}

// producerBody is an event body as the pipeline makes it from input that
// claims to be the ledger's own: source.kind is where kt got it.
func producerBody(t *testing.T, i int, action string, attrs map[string]any, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"id": fmt.Sprintf("p-%d", i), "time": testTime.Format(TimeFormat), "category": CategoryLedger,
		"action": action, "outcome": "success", "actor": map[string]any{"type": "user", "id": "mallory"},
		"source": map[string]any{"kind": "webhook", "name": "console"}, "attributes": attrs,
	}
	for k, v := range extra {
		m[k] = v
	}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	body, err := jcs.Transform(raw)
	require.NoError(t, err)
	return body
}

// TestCheckProducerContent: no content a producer controls — action,
// category, attributes, any field — makes verify find anything, nor makes
// it count an anchor, in a copy from a SIEM or in a data dir.
func TestCheckProducerContent(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	real := string(l.checkpoint().Note) // a real signed checkpoint of size 16
	fake := "kt.example/ledger\n99\n" + "rBWoOdLpZNGri1ICirosIfEUK3sAeT9zgLBMB+Jnvr8=\n\n— kt-test AAAA\n"
	for _, b := range [][]byte{
		producerBody(t, 1, ActionCheckpoint, nil, nil),
		producerBody(t, 2, ActionCheckpoint, map[string]any{"checkpoint": "garbage", "tree_size": 3}, nil),
		producerBody(t, 3, ActionCheckpoint, map[string]any{"checkpoint": real, "tree_size": 16}, nil),
		producerBody(t, 4, ActionCheckpoint, map[string]any{"checkpoint": fake}, nil),
		producerBody(t, 5, ActionCheckpoint, map[string]any{"checkpoint": real, "source": map[string]any{"kind": "ledger"}}, nil),
		producerBody(t, 6, ActionGenesis, map[string]any{"public_key": "x", "origin": "other"}, nil),
		producerBody(t, 7, "ledger.damage", map[string]any{"damage_id": "0@1"}, map[string]any{"record": "checkpoint"}),
		producerBody(t, 8, ActionCheckpoint, map[string]any{"checkpoint": fake}, map[string]any{"source": "ledger"}),
	} {
		l.append(b)
	}
	l.events(2)
	lines := l.lines()
	for _, local := range []bool{false, true} {
		got, st := run(t, keyringOf(t, s), input{lines: lines, local: local})
		want := []string{fmt.Sprintf("warning: UNANCHORED seq=15..%d", len(lines)-1)}
		if local {
			want = []string{fmt.Sprintf("warning: UNANCHORED seq=0..%d", len(lines)-1)}
		}
		assert.Equal(t, want, keys(got), "local=%v", local)
		assert.Equal(t, 2, st.Checkpoints, "only the ledger's own checkpoint entries")
		if !local {
			assert.Equal(t, int64(15), st.Anchored, "a producer's copy of a checkpoint anchors nothing")
		}
	}
}

// TestCheckLocalCheckpointTolerated: the host's own checkpoint file, torn
// by a power cut, is a warning; one that verifies is checked.
func TestCheckLocalCheckpointTolerated(t *testing.T) {
	s := newSigner(t, "kt-test")
	l := standard(t, s)
	good := l.checkpoint().Note
	for name, note := range map[string][]byte{
		"empty":   nil,
		"zeros":   make([]byte, 100),
		"torn":    good[:len(good)-7],
		"bad sig": append(bytes.Clone(good[:len(good)-6]), []byte("AAAA=\n")...),
		"other key": func() []byte {
			c, _ := SignCheckpoint(newSigner(t, "kt-other"), testOrigin, 16, l.checkpoint().Root)
			return c.Note
		}(),
		"no newline": bytes.TrimSpace(good[:bytes.Index(good, []byte("\n\n"))]),
	} {
		t.Run(name, func(t *testing.T) {
			c := NewCheck(keyringOf(t, s))
			c.Local = true
			c.LocalCheckpoint(note, "checkpoint")
			for i, line := range l.lines() {
				c.Line(line, fmt.Sprintf("seg:%d", i))
			}
			got, _ := c.Finish()
			for _, f := range got {
				assert.True(t, f.Warning, "%s", f)
			}
			assert.Contains(t, keys(got), "warning: MALFORMED")
		})
	}
	// A checkpoint that verifies covers entries that are not there.
	c := NewCheck(keyringOf(t, s))
	c.Local = true
	c.LocalCheckpoint(good, "checkpoint")
	for i, line := range l.lines()[:12] {
		c.Line(line, fmt.Sprintf("seg:%d", i))
	}
	got, _ := c.Finish()
	assert.Contains(t, keys(got), "TRUNCATED seq=12..15 size=16")
}
