package queue

// The syncer goroutine: it fdatasyncs each commit the writer wrote, then
// publishes it to the readers and acknowledges its requests, in commit
// order (see the package doc, "Segment format").

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/ledger"
)

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
	// The local checkpoint file, after the fdatasync: never newer than
	// what the segments hold durably. Not synced itself: a hint (see the
	// package doc, "Files"); Close syncs the last one.
	if err := atomicfile.WriteFileUnsynced(filepath.Join(l.opts.Dir, checkpointFile), c.cp.Note, 0o600); err != nil {
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
