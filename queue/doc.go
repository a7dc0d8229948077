// Package queue is the kt ledger on disk: segment files with length+CRC
// framing, the group-commit writer that chains and signs entries, crash
// recovery, readers for sinks, per-sink cursors, an on-disk Merkle hash
// store, and a read-only Scan for kt verify. Package ledger defines what
// is stored; this package stores it.
//
// # Files
//
//	<Dir>/segments/<20-digit first seq>.seg   the entries and commit checkpoints
//	<Dir>/tree.hashes                         tlog stored hashes, 32 bytes each, tlog.StoredHashIndex order
//	<Dir>/checkpoint                          the newest signed checkpoint note (a local anchor for kt verify)
//	<Dir>/quarantine/<segment>                a copy of each damaged segment, made once
//
// # Segment format, version 1
//
// All integers are little-endian. A segment starts with a 32-byte header:
//
//	offset size field
//	     0    8 magic "KTLEDGER"
//	     8    4 version = 1
//	    12    4 reserved = 0
//	    16    8 first seq (also in the file name)
//	    24    4 CRC-32C (Castagnoli) of bytes 0..23
//	    28    4 zero
//
// then frames, back to back:
//
//	offset size field
//	     0    4 payload length L
//	     4    4 CRC-32C of the type byte and the payload
//	     8    1 type: 1 = entry, 2 = commit checkpoint
//	     9    L payload
//
// An entry payload (L >= 157):
//
//	offset size field
//	     0    1 kind: 0 = event, 1 = ledger.genesis, 2 = ledger.checkpoint
//	     1    8 seq
//	     9   32 prev_hash
//	    41   32 hash = SHA-256("kt/entry/v1\n" || u64be(seq) || prev_hash || body)
//	    73   16 digest (the dedupe content digest)
//	    89   64 Ed25519 sig over hash
//	   153    2 id length I
//	   155    2 key id length K
//	   157    I id
//	 157+I    K key id
//	157+I+K   - body: RFC 8785 canonical JSON, to the end of the payload
//
// A commit checkpoint payload (L >= 40):
//
//	offset size field
//	     0    8 tree size
//	     8   32 root hash
//	    40    - signed note (C2SP tlog-checkpoint text, blank line, signatures)
//
// The writer appends, per group commit, the new entry frames and one
// checkpoint frame of the tree of every entry so far, with one write and
// one fdatasync (fsync where there is none: the new size is flushed either
// way), and acknowledges nothing before that. The two are pipelined: while
// a syncer goroutine fdatasyncs commit k, then publishes it to the readers
// and acknowledges it, the writer gathers, chains, signs and writes commit
// k+1; commits are published in order, and readers never read past the
// published end. A failed write (ENOSPC) is cut off again once the commits
// before it are published, and fails only its own requests (ErrFull). A
// failed fdatasync breaks the ledger: that commit and the ones written
// after it are never acknowledged and every later Append returns
// ErrBroken, because the pages may be lost and a retried fsync can report
// success without them; kt must be restarted, and Open recovers from the
// disk. A new segment is fsync'd with its directory before the first
// commit into it. A segment is rolled only between commits, once it is
// past Options.SegmentBytes and the syncer is idle.
//
// # Damage
//
// A frame is valid when its type is known, its length is in range, its
// CRC matches and its lengths fit. Zeros are never a valid frame (type 0).
// Invalid bytes with no valid frame after them, at the end of the last
// segment, are a torn tail: what a crash during a write leaves. Open cuts
// it, and only it. Invalid bytes followed by a valid frame are a corrupt
// frame, in whichever segment: bit rot or tampering, never a crash. Open
// handles it the same in the last segment as in an earlier one: it logs
// it, counts it (Stats.Damaged), copies the segment into quarantine/ once,
// resyncs at the next valid frame and keeps every valid entry after it at
// its seq. The seqs lost in the damaged bytes get placeholder leaves in the
// hash store (the leaf of the zero entry hash), so that leaf index = seq,
// and the writer continues after the last valid entry: a seq that was
// written is never given again. Seqs are missing where the next valid
// frame is an entry with a later seq, or a commit checkpoint of a larger
// tree, and the damaged bytes are long enough to hold the missing entries.
// Readers and Scan return the seq jump; kt verify reports a GAP and the
// DAMAGED range. The first entry after a gap cannot be chain-checked; the
// entries after it must chain.
//
// A commit checkpoint signed before the damage over a tree that holds a
// lost entry does not match the tree with the placeholder: it stays on disk
// (it may have been shipped) and readers skip it. Open does not sign a
// checkpoint for a size that such a checkpoint has: the next commit signs
// the tree of every entry so far, placeholders included, as the store holds
// it.
//
// Open also skips valid frames that do not follow: an entry whose seq is
// below the next one, or above it with no damage that could hold the
// missing entries, or whose prev_hash is not the hash of the entry before
// it, and a checkpoint frame whose root is not that of the tree of the
// entries before it. Readers skip them too. Valid frames after the last one
// Open keeps are cut with the torn tail, after a copy of the segment is
// quarantined.
//
// # Worked example
//
// A segment whose first seq is 1, holding one entry: seq 1, prev_hash
// 0x11..., hash 0x22..., digest 0x33..., sig 0x44..., id "a", key id
// "k+01020304", body {"a":1}. The frame has L = 0xaf = 157+1+10+7 and its
// CRC-32C is 0xab14925f:
//
// BEGIN EXAMPLE
//
//	00000000  4b 54 4c 45 44 47 45 52  01 00 00 00 00 00 00 00  |KTLEDGER........|
//	00000010  01 00 00 00 00 00 00 00  93 19 db db 00 00 00 00  |................|
//	00000020  af 00 00 00 5f 92 14 ab  01 00 01 00 00 00 00 00  |...._...........|
//	00000030  00 00 11 11 11 11 11 11  11 11 11 11 11 11 11 11  |................|
//	00000040  11 11 11 11 11 11 11 11  11 11 11 11 11 11 11 11  |................|
//	00000050  11 11 22 22 22 22 22 22  22 22 22 22 22 22 22 22  |..""""""""""""""|
//	00000060  22 22 22 22 22 22 22 22  22 22 22 22 22 22 22 22  |""""""""""""""""|
//	00000070  22 22 33 33 33 33 33 33  33 33 33 33 33 33 33 33  |""33333333333333|
//	00000080  33 33 44 44 44 44 44 44  44 44 44 44 44 44 44 44  |33DDDDDDDDDDDDDD|
//	00000090  44 44 44 44 44 44 44 44  44 44 44 44 44 44 44 44  |DDDDDDDDDDDDDDDD|
//	000000a0  44 44 44 44 44 44 44 44  44 44 44 44 44 44 44 44  |DDDDDDDDDDDDDDDD|
//	000000b0  44 44 44 44 44 44 44 44  44 44 44 44 44 44 44 44  |DDDDDDDDDDDDDDDD|
//	000000c0  44 44 01 00 0a 00 61 6b  2b 30 31 30 32 30 33 30  |DD....ak+0102030|
//	000000d0  34 7b 22 61 22 3a 31 7d                           |4{"a":1}|
//
// END EXAMPLE
package queue
