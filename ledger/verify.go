package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Code names a kind of finding of a [Check]. The codes are printed by
// kt verify and are part of its interface: they never change meaning.
type Code string

// The finding codes. All but UNANCHORED are errors (tamper evidence or
// damage); UNANCHORED and identical DUPLICATE copies are warnings.
const (
	// Modified: the hash field does not match the hash recomputed from
	// seq, prev_hash and the body.
	Modified Code = "MODIFIED"
	// Gap: a range of seqs is missing between two present entries.
	Gap Code = "GAP"
	// Duplicate: the same seq appears twice. Identical copies (at-least-once
	// delivery) are a warning, different copies an error.
	Duplicate Code = "DUPLICATE"
	// Reordered: an entry comes after an entry with a higher seq.
	Reordered Code = "REORDERED"
	// ChainBreak: prev_hash of seq n is not the hash of seq n-1, or entry 0
	// is not a genesis entry with the zero prev_hash.
	ChainBreak Code = "CHAIN_BREAK"
	// Truncated: a checkpoint covers entries beyond the last one present.
	Truncated Code = "TRUNCATED"
	// Fork: the entries do not have the root a checkpoint signed, or two
	// checkpoints sign different roots for one tree size.
	Fork Code = "FORK"
	// BadSignature: a signature by a trusted key does not verify.
	BadSignature Code = "BAD_SIGNATURE"
	// UnknownKey: a signature by a key that is not trusted.
	UnknownKey Code = "UNKNOWN_KEY"
	// MalformedCode: a line or checkpoint that cannot be read.
	MalformedCode Code = "MALFORMED"
	// Unanchored (warning): entries that no checkpoint from off the host
	// covers; an attacker with the signing key could rewrite them unnoticed.
	Unanchored Code = "UNANCHORED"
	// DamagedCode: storage damage reported by the reader (a bad CRC in the
	// middle of a segment, an unreadable file).
	DamagedCode Code = "DAMAGED"
)

// Finding is one result of a [Check].
type Finding struct {
	Code    Code
	Seq     int64  // first seq concerned, -1 if none
	Last    int64  // last seq of a range (GAP, TRUNCATED, UNANCHORED, coalesced runs); equals Seq otherwise
	Size    int64  // tree size of the checkpoint concerned, 0 if none
	Where   string // file:line or segment:offset, "" if unknown
	Detail  string
	Warning bool
}

// String formats f on one line:
//
//	MODIFIED seq=17 at out.ndjson:19: hash does not match the body
//	GAP seq=40..41 at out.ndjson:42: missing between seq 39 and seq 42
//	warning: UNANCHORED seq=90..99: no checkpoint from off the host covers these entries
func (f Finding) String() string {
	var b strings.Builder
	if f.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(string(f.Code))
	if f.Seq >= 0 {
		fmt.Fprintf(&b, " seq=%d", f.Seq)
		if f.Last > f.Seq {
			fmt.Fprintf(&b, "..%d", f.Last)
		}
	}
	if f.Size > 0 {
		fmt.Fprintf(&b, " size=%d", f.Size)
	}
	if f.Where != "" {
		b.WriteString(" at ")
		b.WriteString(f.Where)
	}
	if f.Detail != "" {
		b.WriteString(": ")
		b.WriteString(f.Detail)
	}
	return b.String()
}

// Stats summarizes what a [Check] saw.
type Stats struct {
	Entries     int64 // entries read (duplicates included)
	First, Last int64 // lowest and highest seq, -1 if no entries
	Checkpoints int   // checkpoints whose signature verified
	Verified    int   // of those, checkpoints whose root was recomputed from the entries and matched
	Anchored    int64 // largest tree size of a verified checkpoint from off the host, 0 if none
}

