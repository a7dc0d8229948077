package crashfs

import (
	"fmt"
	"path"
	"strings"
	"sync"
)

// OpKind names a kind of mutating request.
type OpKind string

// The mutating requests, as counted and matched by rules.
const (
	OpMkdir     OpKind = "mkdir"
	OpCreate    OpKind = "create" // a new regular file (open O_CREAT, mknod)
	OpSymlink   OpKind = "symlink"
	OpLink      OpKind = "link"
	OpWrite     OpKind = "write"
	OpTruncate  OpKind = "truncate" // a size change (ftruncate, open O_TRUNC)
	OpSetattr   OpKind = "setattr"  // mode, owner or times
	OpFallocate OpKind = "fallocate"
	OpFsync     OpKind = "fsync"     // fsync(2) of a file
	OpFdatasync OpKind = "fdatasync" // fdatasync(2) of a file
	OpFsyncDir  OpKind = "fsyncdir"  // fsync(2) or fdatasync(2) of a directory
	OpRename    OpKind = "rename"
	OpUnlink    OpKind = "unlink"
	OpRmdir     OpKind = "rmdir"
)

// Op is one mutating request.
type Op struct {
	Kind OpKind
	// Path is the file or directory acted on, relative to the mount; for
	// rename and link, the new name.
	Path string
	// From is the old name of a rename or link.
	From string
	// N counts the requests of this kind on this path pattern since the
	// mount, this one included.
	N int
}

// Pattern returns the path pattern the op is counted under.
func (o Op) Pattern() string { return Pattern(o.Path) }

// String names the op by its count, e.g. "fsync #3 of kt/ledger/segments/*.seg".
func (o Op) String() string { return fmt.Sprintf("%s #%d of %s", o.Kind, o.N, o.Pattern()) }

// Pattern replaces each run of digits in p with "*": segment names, temp
// file suffixes and seqs vary between runs, the shape of the path does not.
func Pattern(p string) string {
	var b strings.Builder
	digits := false
	for _, r := range p {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('*')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}

// Match selects ops: by kind ("" = any) and by a path.Match glob on the
// op's Path or From ("" = any path).
type Match struct {
	Kind OpKind
	Glob string
}

func (m Match) matches(o *Op) bool {
	if m.Kind != "" && m.Kind != o.Kind {
		return false
	}
	if m.Glob == "" {
		return true
	}
	if ok, _ := path.Match(m.Glob, o.Path); ok {
		return true
	}
	ok, _ := path.Match(m.Glob, o.From)
	return o.From != "" && ok
}

func (m Match) describe(n int) string {
	k, g := string(m.Kind), m.Glob
	if k == "" {
		k = "op"
	}
	if g == "" {
		g = "any path"
	}
	return fmt.Sprintf("%s #%d of %s", k, n, g)
}

// Rule freezes the filesystem at the N-th op matching At, counted from the
// AfterN-th op matching After (that op included), or from the mount when
// After is nil. N and AfterN default to 1.
type Rule struct {
	After  *Match
	AfterN int
	At     Match
	N      int
}

// String names the cut point, e.g. "fsync #1 of kt/ledger/segments/*.seg
// after create #1 of kt/ledger/segments/*.seg".
func (r Rule) String() string {
	s := r.At.describe(max(r.N, 1))
	if r.After != nil {
		s += " after " + r.After.describe(max(r.AfterN, 1))
	}
	return s
}

// boot is the cut control of one mount.
type boot struct {
	used   bool           // a mount served it
	counts map[string]int // kind + "\x00" + pattern -> ops
	trace  []Op
	last   *Op // the last op applied

	rule      *Rule
	afterSeen int  // ops matching rule.After so far
	armed     bool // counting for rule.At
	atSeen    int

	frozen   bool
	cutOp    *Op    // the op that hit the rule or, after Freeze, the first op held
	cutWhy   string // how the cut was made
	cutC     chan struct{}
	release  chan struct{}
	released sync.Once
}

const maxTrace = 1 << 18

func newBoot() *boot {
	return &boot{counts: map[string]int{}, cutC: make(chan struct{}), release: make(chan struct{})}
}

// begin counts op and decides whether it may be applied; f.mu is held. It
// returns false when the filesystem is or becomes frozen: the caller must
// not apply op, unlock, and return f.hold().
func (f *FS) begin(op *Op) bool {
	b := f.boot
	if b.frozen {
		if b.cutOp == nil {
			cp := *op
			cp.N = b.counts[string(op.Kind)+"\x00"+op.Pattern()] + 1
			b.cutOp = &cp
		}
		return false
	}
	key := string(op.Kind) + "\x00" + op.Pattern()
	b.counts[key]++
	op.N = b.counts[key]
	if r := b.rule; r != nil {
		if !b.armed && r.After != nil && r.After.matches(op) {
			b.afterSeen++
			b.armed = b.afterSeen == max(r.AfterN, 1)
		}
		if b.armed && r.At.matches(op) {
			b.atSeen++
			if b.atSeen == max(r.N, 1) {
				cp := *op
				b.cutOp = &cp
				b.cutWhy = "at " + op.String() + " (rule: " + r.String() + ")"
				f.freezeLocked()
				return false
			}
		}
	}
	if len(b.trace) < maxTrace {
		b.trace = append(b.trace, *op)
	}
	cp := *op
	b.last = &cp
	return true
}

// hold blocks a request that was not applied until ReleaseBlocked, then
// fails it with EIO, as a disk without power would never answer.
func (f *FS) hold() {
	f.mu.Lock()
	rel := f.boot.release
	f.mu.Unlock()
	<-rel
}

func (f *FS) freezeLocked() {
	if !f.boot.frozen {
		f.boot.frozen = true
		close(f.boot.cutC)
	}
}

// SetRule arms r for the current mount (or the next one, if none): the
// filesystem freezes at the op r names. nil disarms.
func (f *FS) SetRule(r *Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.mounted && f.boot.used {
		f.boot = newBoot()
	}
	b := f.boot
	b.rule, b.afterSeen, b.atSeen = r, 0, 0
	b.armed = r != nil && r.After == nil
}

// Freeze stops applying mutations now: a cut at a random moment.
func (f *FS) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.boot
	if b.frozen {
		return
	}
	b.cutWhy = "at a random moment"
	if b.last != nil {
		b.cutWhy += ", after " + b.last.String()
	}
	f.freezeLocked()
}

// Cut returns a channel closed when the filesystem freezes, by a rule or
// by Freeze.
func (f *FS) Cut() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boot.cutC
}

// Frozen reports whether the filesystem is frozen.
func (f *FS) Frozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boot.frozen
}

// CutPoint describes where the filesystem froze, e.g. "at fsync #3 of
// kt/ledger/segments/*.seg", or "" if it did not.
func (f *FS) CutPoint() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.boot
	if !b.frozen {
		return ""
	}
	s := b.cutWhy
	if b.rule == nil || b.cutOp == nil || !strings.HasPrefix(s, "at "+b.cutOp.String()) {
		if b.cutOp != nil {
			s += "; first held: " + b.cutOp.String()
		} else {
			s += "; no op held"
		}
	}
	return s
}

// ReleaseBlocked makes every held request, and every mutating request
// after it, fail with EIO. Call it once the processes using the mount are
// killed, so that they can exit.
func (f *FS) ReleaseBlocked() {
	f.mu.Lock()
	b := f.boot
	f.mu.Unlock()
	b.released.Do(func() { close(b.release) })
}

// Trace returns the ops applied since the mount, in order (at most 262144).
func (f *FS) Trace() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.boot.trace...)
}
