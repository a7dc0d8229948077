package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/ledger"
)

// Defaults of Options: a zero value takes these.
const (
	// DefaultCheckpointInterval is how often a ledger.checkpoint entry is
	// appended while there are new entries.
	DefaultCheckpointInterval = 10 * time.Second
	// DefaultCommitInterval is the least time between two group commits,
	// each with its signed commit checkpoint and fdatasync, unless
	// fullCommit (256) events wait.
	DefaultCommitInterval = 10 * time.Millisecond
	// DefaultMaxPending is how many events may be accepted and not yet
	// committed before Append returns ErrFull.
	DefaultMaxPending = 200000
	// DefaultSegmentBytes is the size past which the writer starts a new
	// segment file (64 MiB).
	DefaultSegmentBytes int64 = 64 << 20
)

// Files and directories in Options.Dir (see the package doc, "Files");
// damageFile is in damage.go.
const (
	segmentsDir    = "segments"
	hashStoreFile  = "tree.hashes"
	checkpointFile = "checkpoint"
	quarantineDir  = "quarantine"
)

// Options configure a Ledger. Zero values take the documented defaults.
type Options struct {
	Dir                string           // e.g. <data_dir>/ledger; created if absent (0700)
	Signer             *ledger.Signer   // signs entries and checkpoints; required
	Version            string           // kt version, written into genesis
	Origin             string           // checkpoint origin; "" => the genesis origin, else "kt/" + ledger id
	CheckpointInterval time.Duration    // ledger.checkpoint entries, only when there are new entries; default DefaultCheckpointInterval (10s)
	CommitInterval     time.Duration    // min gap between two signed commit checkpoints unless 256 events wait; default DefaultCommitInterval (10ms)
	MaxPending         int              // events accepted but not committed before Append returns ErrFull; default DefaultMaxPending (200000)
	SegmentBytes       int64            // roll to a new segment past this; default DefaultSegmentBytes (64 MiB)
	Logger             *slog.Logger     // nil => discard
	Now                func() time.Time // nil => time.Now
	NewID              func() string    // ids of the ledger's own entries; nil => UUIDv7
	// CursorDir is the sinks' cursor directory (see Cursors), or "". A
	// cursor there shows that the ledger held the entries below it: Open
	// never starts a new ledger, nor gives out a seq again, below the
	// largest one (see the package doc, "Evidence of a ledger").
	CursorDir string
}

func (o *Options) setDefaults() {
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
}

// Stats are counters for metrics.
type Stats struct {
	Size               uint64 // committed entries
	Commits            uint64 // group commits since Open
	Duplicates         uint64 // records not written again
	Conflicts          uint64 // Append calls refused by a conflict
	WriteErrors        uint64 // commits that failed: rolled back, or not synced (see ErrBroken)
	PendingEvents      int    // accepted, not yet committed
	Damaged            int    // damaged ranges found by Open, in any segment (torn tails excluded)
	DamageUnacked      int    // damage records not acknowledged yet (see Ledger.Damage)
	TornBytes          int64  // bytes cut from the last segment by Open
	Segments           int
	LastCommitUnixNano int64
}

// Ledger is the ledger on disk. Append, the readers, the proofs and the
// accessors are safe for concurrent use.
type Ledger struct {
	opts     Options
	log      *slog.Logger
	keyID    []byte
	origin   string
	ledgerID string
	segDir   string

	// Owned by the writer goroutine (and Open before it starts).
	seg         *os.File
	segFirst    uint64
	segOff      int64 // end of the last commit written to seg (durable once the syncer is idle)
	next        uint64
	tip         ledger.Hash
	tree        *hashStore
	index       map[idKey]idRec
	callIDs     map[string]int
	ids         []byte          // the ids of ents
	ckptEntryTo uint64          // Size right after the last ledger.checkpoint entry
	reserved    map[idKey]idRec // ids of entries lost in damage, by the seq they had
	buf         []byte
	ents        []wentry
	keys        []idKey // the id keys of ents
	recKeys     []idKey // scratch: the id keys of one request's records
	lastCommit  time.Time
	latestW     *ledger.Checkpoint
	skippedTo   int64        // largest size of the checkpoint frames on disk that Open skipped
	last        *lastSeg     // the last segment as recovery found it
	failWrite   func() error // test hook: fail the next segment writes
	failSync    func() error // test hook: fail the next segment fdatasyncs (read by the syncer)

	// The writer hands each written commit to the syncer goroutine, which
	// fdatasyncs it and publishes it, in commit order.
	syncq    chan *syncItem
	syncing  sync.WaitGroup // commits handed to the syncer and not yet published or failed
	syncDone chan struct{}  // closed when the syncer has returned

	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	queue    []*request
	pending  int
	closed   bool
	segs     []segInfo
	rejected map[string]map[int64]bool // frames recovery did not accept, by segment path and offset; readers skip them
	size     uint64
	latest   *ledger.Checkpoint
	changed  chan struct{}
	stats    Stats
	closeErr error
	broken   error          // ErrBroken with its cause, once an fdatasync failed
	failed   chan struct{}  // closed when broken is set
	damage   []DamageRecord // the damage register (see Damage)

	ackMu sync.Mutex // serializes AckDamage
}

