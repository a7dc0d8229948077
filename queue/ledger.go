package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
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
// already in the ledger (at Seq) or earlier in the same call (at record
// Earlier, Seq 0) with another digest. Nothing of that call is written.
type ConflictError struct {
	Index   int
	ID      string
	Seq     uint64
	Earlier int // index of the earlier record of the same call, or -1
}

func (e *ConflictError) Error() string {
	if e.Earlier >= 0 {
		return fmt.Sprintf("queue: record %d: id %q conflicts with record %d of the same call", e.Index, e.ID, e.Earlier)
	}
	return fmt.Sprintf("queue: record %d: id %q is already in the ledger at seq %d with other content", e.Index, e.ID, e.Seq)
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
	ids         []byte // the ids of ents
	ckptEntryTo uint64 // Size right after the last ledger.checkpoint entry
	buf         []byte
	ents        []wentry
	lastCommit  time.Time
	latestW     *ledger.Checkpoint
	skippedTo   int64        // largest size of the checkpoint frames on disk that Open skipped
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
	broken   error         // ErrBroken with its cause, once an fdatasync failed
	failed   chan struct{} // closed when broken is set
}

// Open opens or creates the ledger in opts.Dir. It recovers from a crash
// (cuts a torn tail of the last segment), reports and quarantines damaged
// segments without refusing to start (keeping the entries after the damage
// at their seqs, see the package doc), rebuilds the id index and repairs
// the hash store. A new ledger gets its genesis entry (seq 0) and a
// checkpoint.
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
	if err := os.MkdirAll(l.segDir, 0o700); err != nil {
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
// invalid records); the rest come from Wait.
func (l *Ledger) Submit(recs []Pending) (*Ticket, error) {
	if len(recs) == 0 {
		r := &request{done: make(chan struct{})}
		close(r.done)
		return &Ticket{req: r}, nil
	}
	for i := range recs {
		r := &recs[i]
		if r.ID == "" || len(r.ID) > maxIDLen {
			return nil, fmt.Errorf("queue: record %d: id length %d out of range", i, len(r.ID))
		}
		if len(r.Body) < 2 || r.Body[0] != '{' || r.Body[len(r.Body)-1] != '}' {
			return nil, fmt.Errorf("queue: record %d: body is not a JSON object", i)
		}
		if entryFixedSize+len(r.ID)+len(l.keyID)+len(r.Body) > maxPayload {
			return nil, fmt.Errorf("queue: record %d: body of %d bytes is too large", i, len(r.Body))
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

// run is the writer goroutine: it gathers, chains, signs and writes one
// commit while the syncer fdatasyncs and publishes the one before.
func (l *Ledger) run() {
	defer close(l.done)
	defer l.stopSyncer()
	ticker := time.NewTicker(l.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		ckptDue, closing := false, false
		select {
		case <-l.wake:
		case <-ticker.C:
			ckptDue = true
		case <-l.closing:
			closing = true
		}
		if d := l.opts.CommitInterval - time.Since(l.lastCommit); d > 0 && !closing && l.queued() < fullCommit {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.closing:
				closing = true
			}
			t.Stop()
		}
		l.mu.Lock()
		group := l.queue
		l.queue = nil
		l.mu.Unlock()
		var pre *wentry
		if (ckptDue || closing) && l.next > l.ckptEntryTo && l.latestW != nil && uint64(l.latestW.Size) == l.next && l.Err() == nil {
			pre = l.checkpointEntry()
		}
		if len(group) > 0 || pre != nil {
			if err := l.commit(group, pre, false); err != nil && pre != nil && len(group) == 0 {
				l.log.Error("queue: checkpoint entry", "err", err)
			}
		}
		if closing {
			return
		}
	}
}

// fullCommit is the number of waiting events that makes a commit worth its
// checkpoint signature and fdatasync at once, without waiting for the rest
// of CommitInterval.
const fullCommit = 256

// queued returns the number of events waiting for the writer.
func (l *Ledger) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.queue {
		n += len(r.recs)
	}
	return n
}

func (l *Ledger) checkpointEntry() *wentry {
	id := l.opts.NewID()
	body, err := ledger.CheckpointBody(id, l.opts.Now(), l.latestW)
	if err != nil {
		l.log.Error("queue: checkpoint entry", "err", err)
		return nil
	}
	return internalEntry(entryCheckpoint, id, body)
}

// commit writes one group: pre (an entry of the ledger's own, or nil),
// then the new records of every request, then a signed checkpoint. With
// force it writes a checkpoint even with no new entries. It acknowledges
// nothing: it hands the written commit to the syncer, which does after the
// fdatasync. It returns an error when the commit was not written.
func (l *Ledger) commit(group []*request, pre *wentry, force bool) (err error) {
	if err := l.Err(); err != nil {
		l.finish(group, 0, 0, err)
		return err
	}
	l.lastCommit = time.Now()
	startSeq := l.next
	ents := l.ents[:0]
	ids := l.ids[:0]
	if pre != nil {
		ents = append(ents, *pre)
		l.index[keyOf(pre.id)] = idRec{seq: startSeq, digest: pre.digest}
	}
	var dups, conflicts uint64
	for _, req := range group {
		// Pass 1: refuse the whole request on a conflict.
		clear(l.callIDs)
		for i := range req.recs {
			r := &req.recs[i]
			if old, ok := l.index[keyOfString(r.ID)]; ok && old.digest != r.Digest {
				req.err = &ConflictError{Index: i, ID: r.ID, Seq: old.seq, Earlier: -1}
				break
			}
			if len(req.recs) == 1 {
				break
			}
			if j, ok := l.callIDs[r.ID]; ok && req.recs[j].Digest != r.Digest {
				req.err = &ConflictError{Index: i, ID: r.ID, Earlier: j}
				break
			}
			l.callIDs[r.ID] = i
		}
		if req.err != nil {
			conflicts++
			continue
		}
		// Pass 2: assign seqs.
		req.res.Seqs = make([]uint64, len(req.recs))
		for i := range req.recs {
			r := &req.recs[i]
			k := keyOfString(r.ID)
			if old, ok := l.index[k]; ok {
				req.res.Seqs[i] = old.seq
				req.res.Duplicates++
				continue
			}
			seq := startSeq + uint64(len(ents))
			l.index[k] = idRec{seq: seq, digest: r.Digest}
			// The ids share one buffer; a slice into an outgrown array
			// still reads the same bytes.
			n := len(ids)
			ids = append(ids, r.ID...)
			ents = append(ents, wentry{kind: entryEvent, id: ids[n:len(ids):len(ids)], digest: r.Digest, body: r.Body})
			if req.res.New == 0 {
				req.res.FirstSeq = seq
			}
			req.res.New++
			req.res.LastSeq = seq
			req.res.Seqs[i] = seq
		}
		dups += uint64(req.res.Duplicates)
	}
	l.ents, l.ids = ents, ids

	if len(ents) == 0 && !force {
		// Duplicates of entries of a commit still being synced are
		// acknowledged after it: through the syncer, in order.
		l.handOff(&syncItem{group: group, dups: dups, conflicts: conflicts, noWrite: true})
		return nil
	}

	// Chain, sequentially.
	prev := l.tip
	total := 0
	for i := range ents {
		e := &ents[i]
		e.seq = startSeq + uint64(i)
		e.prev = prev
		e.keyID = l.keyID
		e.hash = ledger.EntryHash(e.seq, prev, e.body)
		prev = e.hash
		total += frameHeaderSize + e.payloadSize()
	}
	// Sign and encode in parallel.
	buf := l.buf[:0]
	if cap(buf) < total {
		buf = make([]byte, 0, total+total/4)
	}
	buf = buf[:total]
	l.signAndEncode(ents, buf)

	// Tree and checkpoint.
	markN, markLeaves := l.tree.mark()
	rollback := func(cause error, truncate bool) error {
		// The commits before this one are published or failed first: the
		// segment is cut back to the end of the last one written.
		l.drain()
		if truncate {
			l.truncateSeg()
		}
		l.tree.rollback(markN, markLeaves)
		for i := range ents {
			delete(l.index, keyOf(ents[i].id))
		}
		l.buf = buf[:0]
		l.mu.Lock()
		l.stats.WriteErrors++
		l.mu.Unlock()
		err := l.Err()
		if err == nil {
			err = fmt.Errorf("%w: %v", ErrFull, cause)
		}
		l.finish(group, dups, conflicts, err)
		return err
	}
	for i := range ents {
		if err := l.tree.appendLeaf(ents[i].hash); err != nil {
			return rollback(err, false)
		}
	}
	newSize := startSeq + uint64(len(ents))
	root, err := l.tree.root(int64(newSize))
	if err != nil {
		return rollback(err, false)
	}
	cp, err := ledger.SignCheckpoint(l.opts.Signer, l.origin, int64(newSize), root)
	if err != nil {
		return rollback(err, false)
	}
	buf = appendCheckpointFrame(buf, cp)

	// One write here; the fdatasync in the syncer.
	if l.failWrite != nil {
		if err := l.failWrite(); err != nil {
			return rollback(err, false)
		}
	}
	if _, err := l.seg.WriteAt(buf, l.segOff); err != nil {
		return rollback(err, true)
	}
	l.segOff += int64(len(buf))
	l.buf = buf[:0]
	l.next = newSize
	l.tip = prev
	l.latestW = cp
	for i := range ents {
		if ents[i].kind == entryCheckpoint {
			l.ckptEntryTo = ents[i].seq + 1
		}
		ents[i] = wentry{} // drop references to caller bodies
	}
	// Unsynced leaves may reach the store file: Open cuts a store longer
	// than the ledger.
	if err := l.tree.flush(); err != nil {
		l.log.Warn("queue: hash store", "err", err)
	}
	l.handOff(&syncItem{group: group, dups: dups, conflicts: conflicts, seg: l.seg, segFirst: l.segFirst, end: l.segOff, size: newSize, cp: cp})

	if l.segOff >= l.opts.SegmentBytes {
		// The syncer holds the old segment until it is idle.
		l.drain()
		if l.Err() == nil {
			if err := l.roll(); err != nil {
				l.log.Error("queue: roll segment", "err", err)
			}
		}
	}
	return nil
}

// handOff passes a commit to the syncer. It blocks while the syncer has one
// commit queued besides the one it syncs.
func (l *Ledger) handOff(c *syncItem) {
	l.syncing.Add(1)
	l.syncq <- c
}

// drain waits until the syncer has published or failed every commit handed
// to it. Only the writer (or Open before it) calls it.
func (l *Ledger) drain() { l.syncing.Wait() }

// stopSyncer drains the syncer and stops it.
func (l *Ledger) stopSyncer() {
	l.drain()
	close(l.syncq)
	<-l.syncDone
}

// syncLoop is the syncer goroutine: for each written commit, in order, it
// fdatasyncs the segment, then publishes the commit (size, checkpoint,
// segment end) and acknowledges its requests. After a failed fdatasync it
// breaks the ledger and fails every commit it gets.
func (l *Ledger) syncLoop() {
	defer close(l.syncDone)
	for c := range l.syncq {
		l.publish(c)
		l.syncing.Done()
	}
}

func (l *Ledger) publish(c *syncItem) {
	if err := l.Err(); err != nil {
		l.finish(c.group, c.dups, c.conflicts, err)
		return
	}
	if c.noWrite {
		l.finish(c.group, c.dups, c.conflicts, nil)
		return
	}
	var err error
	if l.failSync != nil {
		err = l.failSync()
	}
	if err == nil {
		err = datasync(c.seg)
	}
	if err != nil {
		// The written pages may be gone and a second fsync may report
		// success without them (fsyncgate): acknowledge nothing more.
		l.log.Error("queue: fdatasync failed; the ledger acknowledges nothing more, restart kt", "segment", c.seg.Name(), "err", err)
		l.mu.Lock()
		if l.broken == nil {
			l.broken = fmt.Errorf("%w: %v", ErrBroken, err)
			close(l.failed)
		}
		l.stats.WriteErrors++
		broken := l.broken
		l.mu.Unlock()
		l.finish(c.group, c.dups, c.conflicts, broken)
		return
	}
	if err := writeFileAtomic(filepath.Join(l.opts.Dir, "checkpoint"), c.cp.Note, false); err != nil {
		l.log.Warn("queue: write checkpoint file", "err", err)
	}
	l.mu.Lock()
	l.size = c.size
	l.latest = c.cp
	for i := len(l.segs) - 1; i >= 0; i-- {
		if l.segs[i].first == c.segFirst {
			l.segs[i].end = c.end
			break
		}
	}
	l.stats.Commits++
	l.stats.LastCommitUnixNano = l.opts.Now().UnixNano()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	l.finish(c.group, c.dups, c.conflicts, nil)
}

// finish ends the requests of a commit: with err, none of them is
// acknowledged (those refused by a conflict keep their error).
func (l *Ledger) finish(group []*request, dups, conflicts uint64, err error) {
	l.mu.Lock()
	for _, req := range group {
		if err != nil && req.err == nil {
			req.err = err
			req.res = AppendResult{}
		}
		l.pending -= len(req.recs)
		close(req.done)
	}
	l.stats.Duplicates += dups
	l.stats.Conflicts += conflicts
	l.mu.Unlock()
}

// truncateSeg cuts the segment back to the end of the last commit written
// after a failed write. The syncer must be idle.
func (l *Ledger) truncateSeg() {
	if err := l.seg.Truncate(l.segOff); err != nil {
		l.log.Error("queue: truncate after failed write", "err", err)
	}
}

func (l *Ledger) signAndEncode(ents []wentry, buf []byte) {
	work := func(lo, hi, off int) {
		hs := make([]ledger.Hash, hi-lo)
		sigs := make([][sigSize]byte, hi-lo)
		for i := lo; i < hi; i++ {
			hs[i-lo] = ents[i].hash
		}
		l.opts.Signer.SignHashes(hs, sigs)
		for i := lo; i < hi; i++ {
			e := &ents[i]
			e.sig = sigs[i-lo]
			n := frameHeaderSize + e.payloadSize()
			putEntryFrame(buf[off:off+n], e)
			off += n
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(ents) < 64 {
		work(0, len(ents), 0)
		return
	}
	var wg sync.WaitGroup
	chunk := (len(ents) + workers - 1) / workers
	off := 0
	for lo := 0; lo < len(ents); lo += chunk {
		hi := min(lo+chunk, len(ents))
		wg.Go(func(lo, hi, off int) func() { return func() { work(lo, hi, off) } }(lo, hi, off))
		for i := lo; i < hi; i++ {
			off += frameHeaderSize + ents[i].payloadSize()
		}
	}
	wg.Wait()
}

// roll starts a new segment at the next seq.
func (l *Ledger) roll() error {
	path := filepath.Join(l.segDir, segName(l.next))
	f, err := createSegment(path, l.next)
	if err != nil {
		return err
	}
	if err := syncDir(l.segDir); err != nil {
		f.Close()
		return err
	}
	l.seg.Close()
	l.seg, l.segFirst, l.segOff = f, l.next, segHeaderSize
	l.mu.Lock()
	l.segs = append(l.segs, segInfo{first: l.next, path: path, end: segHeaderSize})
	l.mu.Unlock()
	return nil
}

func createSegment(path string, first uint64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	if _, err := f.Write(appendSegHeader(nil, first)); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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

// recover scans the segments and rebuilds the writer state.
func (l *Ledger) recover() error {
	// A scan may rename a torn segment: list them again for each scan.
	scan := func(storeLeaves int64) error {
		segs, err := listSegments(l.segDir)
		if err != nil {
			return err
		}
		return l.scanAll(segs, storeLeaves)
	}
	storeLeaves := l.tree.leaves
	rebuilt := false
	for {
		err := scan(storeLeaves)
		if err == nil {
			break
		}
		if !errors.Is(err, errStoreMismatch) || rebuilt {
			return err
		}
		l.log.Warn("queue: hash store does not match the entries; rebuilding it")
		rebuilt = true
		storeLeaves = 0
		if err := l.tree.cut(0); err != nil {
			return err
		}
		l.resetState()
	}
	if err := l.tree.flush(); err != nil {
		return err
	}
	if l.tree.leaves > int64(l.next) {
		l.log.Warn("queue: hash store longer than the ledger; cut", "leaves", l.tree.leaves, "size", l.next)
		if err := l.tree.cut(int64(l.next)); err != nil {
			return err
		}
	}
	// Check the newest checkpoint against the tree and the key.
	if cp := l.latestW; cp != nil {
		root, err := l.tree.root(cp.Size)
		if err != nil || root != cp.Root {
			if !rebuilt {
				l.log.Warn("queue: tree root does not match the latest checkpoint; rebuilding the hash store")
				if err := l.tree.cut(0); err != nil {
					return err
				}
				l.resetState()
				if err := scan(0); err != nil {
					return err
				}
				if err := l.tree.flush(); err != nil {
					return err
				}
				root, err = l.tree.root(cp.Size)
			}
			if err != nil || root != cp.Root {
				l.log.Error("queue: latest checkpoint does not match the entries; a new one will be signed", "size", cp.Size)
				l.latestW = nil
			}
		}
		if l.latestW != nil {
			v, verr := ledger.NewVerifier(l.opts.Signer.VerifierKey())
			if verr == nil {
				if _, err := ledger.OpenCheckpoint(l.latestW.Note, ledger.Keyring{v.KeyID(): v}); err != nil {
					l.log.Error("queue: latest checkpoint is not signed by this key; a new one will be signed", "err", err)
					l.latestW = nil
				}
			}
		}
	}
	l.mu.Lock()
	l.size = l.next
	l.latest = l.latestW
	l.mu.Unlock()
	return nil
}

var errStoreMismatch = errors.New("queue: hash store mismatch")

// placeholderLeaf is the stored leaf of an entry lost in damaged frames:
// the leaf of the zero entry hash.
var placeholderLeaf = ledger.LeafHash(ledger.Hash{})

func (l *Ledger) resetState() {
	if l.seg != nil {
		l.seg.Close()
		l.seg = nil
	}
	clear(l.index)
	l.next, l.tip, l.ckptEntryTo, l.latestW, l.ledgerID, l.origin = 0, ledger.Hash{}, 0, nil, "", ""
	l.skippedTo = 0
	l.mu.Lock()
	l.segs = nil
	l.rejected = nil
	l.stats = Stats{}
	l.mu.Unlock()
}

// scanAll reads every segment, rebuilding the tip, the index and the leaves
// from storeLeaves on; it cuts the torn tail of the last segment and
// quarantines damaged ones, and leaves the last segment open for writing.
//
// Damage is handled the same in every segment, the last one included:
// entries lost in a damaged range get placeholder leaves (leaf index = seq)
// and the scan goes on at the next valid frame, so the writer continues
// after the last valid entry and never reuses a seq that was written.
//
// The first storeLeaves leaves come from the hash store unread, and the
// checkpoint frames are checked against that tree while the scan runs, so
// the scan is only valid if the store holds the tree of the entries read.
// scanAll checks that before it cuts anything, at the last entry it read
// below storeLeaves, and before each gap below storeLeaves at the last
// entry before it: the accepted entries between two gaps form one chain,
// so if that leaf matches, so do the leaves before it. Otherwise it returns
// errStoreMismatch and the caller scans again with an empty store. Where
// the store holds a leaf other than the placeholder for a lost entry (the
// real one, stored before the damage), scanAll cuts the store there and
// rebuilds the rest: the store must hold the tree the readers can compute.
func (l *Ledger) scanAll(segs []segFile, storeLeaves int64) error {
	var e wentry
	var lost int64        // damaged bytes since the last accepted entry: they may hold lost entries
	tipLost := false      // the entry before l.next is lost: the next one cannot be chain-checked
	checkSeq := int64(-1) // the last entry read that has a leaf in the store
	var checkHash ledger.Hash
	var skippedHere int64 // largest size of the skipped checkpoint frames after the last kept frame
	firstGap := int64(-1) // the first seq lost in damage
	checkStore := func() error {
		if checkSeq < 0 {
			return nil
		}
		if h, err := l.tree.leaf(checkSeq); err != nil || h != ledger.LeafHash(checkHash) {
			return errStoreMismatch
		}
		return nil
	}
	// fill gives the seqs from l.next up to to, lost in damaged bytes,
	// placeholder leaves.
	fill := func(to uint64) error {
		if firstGap < 0 && l.next < to {
			firstGap = int64(l.next)
		}
		if int64(l.next) < storeLeaves {
			if err := checkStore(); err != nil {
				return err
			}
		}
		for ; l.next < to; l.next++ {
			if int64(l.next) < storeLeaves {
				if h, err := l.tree.leaf(int64(l.next)); err == nil && h == placeholderLeaf {
					continue
				}
				l.log.Warn("queue: hash store holds a lost entry; rebuilding it from there", "seq", l.next)
				if err := l.tree.cut(int64(l.next)); err != nil {
					return err
				}
				storeLeaves = int64(l.next)
			}
			if err := l.tree.appendLeaf(ledger.Hash{}); err != nil {
				return err
			}
		}
		return nil
	}
	// canBeLost tells whether the damaged bytes since the last accepted
	// entry could hold missing entries.
	canBeLost := func(missing uint64) bool {
		return lost > 0 && missing <= uint64(lost/minEntryFrame)+1
	}
	for si, s := range segs {
		last := si == len(segs)-1
		b, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("queue: read segment %s: %w", s.name, err)
		}
		keptEnd := segHeaderSize  // end of the last frame Open keeps
		validEnd := segHeaderSize // end of the last valid frame, accepted or not
		kept := func(off int, p []byte) {
			keptEnd = off + frameHeaderSize + len(p)
			// Skipped frames before it stay on disk.
			l.skippedTo = max(l.skippedTo, skippedHere)
			skippedHere = 0
		}
		skip := func(off int, cp *ledger.Checkpoint, msg string) {
			l.reject(s.path, off)
			skippedHere = max(skippedHere, cp.Size)
			l.log.Error(msg, "segment", s.name, "offset", off, "size", cp.Size)
		}
		dmg, err := scanSegment(s.name, b, func(off int, typ byte, p []byte) error {
			// scanSegment skips only damaged bytes between valid frames.
			lost += int64(max(off-validEnd, 0))
			validEnd = off + frameHeaderSize + len(p)
			if typ == frameCheckpoint {
				cp := decodeCheckpoint(p)
				keep := false // on disk, though skipped by the readers
				if cp.Size >= 1 && uint64(cp.Size) > l.next && canBeLost(uint64(cp.Size)-l.next) {
					// The entries before this commit checkpoint were
					// written: those not read are lost in the damage.
					// The frame stays on disk, the evidence of the gap.
					l.log.Error("queue: entries lost in damaged frames", "segment", s.name, "from", l.next, "to", cp.Size-1)
					if err := fill(uint64(cp.Size)); err != nil {
						return err
					}
					tipLost, lost, keep = true, 0, true
				}
				ok := true
				switch {
				case cp.Size < 1 || uint64(cp.Size) > l.next:
					skip(off, cp, "queue: checkpoint frame beyond the entries; skipped")
					ok = false
				case cp.Size <= l.tree.leaves:
					if root, err := l.tree.root(cp.Size); err != nil || root != cp.Root {
						ok = false
						if firstGap >= 0 && cp.Size > firstGap {
							// Signed over an entry that is lost now: its
							// root covers the real leaf, not the
							// placeholder. It was shipped: keep it.
							l.reject(s.path, off)
							skippedHere = max(skippedHere, cp.Size)
							keep = true
						} else {
							skip(off, cp, "queue: checkpoint frame does not match the entries; skipped")
						}
					}
				}
				if ok {
					l.latestW = cp
				}
				if ok || keep {
					kept(off, p)
				}
				return nil
			}
			decodeEntry(p, &e)
			if e.seq < l.next {
				l.reject(s.path, off)
				l.log.Error("queue: entry out of order; skipped", "segment", s.name, "offset", off, "seq", e.seq, "want", l.next)
				return nil
			}
			if e.seq > l.next {
				if !canBeLost(e.seq - l.next) {
					l.reject(s.path, off)
					l.log.Error("queue: entry out of order; skipped", "segment", s.name, "offset", off, "seq", e.seq, "want", l.next)
					return nil
				}
				l.log.Error("queue: entries lost in damaged frames", "segment", s.name, "from", l.next, "to", e.seq-1)
				if err := fill(e.seq); err != nil {
					return err
				}
				tipLost = true
			}
			if e.prev != l.tip && !tipLost {
				// Not the successor of the tip: a frame of another
				// ledger or of another history. Never a crash. (The
				// first entry after a gap cannot be checked: kt verify
				// reports the gap.)
				l.reject(s.path, off)
				l.log.Error("queue: chain break; entry skipped", "segment", s.name, "offset", off, "seq", e.seq)
				return nil
			}
			if int64(e.seq) >= storeLeaves {
				if err := l.tree.appendLeaf(e.hash); err != nil {
					return err
				}
			} else {
				checkSeq, checkHash = int64(e.seq), e.hash
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
			kept(off, p)
			return nil
		})
		if err != nil {
			return err
		}
		if last && checkSeq >= 0 {
			// Before anything is cut or rewritten.
			if err := checkStore(); err != nil {
				return err
			}
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
		}
		if damaged > 0 {
			l.quarantine(s)
			l.mu.Lock()
			l.stats.Damaged += damaged
			l.mu.Unlock()
		}
		if !last {
			// Invalid bytes at the end of a segment may hold lost entries.
			lost += int64(max(len(b)-validEnd, 0))
			l.skippedTo = max(l.skippedTo, skippedHere)
			skippedHere = 0
			l.mu.Lock()
			l.segs = append(l.segs, segInfo{first: s.first, path: s.path, end: int64(len(b))})
			l.mu.Unlock()
			continue
		}
		// The last segment: cut what follows the last kept frame (the
		// checkpoint frames skipped there go with it). If valid frames are
		// cut too, this is no crash: keep a copy.
		if validEnd > keptEnd && damaged == 0 {
			l.log.Error("queue: valid frames after the last kept one", "segment", s.name, "offset", keptEnd, "bytes", validEnd-keptEnd)
			l.quarantine(s)
		}
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("queue: open segment %s: %w", s.name, err)
		}
		if _, ok := parseSegHeader(b); !ok && keptEnd == segHeaderSize {
			// No valid frame: a torn new segment. Start it again.
			f.Close()
			first := l.next
			if s.first != first {
				if err := os.Remove(s.path); err != nil {
					return fmt.Errorf("queue: remove torn segment: %w", err)
				}
			}
			path := filepath.Join(l.segDir, segName(first))
			if f, err = createSegment(path, first); err != nil {
				return err
			}
			l.log.Warn("queue: torn segment header rewritten", "segment", s.name, "bytes", len(b))
			l.unreject(s.path, 0)
			s = segFile{name: segName(first), first: first, path: path}
			b = b[:0]
		}
		if cut := len(b) - keptEnd; len(b) > 0 && cut > 0 {
			l.unreject(s.path, int64(keptEnd)) // new frames go there
			if err := f.Truncate(int64(keptEnd)); err != nil {
				f.Close()
				return fmt.Errorf("queue: cut torn tail of %s: %w", s.name, err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("queue: cut torn tail of %s: %w", s.name, err)
			}
			l.log.Warn("queue: cut torn tail", "segment", s.name, "offset", keptEnd, "bytes", cut)
			l.mu.Lock()
			l.stats.TornBytes += int64(cut)
			l.mu.Unlock()
		}
		l.seg, l.segFirst, l.segOff = f, s.first, int64(keptEnd)
		l.mu.Lock()
		l.segs = append(l.segs, segInfo{first: s.first, path: s.path, end: l.segOff})
		l.mu.Unlock()
	}
	if len(segs) == 0 {
		path := filepath.Join(l.segDir, segName(0))
		f, err := createSegment(path, 0)
		if err != nil {
			return err
		}
		if err := syncDir(l.segDir); err != nil {
			f.Close()
			return err
		}
		l.seg, l.segFirst, l.segOff = f, 0, segHeaderSize
		l.mu.Lock()
		l.segs = append(l.segs, segInfo{first: 0, path: path, end: segHeaderSize})
		l.mu.Unlock()
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

// quarantine copies a damaged segment into <Dir>/quarantine once.
func (l *Ledger) quarantine(s segFile) {
	qdir := filepath.Join(l.opts.Dir, "quarantine")
	dst := filepath.Join(qdir, s.name)
	if _, err := os.Stat(dst); err == nil {
		return
	}
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		l.log.Error("queue: quarantine", "err", err)
		return
	}
	src, err := os.Open(s.path)
	if err != nil {
		l.log.Error("queue: quarantine", "err", err)
		return
	}
	defer src.Close()
	var buf []byte
	if buf, err = io.ReadAll(src); err == nil {
		err = writeFileAtomic(dst, buf, true)
	}
	if err != nil {
		l.log.Error("queue: quarantine", "err", err)
		return
	}
	l.log.Error("queue: damaged segment quarantined", "segment", s.name, "copy", dst)
}

// Ensure the hash store satisfies tlog.HashReader.
var _ tlog.HashReader = (*hashStore)(nil)
