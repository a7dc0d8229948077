package queue

import (
	"context"
	"crypto/sha256"
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
	"golang.org/x/mod/sumdb/tlog"
)

// Options configure a Ledger. Zero values take the documented defaults.
type Options struct {
	Dir                string           // e.g. <data_dir>/ledger; created if absent (0700)
	Signer             *ledger.Signer   // signs entries and checkpoints; required
	Version            string           // kt version, written into genesis
	Origin             string           // checkpoint origin; "" => the genesis origin, else "kt/" + ledger id
	CheckpointInterval time.Duration    // ledger.checkpoint entries, only when there are new entries; default 10s
	CommitInterval     time.Duration    // min gap between two signed commit checkpoints unless 256 events wait; default 10ms
	MaxPending         int              // events accepted but not committed before Append returns ErrFull; default 200000
	SegmentBytes       int64            // roll to a new segment past this; default 64 MiB
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
		o.CheckpointInterval = 10 * time.Second
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 10 * time.Millisecond
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 200000
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
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

// Pending is an event to append.
type Pending struct {
	ID     string   // event id, the dedupe key
	Digest [16]byte // content digest: same id + same digest = retry, other digest = conflict
	Body   []byte   // RFC 8785 canonical JSON body without ledger fields; not modified by Append, must not be modified by the caller
}

// AppendResult tells what Append did with each record.
type AppendResult struct {
	Seqs              []uint64 // for each input record, its seq (new, or of the earlier entry it duplicates)
	New               int      // entries written by this call
	Duplicates        int
	FirstSeq, LastSeq uint64 // range of the new entries (valid when New > 0)
}

var (
	// ErrFull is returned by Append when MaxPending would be exceeded or
	// the disk refused the write; nothing of that call is acknowledged and
	// the caller may retry later (the webhook answers 503).
	ErrFull = errors.New("queue: ledger full or unwritable, retry later")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrBroken is returned (wrapped, with the cause) by Append once an
	// fdatasync of a segment failed. The data of the written commits may
	// be lost from the page cache and the sync cannot be retried
	// reliably, so the ledger acknowledges nothing more: the process must
	// exit, and Open recovers from what is on disk. See Ledger.Failed.
	ErrBroken = errors.New("queue: fsync failed; restart kt to recover")
)

// ConflictError refuses an Append whose record Index has an id that is
// already in the ledger (at Seq), or was lost in damage at Seq (Lost; the
// id stays reserved, see the package doc), or is earlier in the same call
// (at record Earlier, Seq 0) with another digest. Nothing of that call is
// written.
type ConflictError struct {
	Index   int
	ID      string
	Seq     uint64
	Earlier int  // index of the earlier record of the same call, or -1
	Lost    bool // the entry at Seq was lost in damaged frames; its id is reserved
}

func (e *ConflictError) Error() string {
	switch {
	case e.Earlier >= 0:
		return fmt.Sprintf("queue: record %d: id %q conflicts with record %d of the same call", e.Index, e.ID, e.Earlier)
	case e.Lost:
		return fmt.Sprintf("queue: record %d: id %q belongs to the entry at seq %d, lost in damaged storage, which had other content; the id stays reserved", e.Index, e.ID, e.Seq)
	}
	return fmt.Sprintf("queue: record %d: id %q is already in the ledger at seq %d with other content", e.Index, e.ID, e.Seq)
}

// ErrInvalidRecord is matched (errors.Is) by every *RecordError.
var ErrInvalidRecord = errors.New("queue: invalid record")

// RecordError refuses a Submit or Append whose record Index can never be
// written: an id that is empty or longer than 65535 bytes, a body that is
// not a JSON object, or an entry larger than 16 MiB. Nothing of that call
// is written, and retrying it fails the same way: the caller refuses the
// record (HTTP 400, a dead letter) rather than retrying it.
type RecordError struct {
	Index  int
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("queue: record %d: %s", e.Index, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidRecord) true.
func (e *RecordError) Is(target error) bool { return target == ErrInvalidRecord }

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

// idKey is the key of the id index: the first 16 bytes of SHA-256 of the
// event id. A fixed-size key keeps the index free of pointers, so the
// garbage collector never scans it — with a million entries, scanning a map
// of string keys costs a quarter of the agent's CPU — and halves its
// memory. Two different ids collide with probability about n²/2¹²⁹: for a
// billion entries, 10⁻²¹.
type idKey [16]byte

func keyOf(id []byte) idKey {
	h := sha256.Sum256(id)
	return idKey(h[:16])
}

func keyOfString(id string) idKey {
	h := sha256.Sum256([]byte(id))
	return idKey(h[:16])
}

type idRec struct {
	seq    uint64
	digest [16]byte
}

type request struct {
	recs []Pending
	res  AppendResult
	err  error
	done chan struct{}
}

// syncItem is a written commit handed from the writer to the syncer.
type syncItem struct {
	group     []*request
	dups      uint64
	conflicts uint64
	noWrite   bool // nothing written: only acknowledge, in order
	seg       *os.File
	segFirst  uint64
	end       int64 // end of the segment after this commit
	size      uint64
	cp        *ledger.Checkpoint
}

type segInfo struct {
	first uint64
	path  string
	end   int64 // committed bytes
}

// Ledger is the ledger on disk. Append, the readers and the accessors are
// safe for concurrent use.
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
		segDir:  filepath.Join(opts.Dir, "segments"),
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
	tree, err := openHashStore(filepath.Join(opts.Dir, "tree.hashes"))
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

// commitAndSync commits with force and waits until the commit is durable.
func (l *Ledger) commitAndSync(group []*request, pre *wentry) error {
	err := l.commit(group, pre, true)
	l.drain()
	if err == nil {
		err = l.Err()
	}
	return err
}

func internalEntry(kind byte, id string, body []byte) *wentry {
	d := sha256.Sum256(body)
	e := &wentry{kind: kind, id: []byte(id), body: body}
	copy(e.digest[:], d[:16])
	return e
}

// Append writes recs to the ledger and returns when they are durable and
// covered by a signed checkpoint. It returns ErrFull (wrapped) when too
// many events are pending or the disk refused the write, a *ConflictError
// when an id is already used with other content, ErrClosed after Close,
// ErrBroken (wrapped) once an fdatasync failed (then for good). On
// any error nothing of the call is acknowledged. If ctx ends first, Append
// returns ctx.Err() but the records may still be written (a retry is then
// a duplicate). Bodies must not be modified after the call.
func (l *Ledger) Append(ctx context.Context, recs []Pending) (AppendResult, error) {
	t, err := l.Submit(recs)
	if err != nil {
		return AppendResult{}, err
	}
	return t.Wait(ctx)
}

// Ticket is a batch of records handed to the ledger by Submit.
type Ticket struct {
	req *request
}

// Submit hands recs to the ledger and returns without waiting for them to
// be durable: Wait on the ticket does. Batches submitted by one goroutine
// get their seqs in submission order, so a source can read and normalize
// its next batch while the ledger commits the one before. Submit returns
// the errors Append returns before writing (ErrFull, ErrClosed, ErrBroken,
// and a *RecordError for a record that can never be written); the rest
// come from Wait.
func (l *Ledger) Submit(recs []Pending) (*Ticket, error) {
	if len(recs) == 0 {
		r := &request{done: make(chan struct{})}
		close(r.done)
		return &Ticket{req: r}, nil
	}
	for i := range recs {
		r := &recs[i]
		if r.ID == "" || len(r.ID) > maxIDLen {
			return nil, &RecordError{Index: i, Reason: fmt.Sprintf("id of %d bytes: want 1 to %d", len(r.ID), maxIDLen)}
		}
		if len(r.Body) < 2 || r.Body[0] != '{' || r.Body[len(r.Body)-1] != '}' {
			return nil, &RecordError{Index: i, Reason: "body is not a JSON object"}
		}
		if entryFixedSize+len(r.ID)+len(l.keyID)+len(r.Body) > maxPayload {
			return nil, &RecordError{Index: i, Reason: fmt.Sprintf("entry of %d bytes is larger than the %d bytes a frame holds", entryFixedSize+len(r.ID)+len(l.keyID)+len(r.Body), maxPayload)}
		}
	}
	req := &request{recs: recs, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if l.broken != nil {
		err := l.broken
		l.mu.Unlock()
		return nil, err
	}
	if l.pending+len(recs) > l.opts.MaxPending {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %d events pending", ErrFull, l.pending)
	}
	l.pending += len(recs)
	l.queue = append(l.queue, req)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return &Ticket{req: req}, nil
}

// Wait returns when the ticket's records are durable and covered by a
// signed checkpoint, with Append's result and errors. If ctx ends first it
// returns ctx.Err(), but the records may still be written.
func (t *Ticket) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-t.req.done:
		return t.req.res, t.req.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
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
		if err := writeFileAtomic(filepath.Join(l.opts.Dir, "checkpoint"), latest.Note, true); err != nil {
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

// writeFileAtomic writes data to path through a temp file and rename.
func writeFileAtomic(path string, data []byte, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

// Ensure the hash store satisfies tlog.HashReader.
var _ tlog.HashReader = (*hashStore)(nil)
