package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// work is the scratch state of one Normalize call: the decoder's levels
// (which hold every node of the tree), the event's member lists, the
// walker's path, the encode buffer and the hashes. A Normalizer pools
// them, so that a steady stream of events allocates little more than the
// Event it returns (the Event, its Body, and its ID and Action).
//
// Everything in a work is dead once Normalize returns (the Event holds
// copies only); putWork clears what may point at a record before the work
// goes back to the pool, so a pooled work keeps no record data alive.
type work struct {
	levels  []level // decoder: the members of the tree, by depth
	path    []seg   // walker path
	scratch []byte  // decoder: unescaped strings (cleared after each use)

	out, extras, topDups, attrs []member
	actor, request, changes     []member
	src                         [4]member
	dups                        []value
	spans                       []span // redaction: secret parts of a string

	mac    hash.Hash // HMAC-SHA256 under the redact key
	sum    hash.Hash // SHA-256 of the digest
	body   []byte    // encode buffer
	mbuf   []byte    // redaction: canonical text of a value (cleared after use)
	recv   [32]byte  // received_at text
	tm     [32]byte  // time text
	digest [sha256.Size]byte
}

// Caps above which a buffer is dropped rather than pooled, so that one
// huge record does not pin its memory for good.
const (
	maxPooledMembers = 1 << 14
	maxPooledBytes   = 1 << 20
)

func (n *Normalizer) getWork() *work {
	if w, _ := n.work.Get().(*work); w != nil {
		return w
	}
	return &work{
		mac:  hmac.New(sha256.New, n.opts.RedactKey),
		sum:  sha256.New(),
		body: make([]byte, 0, 2048),
	}
}

// reset empties a member list, dropping its references into the record.
func reset(s []member) []member {
	if cap(s) > maxPooledMembers {
		return nil
	}
	clear(s)
	return s[:0]
}

func (n *Normalizer) putWork(w *work) {
	for i := range w.levels {
		w.levels[i].m = reset(w.levels[i].m)
	}
	clear(w.path[:cap(w.path)])
	w.path = w.path[:0]
	if cap(w.path) > maxPooledMembers {
		w.path = nil
	}
	if cap(w.scratch) > maxPooledBytes {
		w.scratch = nil
	}
	w.out = reset(w.out)
	w.extras = reset(w.extras)
	w.topDups = reset(w.topDups)
	w.attrs = reset(w.attrs)
	w.actor = reset(w.actor)
	w.request = reset(w.request)
	w.changes = reset(w.changes)
	w.src = [4]member{}
	w.spans = w.spans[:0]
	if cap(w.spans) > maxPooledMembers {
		w.spans = nil
	}
	clear(w.dups)
	w.dups = w.dups[:0]
	if cap(w.dups) > maxPooledMembers {
		w.dups = nil
	}
	w.body = w.body[:0] // holds only the redacted body, which left anyway
	if cap(w.body) > maxPooledBytes {
		w.body = nil
	}
	if cap(w.mbuf) > maxPooledBytes {
		w.mbuf = nil
	}
	w.mac.Reset()
	w.sum.Reset()
	n.work.Put(w)
}