// Check verifies a ledger read in order: entries, checkpoint entries, and
// checkpoints from elsewhere. It does no I/O: the caller reads files and
// feeds them, in file order, then calls Finish. A Check is not safe for
// concurrent use.
//
// Most checks need the whole input (a checkpoint may arrive before the
// entries it covers), so findings are reported by Finish.
type Check struct {
	// Local reports that the entries come from the host being verified (a
	// data dir) rather than from a copy that left it (a SIEM, a file sink,
	// an export). Checkpoints carried by local entries are checked but do not
	// anchor: only checkpoints passed to Checkpoint with anchor set do, so
	// without anchors every entry is UNANCHORED. The default (false) treats
	// the checkpoint entries and checkpoint records read by Entry and Line
	// as anchors.
	Local bool

	keys     Keyring
	findings []Finding
	entries  map[uint64]*entryRec
	notes    []noteRec
	maxSeq   int64 // highest seq seen in input order, -1 before the first
	stats    Stats
	genesis  *Entry
	lost     []lostRange // entries the agent reported lost (ledger.damage)
	finished bool
}

// lostRange is a range of entries that a ledger.damage entry reports
// lost: the agent signs the checkpoints after it over a placeholder leaf
// (that of the zero entry hash) for each.
type lostRange struct {
	first, last uint64
	seq         uint64 // of the ledger.damage entry
	id          string
	matched     int // checkpoints that match the tree with the placeholders
}

type entryRec struct {
	hash     Hash // the hash field, as committed
	prev     Hash
	line     Hash // SHA-256 of the wire line, to tell identical copies
	modified bool
	ckpt     bool // a ledger.checkpoint entry
	where    string
}

type noteRec struct {
	note   []byte
	where  string
	anchor bool
	local  bool  // the host's own checkpoint file: unreadable is a warning
	seq    int64 // seq of the checkpoint entry carrying it, -1 if none
}

// NewCheck returns a Check that trusts the keys in keys.
func NewCheck(keys Keyring) *Check {
	return &Check{keys: keys, entries: map[uint64]*entryRec{}, maxSeq: -1,
		stats: Stats{First: -1, Last: -1}}
}

func (c *Check) add(f Finding) {
	if f.Last < f.Seq || f.Seq < 0 {
		f.Last = f.Seq
	}
	// Coalesce runs: a file signed by an untrusted key, or a batch delivered
	// twice, gives one finding per run rather than one per entry.
	if n := len(c.findings); n > 0 && f.Seq >= 0 {
		p := &c.findings[n-1]
		if p.Code == f.Code && p.Warning == f.Warning && p.Detail == f.Detail &&
			p.Size == f.Size && p.Seq >= 0 && f.Seq == p.Last+1 {
			p.Last = f.Last
			return
		}
	}
	c.findings = append(c.findings, f)
}

// Malformed reports a line or record that could not be read at all.
func (c *Check) Malformed(where string, err error) {
	msg := strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": ")
	c.add(Finding{Code: MalformedCode, Seq: -1, Where: where, Detail: msg})
}

// Damaged reports storage damage found by the reader, such as a frame with
// a bad checksum in the middle of a segment. A torn tail — what a crash
// during a write leaves at the end of the last segment, and what the agent
// cuts at its next start — is only a warning: it never held an acknowledged
// entry, and entries missing below a checkpoint are TRUNCATED anyway.
func (c *Check) Damaged(where, detail string, tornTail bool) {
	c.add(Finding{Code: DamagedCode, Seq: -1, Where: where, Detail: detail, Warning: tornTail})
}

// Line checks one NDJSON line: a ledger entry, or a checkpoint or heartbeat
// record as shipped by sinks:
//
//	{"record":"checkpoint","size":N,"root":"<base64>","checkpoint":"<signed note>"}
//	{"record":"heartbeat","time":"...","size":N,"checkpoint":"<signed note>"}
//
// Blank lines are skipped; anything else is MALFORMED.
func (c *Check) Line(line []byte, where string) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if isRecord(line) {
		c.record(line, where, !c.Local)
		return
	}
	e, err := ParseLine(line)
	if err != nil {
		c.Malformed(where, err)
		return
	}
	c.Entry(e, where)
}

// AnchorLine reads one NDJSON line of an anchor source (kt verify --anchors,
// for example a file sink's output or a SIEM export) for its checkpoints
// only: checkpoint and heartbeat records and ledger.checkpoint entries give
// anchors, other entries are ignored. Lines that cannot be read give a
// MALFORMED warning.
func (c *Check) AnchorLine(line []byte, where string) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if isRecord(line) {
		c.record(line, where, true)
		return
	}
	e, err := ParseLine(line)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": ")
		c.add(Finding{Code: MalformedCode, Seq: -1, Where: where, Detail: msg, Warning: true})
		return
	}
	if note, ok := checkpointNote(e); ok {
		c.notes = append(c.notes, noteRec{note: note, where: where, anchor: true, seq: int64(e.Seq)})
	}
}

