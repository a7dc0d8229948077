package queue

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/keeptrusts/kt/ledger"
)

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
		if (ckptDue || closing) && l.ckptEntryDue() && l.Err() == nil {
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

// ckptEntryDue reports whether there are entries that no ledger.checkpoint
// entry covers yet, and a checkpoint of them to carry. The genesis alone
// gets none: the first event of a new ledger is always seq 1.
func (l *Ledger) ckptEntryDue() bool {
	return l.next > max(l.ckptEntryTo, 1) && l.latestW != nil && uint64(l.latestW.Size) == l.next
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
	keys := l.keys[:0]
	ids := l.ids[:0]
	if pre != nil {
		ents = append(ents, *pre)
		k := keyOf(pre.id)
		keys = append(keys, k)
		l.index[k] = idRec{seq: startSeq, digest: pre.digest}
	}
	var dups, conflicts uint64
	for _, req := range group {
		// Pass 1: refuse the whole request on a conflict.
		clear(l.callIDs)
		recKeys := l.recKeys[:0]
		for i := range req.recs {
			r := &req.recs[i]
			k := keyOfString(r.ID)
			recKeys = append(recKeys, k)
			old, ok := l.index[k]
			if ok && old.digest != r.Digest {
				req.err = &ConflictError{Index: i, ID: r.ID, Seq: old.seq, Earlier: -1}
				break
			}
			if !ok && len(l.reserved) > 0 {
				if lost, ok := l.reserved[k]; ok && lost.digest != r.Digest {
					req.err = &ConflictError{Index: i, ID: r.ID, Seq: lost.seq, Earlier: -1, Lost: true}
					break
				}
			}
			if len(req.recs) == 1 {
				continue
			}
			if j, ok := l.callIDs[r.ID]; ok && req.recs[j].Digest != r.Digest {
				req.err = &ConflictError{Index: i, ID: r.ID, Earlier: j}
				break
			}
			l.callIDs[r.ID] = i
		}
		l.recKeys = recKeys
		if req.err != nil {
			conflicts++
			continue
		}
		// Pass 2: assign seqs. (A record whose id was lost in damage
		// with the same content is written again: the lost event is
		// recorded anew, at a new seq.)
		req.res.Seqs = make([]uint64, len(req.recs))
		for i := range req.recs {
			r := &req.recs[i]
			k := recKeys[i]
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
			keys = append(keys, k)
			if req.res.New == 0 {
				req.res.FirstSeq = seq
			}
			req.res.New++
			req.res.LastSeq = seq
			req.res.Seqs[i] = seq
		}
		dups += uint64(req.res.Duplicates)
	}
	l.ents, l.ids, l.keys = ents, ids, keys

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
	if need := total + frameHeaderSize + ckptIDsFixedSize + ckptIDSize*len(ents) + 512; cap(buf) < need {
		buf = make([]byte, 0, need+need/4) // 512: the note
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
			delete(l.index, keys[i])
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
	buf = appendCommitFrame(buf, cp, keys, ents)

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

// commitAndSync commits with force and waits until the commit is durable.
func (l *Ledger) commitAndSync(group []*request, pre *wentry) error {
	err := l.commit(group, pre, true)
	l.drain()
	if err == nil {
		err = l.Err()
	}
	return err
}

// internalEntry returns an entry of the ledger's own (genesis,
// ledger.checkpoint) of the given kind, with its dedupe digest.
func internalEntry(kind byte, id string, body []byte) *wentry {
	d := sha256.Sum256(body)
	e := &wentry{kind: kind, id: []byte(id), body: body}
	copy(e.digest[:], d[:16])
	return e
}

// signAndEncode signs the chained entries ents and encodes their frames
// into buf, which holds exactly those frames; a large commit is split
// among GOMAXPROCS goroutines.
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