// Open opens or creates the ledger in opts.Dir. It recovers from a crash
// (cuts a torn tail of the last segment), records, logs and quarantines
// damaged segments without refusing to start (keeping the entries after
// the damage at their seqs, see the package doc), appends a ledger.damage
// entry for each damage it finds first, rebuilds the id index and
// recomputes the hash store. A new ledger gets its genesis entry (seq 0)
// and a checkpoint. Open returns ErrLost (wrapped), and cuts or writes no
// segment, rather than start a new ledger where one existed.
func Open(opts Options) (*Ledger, error) {
	opts.setDefaults()
	if opts.Signer == nil {
		return nil, errors.New("queue: open: no signer")
	}
	if opts.Dir == "" {
		return nil, errors.New("queue: open: no directory")
	}
	l := &Ledger{
		opts:    opts,
		log:     opts.Logger,
		keyID:   []byte(opts.Signer.KeyID()),
		segDir:  filepath.Join(opts.Dir, segmentsDir),
		index:   map[idKey]idRec{},
		callIDs: map[string]int{},
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		failed:  make(chan struct{}),
	}
	if err := atomicfile.MkdirAll(l.segDir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: open: %w", err)
	}
	// Directories an earlier version made without syncing their parents.
	if err := errors.Join(atomicfile.SyncParent(l.segDir), atomicfile.SyncParent(opts.Dir)); err != nil {
		return nil, fmt.Errorf("queue: open: %w", err)
	}
	tree, err := openHashStore(filepath.Join(opts.Dir, hashStoreFile))
	if err != nil {
		return nil, err
	}
	l.tree = tree
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.syncq = make(chan *syncItem, 1)
	l.syncDone = make(chan struct{})
	go l.syncLoop()
	if err := l.start(); err != nil {
		l.stopSyncer()
		l.closeFiles()
		return nil, err
	}
	go l.run()
	l.recordDamage()
	return l, nil
}

func (l *Ledger) closeFiles() {
	if l.seg != nil {
		l.seg.Close()
	}
	l.tree.close()
}

// start writes the genesis of a new ledger, or a checkpoint over entries
// that a crash left without one.
func (l *Ledger) start() error {
	if l.next == 0 {
		// recover refused to get here if a ledger existed.
		if l.ledgerID == "" {
			l.ledgerID = uuid.NewString()
		}
		l.origin = l.opts.Origin
		if l.origin == "" {
			l.origin = "kt/" + l.ledgerID
		}
		id := l.opts.NewID()
		body, err := ledger.GenesisBody(id, l.opts.Now(), ledger.Genesis{
			LedgerID: l.ledgerID, Origin: l.origin, VerifierKey: l.opts.Signer.VerifierKey(),
			KeyID: l.opts.Signer.KeyID(), Version: l.opts.Version,
		})
		if err != nil {
			return err
		}
		if err := l.commitAndSync(nil, internalEntry(entryGenesis, id, body)); err != nil {
			return fmt.Errorf("queue: write genesis: %w", err)
		}
		l.log.Info("queue: new ledger", "dir", l.opts.Dir, "ledger_id", l.ledgerID, "origin", l.origin)
		return nil
	}
	if l.opts.Origin != "" {
		l.origin = l.opts.Origin
	}
	if l.origin == "" {
		l.origin = "kt/" + l.ledgerID
	}
	if l.latestW == nil || uint64(l.latestW.Size) != l.next {
		if l.skippedTo >= int64(l.next) {
			// A checkpoint frame of this size is on disk, signed over
			// other leaves: the real ones of entries lost in damage, now
			// placeholders. Two roots for one size would look like a fork;
			// the next commit signs a larger tree.
			l.log.Warn("queue: no checkpoint after recovery; a checkpoint of this size was signed before the damage", "size", l.next)
			return nil
		}
		if err := l.commitAndSync(nil, nil); err != nil {
			return fmt.Errorf("queue: checkpoint after recovery: %w", err)
		}
	}
	return nil
}

// Close drains the queue, appends a final ledger.checkpoint entry if there
// are entries since the last one, commits and closes the files. It is safe
// to call more than once; later calls return the first call's result. On a
// broken ledger (see Failed) it closes the files and returns the ErrBroken
// error.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return l.closeErr
	}
	l.closed = true
	l.mu.Unlock()
	close(l.closing)
	<-l.done
	l.mu.Lock()
	latest := l.latest
	l.mu.Unlock()
	if latest != nil && l.Err() == nil {
		// After each commit the file is replaced without an fsync; the
		// last one is made durable.
		if err := atomicfile.WriteFile(filepath.Join(l.opts.Dir, checkpointFile), latest.Note, 0o600); err != nil {
			l.log.Warn("queue: write checkpoint file", "err", err)
		}
	}
	err := l.seg.Close()
	if terr := l.tree.flush(); terr != nil && err == nil {
		err = terr
	}
	if terr := l.tree.close(); terr != nil && err == nil {
		err = terr
	}
	l.mu.Lock()
	if err == nil {
		err = l.broken
	}
	l.closeErr = err
	l.mu.Unlock()
	return err
}

// Size returns the number of committed entries, which is the next seq.
func (l *Ledger) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// LatestCheckpoint returns the newest signed commit checkpoint. The
// caller must not modify it.
func (l *Ledger) LatestCheckpoint() *ledger.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// LedgerID returns the id written in the genesis entry.
func (l *Ledger) LedgerID() string { return l.ledgerID }

// Origin returns the checkpoint origin.
func (l *Ledger) Origin() string { return l.origin }

// Changed returns a channel that is closed at the next commit. Call it
// again after it fires.
func (l *Ledger) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Failed returns a channel that is closed when the ledger breaks: an
// fdatasync of a segment failed, nothing is acknowledged any more and every
// Append returns ErrBroken. The owner should then Close the ledger and exit
// so that kt is restarted; Open recovers from the disk state.
func (l *Ledger) Failed() <-chan struct{} { return l.failed }

// Err returns the ErrBroken error (wrapped, with the cause) once the ledger
// is broken, else nil.
func (l *Ledger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken
}

// Stats returns a snapshot of the counters.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Size = l.size
	s.PendingEvents = l.pending
	s.Segments = len(l.segs)
	return s
}