// isRecord reports whether line is a JSON object with a top-level "record"
// member (and so not an entry).
func isRecord(line []byte) bool {
	if !bytes.Contains(line, []byte(`"record"`)) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil {
		return false
	}
	_, rec := m["record"]
	_, seq := m["seq"]
	return rec && !seq
}

type recordLine struct {
	Record     string  `json:"record"`
	Size       *int64  `json:"size"`
	Root       *string `json:"root"`
	Checkpoint *string `json:"checkpoint"`
}

func (c *Check) record(line []byte, where string, anchor bool) {
	var r recordLine
	if err := json.Unmarshal(line, &r); err != nil {
		c.Malformed(where, fmt.Errorf("record: %v", err))
		return
	}
	switch r.Record {
	case "checkpoint", "heartbeat":
	default:
		c.Malformed(where, fmt.Errorf("unknown record %q", r.Record))
		return
	}
	if r.Checkpoint == nil {
		if r.Record == "checkpoint" {
			c.Malformed(where, errors.New(`checkpoint record without "checkpoint"`))
		}
		return
	}
	// size and root are unsigned conveniences: they must agree with the
	// signed note, whose own checks come at Finish.
	if r.Size != nil || r.Root != nil {
		if cp, err := parseCheckpointText([]byte(*r.Checkpoint)); err == nil {
			if r.Size != nil && *r.Size != cp.Size {
				c.Malformed(where, fmt.Errorf("%s record says size %d, its checkpoint %d", r.Record, *r.Size, cp.Size))
			}
			if r.Root != nil && *r.Root != base64.StdEncoding.EncodeToString(cp.Root[:]) {
				c.Malformed(where, fmt.Errorf("%s record root differs from its checkpoint's", r.Record))
			}
		}
	}
	c.notes = append(c.notes, noteRec{note: []byte(*r.Checkpoint), where: where, anchor: anchor, seq: -1})
}

// Checkpoint checks a signed checkpoint note: one from the agent's commit
// log or checkpoint file (anchor false), or one that left the host and came
// back from elsewhere (anchor true: a SIEM, an S3 object, a witness).
func (c *Check) Checkpoint(signedNote []byte, where string, anchor bool) {
	c.notes = append(c.notes, noteRec{note: bytes.Clone(signedNote), where: where, anchor: anchor, seq: -1})
}

// LocalCheckpoint checks the host's own checkpoint file (a data dir's
// ledger/checkpoint): a convenience the agent rewrites after every commit
// without an fsync, so a power cut can leave it empty, torn or older than
// the segments. If it cannot be read, is malformed or its signature does
// not verify, that is a warning, never tamper evidence — the file proves
// nothing against the host anyway. A checkpoint in it that verifies is
// checked like any other (it is never newer than what the segments hold
// durably, so entries missing below it are TRUNCATED), and anchors nothing.
// Read the file before the segments of a running agent.
func (c *Check) LocalCheckpoint(signedNote []byte, where string) {
	c.notes = append(c.notes, noteRec{note: bytes.Clone(signedNote), where: where, local: true, seq: -1})
}

// Entry checks one entry. Entries must be passed in input order: an entry
// whose seq is lower than one already seen is REORDERED.
func (c *Check) Entry(e *Entry, where string) {
	c.entry(e, where, c.costly(e))
}

// costlyChecks are the parts of an entry's check that need no state: they
// may run in parallel (see Lines).
type costlyChecks struct {
	computed Hash
	known    bool // key_id is trusted
	sigOK    bool
}

func (c *Check) costly(e *Entry) costlyChecks {
	cc := costlyChecks{computed: e.ComputeHash()}
	if v, ok := c.keys[e.KeyID]; ok {
		cc.known, cc.sigOK = true, v.VerifyHash(e.Hash, e.Sig)
	}
	return cc
}

