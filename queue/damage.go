package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/ledger"
)

// DamageRecord is one damage that Open found in the segments, kept in the
// damage register (<Dir>/damage.json) until an operator acknowledges it,
// and after. A torn tail — what a crash leaves — is never one.
type DamageRecord struct {
	// ID names the damage: "<first seq of the segment>@<byte offset>".
	ID      string     `json:"id"`
	Segment string     `json:"segment"` // file name, e.g. 00000000000000000000.seg
	Offset  int64      `json:"offset"`
	Bytes   int64      `json:"bytes"`
	Kind    DamageKind `json:"kind"`
	// Lost is the number of entries lost in it, seqs LostFirst..LostLast.
	Lost      uint64 `json:"lost"`
	LostFirst uint64 `json:"lost_first_seq"`
	LostLast  uint64 `json:"lost_last_seq"`
	// IDsKnown of the lost entries have a known id, which stays reserved
	// (see the package doc); the ids of IDsUnknown are not known.
	IDsKnown   uint64 `json:"ids_known"`
	IDsUnknown uint64 `json:"ids_unknown"`
	// Quarantine is the copy of the segment, relative to the ledger
	// directory, or "".
	Quarantine string    `json:"quarantine,omitempty"`
	FoundAt    time.Time `json:"found_at"`
	EntryID    string    `json:"entry_id"` // id of its ledger.damage entry
	AckedAt    time.Time `json:"acked_at,omitzero"`
	AckedBy    string    `json:"acked_by,omitempty"`
	AckEntryID string    `json:"ack_entry_id,omitempty"` // id of its ledger.damage_acknowledged entry
}

// Acknowledged reports whether an operator acknowledged the damage.
func (d DamageRecord) Acknowledged() bool { return d.AckEntryID != "" }

// String describes the damage in one line, for logs.
func (d DamageRecord) String() string {
	s := fmt.Sprintf("damage %s: %s in %s at offset %d (%d bytes)", d.ID, d.Kind, d.Segment, d.Offset, d.Bytes)
	if d.Lost > 0 {
		s += fmt.Sprintf(", %d entries lost (seq %d..%d; %d ids reserved, %d unknown)", d.Lost, d.LostFirst, d.LostLast, d.IDsKnown, d.IDsUnknown)
	}
	return s
}

// ErrUnknownDamage is returned (wrapped) by AckDamage for an id that is
// not in the damage register.
var ErrUnknownDamage = errors.New("queue: no such damage")

// damageFile is the damage register in the ledger directory.
const (
	damageFile    = "damage.json"
	damageVersion = 1
)

// damageRegister is the content of damageFile.
type damageRegister struct {
	Version int            `json:"version"`
	Damage  []DamageRecord `json:"damage"`
}

func damageID(segFirst uint64, off int64) string { return fmt.Sprintf("%d@%d", segFirst, off) }

// Damage returns the damage register: every damage Open found, in the
// order found, acknowledged or not.
func (l *Ledger) Damage() []DamageRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.damage)
}

// AckDamage records that the operator by acknowledged the damage id: the
// register keeps who and when, and the ledger appends a
// ledger.damage_acknowledged entry. It returns once that entry is
// durable, with Append's errors, or ErrUnknownDamage. Acknowledging twice
// is not an error; the first acknowledgement stays. An acknowledged
// damage is no longer logged at Open, and its reserved ids stay reserved.
func (l *Ledger) AckDamage(ctx context.Context, id, by string) error {
	if by == "" {
		return errors.New("queue: acknowledge damage: say who acknowledges it")
	}
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	l.mu.Lock()
	i := slices.IndexFunc(l.damage, func(d DamageRecord) bool { return d.ID == id })
	if i < 0 {
		l.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownDamage, id)
	}
	if l.damage[i].Acknowledged() {
		l.mu.Unlock()
		return nil
	}
	reg := slices.Clone(l.damage)
	l.mu.Unlock()
	reg[i].AckedAt = l.opts.Now().UTC()
	reg[i].AckedBy = by
	reg[i].AckEntryID = l.opts.NewID()
	if err := l.saveDamage(reg); err != nil {
		return err
	}
	l.mu.Lock()
	l.damage = reg
	l.stats.DamageUnacked = unacked(reg)
	l.mu.Unlock()
	l.log.Warn("queue: damage acknowledged", "damage", reg[i].ID, "by", by)
	p, err := ackPending(reg[i])
	if err != nil {
		return err
	}
	// Should this fail, the next Open appends it.
	if _, err := l.Append(ctx, []Pending{p}); err != nil {
		return fmt.Errorf("queue: acknowledge damage %s: %w", id, err)
	}
	return nil
}