// Lines checks lines as Line does, in order, with the parsing, hashing and
// signature checks of the entries spread over all cores. The lines must
// not be modified until it returns.
func (c *Check) Lines(lines [][]byte, wheres []string) {
	type prep struct {
		line   []byte
		record bool
		e      *Entry
		err    error
		cc     costlyChecks
	}
	ps := make([]prep, len(lines))
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := &ps[i]
			p.line = bytes.TrimSpace(lines[i])
			if len(p.line) == 0 {
				continue
			}
			if p.record = isRecord(p.line); p.record {
				continue
			}
			if p.e, p.err = ParseLine(p.line); p.err == nil {
				p.cc = c.costly(p.e)
			}
		}
	}
	n := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	step := (len(lines) + n - 1) / max(n, 1)
	for lo := 0; lo < len(lines); lo += max(step, 1) {
		wg.Go(func() { work(lo, min(lo+step, len(lines))) })
	}
	wg.Wait()
	for i, p := range ps {
		switch {
		case len(p.line) == 0:
		case p.record:
			c.record(p.line, wheres[i], !c.Local)
		case p.err != nil:
			c.Malformed(wheres[i], p.err)
		default:
			c.entry(p.e, wheres[i], p.cc)
		}
	}
}

func (c *Check) entry(e *Entry, where string, cc costlyChecks) {
	c.stats.Entries++
	seq := int64(e.Seq)
	if seq < 0 { // above 2^63: no ledger gets there
		c.add(Finding{Code: MalformedCode, Seq: -1, Where: where, Detail: fmt.Sprintf("seq %d out of range", e.Seq)})
		return
	}
	if c.stats.First < 0 || seq < c.stats.First {
		c.stats.First = seq
	}
	if seq > c.stats.Last {
		c.stats.Last = seq
	}
	rec := &entryRec{hash: e.Hash, prev: e.PrevHash, modified: cc.computed != e.Hash, where: where,
		line: sha256.Sum256(e.AppendLine(nil))}

	if prev, dup := c.entries[e.Seq]; dup {
		if prev.line == rec.line {
			c.add(Finding{Code: Duplicate, Seq: seq, Where: where, Warning: true,
				Detail: "identical copy (delivered more than once)"})
			return // already checked
		}
		c.add(Finding{Code: Duplicate, Seq: seq, Where: where,
			Detail: "a different entry with this seq is at " + prev.where})
	} else {
		if seq < c.maxSeq {
			c.add(Finding{Code: Reordered, Seq: seq, Where: where,
				Detail: fmt.Sprintf("comes after seq %d", c.maxSeq)})
		}
		c.entries[e.Seq] = rec
	}
	if seq > c.maxSeq {
		c.maxSeq = seq
	}

	if rec.modified {
		c.add(Finding{Code: Modified, Seq: seq, Where: where, Detail: "hash does not match the body"})
	}
	if !cc.known {
		c.add(Finding{Code: UnknownKey, Seq: seq, Where: where,
			Detail: fmt.Sprintf("signed by key %q, which is not trusted", e.KeyID)})
	} else if !cc.sigOK {
		c.add(Finding{Code: BadSignature, Seq: seq, Where: where,
			Detail: fmt.Sprintf("signature by %s does not verify", e.KeyID)})
	}
	if e.Seq == 0 && c.genesis == nil {
		c.genesis = e
	}
	if note, ok := checkpointNote(e); ok {
		rec.ckpt = true
		c.notes = append(c.notes, noteRec{note: note, where: where, anchor: !c.Local, seq: seq})
	}
	if b, ok := own(e, ActionDamage); ok && b.Attributes.LostEntries > 0 && b.Attributes.LostFirstSeq != nil &&
		b.Attributes.LostLastSeq != nil && *b.Attributes.LostFirstSeq <= *b.Attributes.LostLastSeq && *b.Attributes.LostLastSeq < e.Seq {
		c.lost = append(c.lost, lostRange{first: *b.Attributes.LostFirstSeq, last: *b.Attributes.LostLastSeq, seq: e.Seq, id: b.Attributes.DamageID})
	}
}

// ownBody is what tells the ledger's own entries from the others: the
// ledger writes source.kind "ledger", which the pipeline never sets from
// input.
type ownBody struct {
	Action string `json:"action"`
	Source struct {
		Kind string `json:"kind"`
	} `json:"source"`
	Attributes struct {
		Checkpoint   string  `json:"checkpoint"`
		Origin       string  `json:"origin"`
		PublicKey    string  `json:"public_key"`
		KeyID        string  `json:"key_id"`
		DamageID     string  `json:"damage_id"`
		LostEntries  uint64  `json:"lost_entries"`
		LostFirstSeq *uint64 `json:"lost_first_seq"`
		LostLastSeq  *uint64 `json:"lost_last_seq"`
	} `json:"attributes"`
}

// own returns the body of e if it is an entry the ledger wrote itself
// with the given action. Action, category and attributes are content a
// producer controls, so the action alone decides nothing.
func own(e *Entry, action string) (*ownBody, bool) {
	if !bytes.Contains(e.Body, []byte(`"`+action+`"`)) || !bytes.Contains(e.Body, []byte(`"`+SourceKindLedger+`"`)) {
		return nil, false
	}
	var b ownBody
	if json.Unmarshal(e.Body, &b) != nil || b.Action != action || b.Source.Kind != SourceKindLedger {
		return nil, false
	}
	return &b, true
}

// checkpointNote returns the signed note carried by a ledger.checkpoint
// entry: one the ledger wrote (see own) whose note parses as a
// checkpoint. An entry of a producer that claims the action is an entry
// like any other.
func checkpointNote(e *Entry) ([]byte, bool) {
	b, ok := own(e, ActionCheckpoint)
	if !ok {
		return nil, false
	}
	note := []byte(b.Attributes.Checkpoint)
	if _, err := parseCheckpointText(note); err != nil {
		return nil, false
	}
	return note, true
}

// parseCheckpointText reads the size and root of a note without checking
// its signatures.
func parseCheckpointText(note []byte) (*Checkpoint, error) {
	text, _, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no signature block")
	}
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 3 {
		return nil, errors.New("short checkpoint")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 {
		return nil, errors.New("bad size line")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, errors.New("bad root line")
	}
	cp := &Checkpoint{Origin: lines[0], Size: n}
	copy(cp.Root[:], root)
	return cp, nil
}

// GenesisKey returns the verifier for the public key recorded in a
// ledger.genesis entry. With no trusted keys given, kt verify may use it to
// check a ledger against itself; that proves consistency, not origin, since
// whoever rewrote the ledger could have written a new genesis.
func GenesisKey(e *Entry) (*Verifier, error) {
	var b ownBody
	if err := json.Unmarshal(e.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: genesis body: %v", ErrMalformed, err)
	}
	if b.Action != ActionGenesis || b.Source.Kind != SourceKindLedger {
		return nil, fmt.Errorf("%w: seq %d is %q from source kind %q, not a %s entry", ErrMalformed, e.Seq, b.Action, b.Source.Kind, ActionGenesis)
	}
	v, err := NewVerifier(b.Attributes.PublicKey)
	if err != nil {
		return nil, err
	}
	if b.Attributes.KeyID != "" && b.Attributes.KeyID != v.KeyID() {
		return nil, fmt.Errorf("%w: genesis key_id %q does not match its public key %q", ErrMalformed, b.Attributes.KeyID, v.KeyID())
	}
	return v, nil
}