func unacked(reg []DamageRecord) int {
	n := 0
	for _, d := range reg {
		if !d.Acknowledged() {
			n++
		}
	}
	return n
}

// loadDamage reads the damage register. An unreadable one is moved aside
// (never lost) and the register starts again from what the scan finds.
func (l *Ledger) loadDamage() []DamageRecord {
	path := filepath.Join(l.opts.Dir, damageFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var reg damageRegister
	if err == nil {
		err = json.Unmarshal(b, &reg)
		if err == nil && reg.Version != damageVersion {
			err = fmt.Errorf("version %d, want %d", reg.Version, damageVersion)
		}
	}
	if err != nil {
		aside := fmt.Sprintf("%s.unreadable-%d", path, l.opts.Now().Unix())
		l.log.Error("queue: damage register unreadable; moved aside, damage found again is reported again", "file", path, "aside", aside, "err", err)
		if rerr := os.Rename(path, aside); rerr != nil {
			l.log.Error("queue: damage register", "err", rerr)
		}
		return nil
	}
	return reg.Damage
}

// saveDamage replaces the damage register durably.
func (l *Ledger) saveDamage(reg []DamageRecord) error {
	b, err := json.MarshalIndent(damageRegister{Version: damageVersion, Damage: reg}, "", "  ")
	if err != nil {
		return fmt.Errorf("queue: damage register: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(l.opts.Dir, damageFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("queue: damage register: %w", err)
	}
	return nil
}

// mergeDamage adds the damage the scan found to the register (a damage
// already there keeps its record) and logs every unacknowledged one.
func (l *Ledger) mergeDamage(rc *recovery) error {
	reg := l.loadDamage()
	changed := false
	now := l.opts.Now().UTC()
	for _, d := range rc.found {
		if slices.ContainsFunc(reg, func(r DamageRecord) bool { return r.ID == d.rec.ID }) {
			continue
		}
		r := d.rec
		r.FoundAt = now
		r.EntryID = l.opts.NewID()
		reg = append(reg, r)
		changed = true
	}
	if changed {
		if err := l.saveDamage(reg); err != nil {
			return err
		}
	}
	for _, d := range reg {
		if !d.Acknowledged() {
			l.log.Error("queue: unacknowledged damage: "+d.String()+"; recover the range from a sink's copy, then acknowledge it",
				"damage", d.ID, "found_at", d.FoundAt, "quarantine", d.Quarantine)
		}
	}
	l.mu.Lock()
	l.damage = reg
	l.stats.DamageUnacked = unacked(reg)
	l.mu.Unlock()
	return nil
}

// recordDamage appends the ledger.damage entry of every damage, and the
// ledger.damage_acknowledged entry of every acknowledged one. Their ids
// are fixed in the register and their bodies follow from it, so an entry
// already in the ledger is a duplicate and is not written again.
func (l *Ledger) recordDamage() {
	reg := l.Damage()
	var recs []Pending
	for _, d := range reg {
		p, err := damagePending(d)
		if err != nil {
			l.log.Error("queue: damage entry", "damage", d.ID, "err", err)
			continue
		}
		recs = append(recs, p)
		if d.Acknowledged() {
			if p, err = ackPending(d); err == nil {
				recs = append(recs, p)
			}
		}
	}
	if len(recs) == 0 {
		return
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		l.log.Error("queue: damage entries not written; the next start writes them", "err", err)
	}
}

func damagePending(d DamageRecord) (Pending, error) {
	r := ledger.DamageReport{DamageID: d.ID, Segment: d.Segment, Offset: d.Offset, Bytes: d.Bytes, Kind: string(d.Kind),
		Lost: d.Lost, LostFirst: d.LostFirst, LostLast: d.LostLast, IDsKnown: d.IDsKnown, IDsUnknown: d.IDsUnknown, Quarantine: d.Quarantine}
	body, err := ledger.DamageBody(d.EntryID, d.FoundAt, r)
	if err != nil {
		return Pending{}, err
	}
	return Pending{ID: d.EntryID, Digest: bodyDigest(body), Body: body}, nil
}

func ackPending(d DamageRecord) (Pending, error) {
	body, err := ledger.DamageAckBody(d.AckEntryID, d.AckedAt, d.ID, d.AckedBy)
	if err != nil {
		return Pending{}, err
	}
	return Pending{ID: d.AckEntryID, Digest: bodyDigest(body), Body: body}, nil
}

func bodyDigest(body []byte) (d [16]byte) {
	s := sha256.Sum256(body)
	copy(d[:], s[:16])
	return d
}