// Finish runs the checks that need the whole input and returns every
// finding, ordered by seq (findings without a seq first, in input order),
// and what was seen. Finish may be called once.
func (c *Check) Finish() ([]Finding, Stats) {
	if c.finished {
		panic("ledger: Check.Finish called twice")
	}
	c.finished = true

	seqs := make([]uint64, 0, len(c.entries))
	for s := range c.entries {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })

	// Chain and gaps, in seq order.
	var zero Hash
	for i, s := range seqs {
		r := c.entries[s]
		if s == 0 {
			if r.prev != zero {
				c.add(Finding{Code: ChainBreak, Seq: 0, Where: r.where, Detail: "entry 0 has a non-zero prev_hash"})
			}
			if c.genesis != nil && !isGenesis(c.genesis) {
				c.add(Finding{Code: ChainBreak, Seq: 0, Where: r.where, Detail: "entry 0 is not a " + ActionGenesis + " entry"})
			}
			continue
		}
		if i == 0 {
			continue
		}
		p := seqs[i-1]
		if p != s-1 {
			c.add(Finding{Code: Gap, Seq: int64(p + 1), Last: int64(s - 1), Where: r.where,
				Detail: fmt.Sprintf("missing between seq %d and seq %d", p, s)})
			continue
		}
		if pr := c.entries[p]; !pr.modified && pr.hash != r.prev {
			c.add(Finding{Code: ChainBreak, Seq: int64(s), Where: r.where,
				Detail: fmt.Sprintf("prev_hash is not the hash of seq %d", p)})
		}
	}

	// The tree over the contiguous run from seq 0.
	var tree Tree
	for i, s := range seqs {
		if s != uint64(i) {
			break
		}
		tree.Append(c.entries[s].hash)
	}

	c.checkpoints(&tree, c.placeholderTree(), seqs)
	for _, r := range c.lost {
		if r.matched > 0 {
			c.add(Finding{Code: DamagedCode, Seq: int64(r.first), Last: int64(r.last), Warning: true,
				Where:  c.entries[r.seq].where,
				Detail: fmt.Sprintf("the agent lost these entries (damage %s, reported at seq %d); %d checkpoint(s) it signed after that cover a placeholder leaf for each, and match", r.id, r.seq, r.matched)})
		}
	}

	// The unanchored tail. Checkpoint entries at its end are left out: the
	// newest one is never covered by a checkpoint, and carries only one.
	for len(seqs) > 0 && c.entries[seqs[len(seqs)-1]].ckpt && int64(seqs[len(seqs)-1]) >= c.stats.Anchored {
		seqs = seqs[:len(seqs)-1]
	}
	if len(seqs) > 0 {
		last := int64(seqs[len(seqs)-1])
		from := max(c.stats.Anchored, int64(seqs[0]))
		if from <= last {
			f := Finding{Code: Unanchored, Seq: from, Last: last, Warning: true,
				Detail: "no checkpoint from off the host covers these entries"}
			if c.stats.Anchored > 0 {
				f.Detail = fmt.Sprintf("above the newest anchored checkpoint (size %d)", c.stats.Anchored)
			}
			c.findings = append(c.findings, f)
		}
	}

	sort.SliceStable(c.findings, func(i, j int) bool { return c.findings[i].Seq < c.findings[j].Seq })
	return c.findings, c.stats
}

func isGenesis(e *Entry) bool {
	_, ok := own(e, ActionGenesis)
	return ok
}

// placeholderTree returns the tree the agent holds after losing the
// entries the ledger.damage entries name: the contiguous run from seq 0
// with the placeholder leaf (that of the zero entry hash) for each lost
// entry, present here or not. It returns nil if none were lost.
func (c *Check) placeholderTree() *Tree {
	if len(c.lost) == 0 {
		return nil
	}
	isLost := func(s uint64) *lostRange {
		for i := range c.lost {
			if c.lost[i].first <= s && s <= c.lost[i].last {
				return &c.lost[i]
			}
		}
		return nil
	}
	var t Tree
	for s := uint64(0); ; s++ {
		if isLost(s) != nil {
			t.Append(Hash{})
			continue
		}
		r, ok := c.entries[s]
		if !ok {
			return &t
		}
		t.Append(r.hash)
	}
}

// matchLost reports whether cp is a checkpoint of alt, the tree with
// placeholders, and counts it for the lost ranges it covers.
func (c *Check) matchLost(alt *Tree, cp *Checkpoint) bool {
	if alt == nil || cp.Size > alt.Size() {
		return false
	}
	root, err := alt.Root(cp.Size)
	if err != nil || root != cp.Root {
		return false
	}
	for i := range c.lost {
		if int64(c.lost[i].first) < cp.Size {
			c.lost[i].matched++
		}
	}
	return true
}

// checkpoints opens every note and compares it with the entries and with
// the other notes. A checkpoint the agent signed after it lost entries to
// damage (and said so in a ledger.damage entry) covers placeholder leaves
// for them: it is checked against alt, the tree with the placeholders.
func (c *Check) checkpoints(tree, alt *Tree, seqs []uint64) {
	origin := ""
	if c.genesis != nil {
		if b, ok := own(c.genesis, ActionGenesis); ok {
			origin = b.Attributes.Origin
		}
	}
	type seen struct {
		root  tlog.Hash
		where string
	}
	roots := map[int64]seen{}
	forked := map[int64]bool{}
	for _, n := range c.notes {
		f := Finding{Seq: n.seq, Where: n.where}
		// An anchor source may hold the checkpoints of other ledgers too
		// (one SIEM index, many agents): skip those unopened.
		if n.anchor && n.seq < 0 && origin != "" {
			if cp, err := parseCheckpointText(n.note); err == nil && cp.Origin != origin {
				continue
			}
		}
		cp, err := OpenCheckpoint(n.note, c.keys)
		if err != nil && n.local {
			// A power cut can leave the file empty or torn.
			f.Code = MalformedCode
			f.Warning = true
			f.Detail = "the local checkpoint file cannot be used (a power cut can leave it torn; it proves nothing): " +
				strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": ")
			c.add(f)
			continue
		}
		if err != nil {
			switch {
			case errors.Is(err, ErrUnknownKey):
				f.Code = UnknownKey
				f.Detail = "checkpoint has no signature by a trusted key"
			case errors.Is(err, ErrBadSignature):
				f.Code = BadSignature
				f.Detail = "checkpoint signature does not verify"
			default:
				f.Code = MalformedCode
				f.Detail = strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": ")
			}
			if t, perr := parseCheckpointText(n.note); perr == nil {
				f.Size = t.Size
			}
			c.add(f)
			continue
		}
		c.stats.Checkpoints++
		f.Size = cp.Size
		if origin != "" && cp.Origin != origin {
			f.Code = MalformedCode
			f.Detail = fmt.Sprintf("checkpoint origin %q is not the ledger's %q", cp.Origin, origin)
			c.add(f)
			continue
		}
		if n.seq >= 0 && cp.Size != n.seq {
			f.Code = MalformedCode
			f.Detail = fmt.Sprintf("checkpoint entry at seq %d carries a checkpoint of size %d", n.seq, cp.Size)
			c.add(f)
			continue
		}
		if s, ok := roots[cp.Size]; ok && s.root != cp.Root && !forked[cp.Size] {
			forked[cp.Size] = true
			f.Code = Fork
			f.Seq = -1
			f.Detail = "two different roots signed for one size; the other is at " + s.where
			c.add(f)
		} else if !ok {
			roots[cp.Size] = seen{cp.Root, n.where}
		}

		switch {
		case cp.Size <= tree.Size():
			root, err := tree.Root(cp.Size)
			if err != nil {
				panic(err) // cp.Size <= tree.Size()
			}
			if root != cp.Root && !c.matchLost(alt, cp) {
				f.Code = Fork
				f.Seq = -1
				f.Detail = fmt.Sprintf("entries 0..%d do not have the root this checkpoint signed", cp.Size-1)
				c.add(f)
				continue
			}
			c.stats.Verified++
			if n.anchor && cp.Size > c.stats.Anchored {
				c.stats.Anchored = cp.Size
			}
		case len(seqs) == 0:
			f.Code = Truncated
			f.Seq, f.Last = 0, cp.Size-1
			f.Detail = "no entries, but the checkpoint covers " + strconv.FormatInt(cp.Size, 10)
			c.add(f)
		case int64(seqs[len(seqs)-1]) < cp.Size-1:
			m := int64(seqs[len(seqs)-1])
			f.Code = Truncated
			f.Seq, f.Last = m+1, cp.Size-1
			f.Detail = fmt.Sprintf("entries end at seq %d, the checkpoint has size %d", m, cp.Size)
			c.add(f)
		case c.matchLost(alt, cp):
			// The entries missing below cp.Size are those the agent lost.
			c.stats.Verified++
			if n.anchor && cp.Size > c.stats.Anchored {
				c.stats.Anchored = cp.Size
			}
		default:
			// Entries before cp.Size are missing (a GAP, or input that starts
			// after seq 0): the root cannot be recomputed.
		}
	}
}
