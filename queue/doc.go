// Package queue is the kt ledger on disk: segment files with length+CRC
// framing, the group-commit writer that chains and signs entries, crash
// recovery, the damage register, readers for sinks, per-sink cursors, an
// on-disk Merkle hash store with the proofs it gives, and a read-only Scan
// for kt verify. Package ledger defines what is stored; this package
// stores it.
//
// # Source files
//
// Each file has one job:
//
//	ledger.go    Options and their defaults, Open, Close, the accessors
//	append.go    Append, Submit, Ticket: what callers hand to the writer, and its errors
//	commit.go    the writer goroutine: gathers, chains, signs and writes each group commit
//	syncer.go    the syncer goroutine: fdatasyncs each commit, then publishes and acknowledges it
//	segment.go   segment files: naming, listing, creating, rolling
//	format.go    the wire format: segment header, frames, entry and checkpoint payloads
//	recover.go   Open's scan of every segment: the tree, the id index, damage, evidence of a ledger
//	tail.go      the torn tail of the last segment, cut before writing resumes
//	damage.go    the damage register and the ledger.damage entries
//	hashstore.go the stored Merkle tree
//	proof.go     tree hashes, inclusion and consistency proofs from it
//	reader.go    Reader and Item: the committed entries and checkpoints, for sinks
//	scan.go      Scan: a read-only pass over a ledger directory, for kt verify
//	cursors.go   Cursors: each sink's position
//
// # Files
//
//	<Dir>/segments/<20-digit first seq>.seg   the entries and commit checkpoints
//	<Dir>/tree.hashes                         tlog stored hashes, 32 bytes each, tlog.StoredHashIndex order (a cache)
//	<Dir>/checkpoint                          the newest signed checkpoint note (a convenience)
//	<Dir>/damage.json                         the damage register
//	<Dir>/quarantine/<segment>                a copy of each damaged segment, made once
//
// Every directory and every file that recovery relies on is durable before
// it is relied on: a new directory is fsync'd with its parent
// (atomicfile.MkdirAll), a new segment with its directory before the first
// commit into it, and the damage register and quarantine copies are
// written through a temporary file, fsync, rename and a directory fsync.
// Two files are not: tree.hashes is a cache that Open rebuilds from the
// entries (see "Recovery"), and checkpoint, replaced without an fsync
// (atomicfile.WriteFileUnsynced) after every commit is durable and with
// one by Close, is never newer than what the segments hold durably, and is
// read only as a hint (see "Evidence of a ledger"; kt verify reads it as
// ledger.Check.LocalCheckpoint): a power cut may leave it missing, empty,
// torn or older. Open removes the temporary files that a crash during one
// of these replacements leaves in Dir and in quarantine/.
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
//	     8    1 type: 1 = entry, 2 = commit checkpoint, 3 = commit checkpoint with ids
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
// The ledger's other own entries (ledger.damage, ledger.damage_acknowledged)
// are of kind 0: recovery does not need to tell them apart.
//
// A commit checkpoint payload, type 3 (L >= 44 + 32*N), the one the writer
// writes:
//
//	offset size field
//	     0    8 tree size S
//	     8   32 root hash
//	    40    4 N, the number of entries of this commit: seqs S-N .. S-1
//	    44 32*N for each of them, in seq order: the id key (the first 16
//	            bytes of SHA-256 of the event id), then the digest (16 bytes)
//	 44+32N    - signed note (C2SP tlog-checkpoint text, blank line, signatures)
//
// so that the ids of entries lost in damage stay known (see "Damage").
// Type 2, written by earlier versions and still read, is the same without
// N and the list: tree size (8), root hash (32), signed note (L >= 40).
//
// The writer appends, per group commit, the new entry frames and one
// checkpoint frame of the tree of every entry so far, with one write and
// one fdatasync (fsync where there is none: the new size is flushed either
// way), and acknowledges nothing before that. The two are pipelined: while
// a syncer goroutine fdatasyncs commit k, then publishes it to the readers
// and acknowledges it, the writer gathers, chains, signs and writes commit
// k+1; commits are published in order, and readers never read past the
// published end. At most three commits are written and not yet synced at
// any moment: the one being synced, the one queued for the syncer, and the
// one the writer waits to hand over. A failed write (ENOSPC) is cut off
// again once the commits before it are published, and fails only its own
// requests (ErrFull). A failed fdatasync breaks the ledger: that commit and
// the ones written after it are never acknowledged and every later Append
// returns ErrBroken, because the pages may be lost and a retried fsync can
// report success without them; kt must be restarted, and Open recovers
// from the disk. A new segment is fsync'd with its directory before the
// first commit into it. A segment is rolled only between commits, once it
// is past Options.SegmentBytes and every commit is synced.
//
// The genesis (seq 0) gets no ledger.checkpoint entry of its own: the
// first one follows the first events, so the first event of a new ledger
// is always seq 1.
//
// # Recovery
//
// Open reads every segment. The hash store is never trusted: it is not
// fsync'd, so a power cut can leave it shorter, longer, or with pages of
// zeros or stale bytes anywhere. Open recomputes every stored hash, leaves
// and interior nodes, from the entries it reads, compares each with the
// file, rewrites those that differ, and cuts what the file holds beyond
// the tree. Every commit checkpoint frame is checked against the tree of
// the entries read before it, and nothing is signed before recovery ends:
// no checkpoint is ever signed over a root the entries do not have.
//
// # Torn tails and damage
//
// A frame is valid when its type is known, its length is in range, its
// CRC matches and its lengths fit. Zeros are never a valid frame (type 0).
// A crash can tear only the commits not yet synced, at the end of the last
// segment, and a power cut can keep a later page of them without an
// earlier one. So the torn tail of the last segment starts at the first
// run of invalid bytes after which at most three commit checkpoint frames
// follow — invalid bytes at the end, or zeros or stale bytes followed by
// frames of those commits — unless the local checkpoint file (written only
// after the fdatasync) names the segment's origin and a tree larger than
// the frames before that run hold: then those frames were durable and the
// run is damage. None of a torn tail was acknowledged. Open cuts it, and
// only it; Scan reports it as one TornTail and passes none of its frames.
//
// Any other run of invalid bytes is a corrupt frame, in whichever segment:
// bit rot or tampering, never a crash. Open handles it the same in the
// last segment as in an earlier one: it records it in the damage register
// (below), copies the segment into quarantine/ once, resyncs at the next
// valid frame and keeps every valid entry after it at its seq. The seqs
// lost in the damaged bytes get placeholder leaves in the hash store (the
// leaf of the zero entry hash), so that leaf index = seq, and the writer
// continues after the last valid entry: a seq that was written is never
// given again. Seqs are missing where the next valid frame is an entry
// with a later seq, or a commit checkpoint of a larger tree, and the
// damaged bytes are long enough to hold the missing entries; and between
// the end of a segment and the first seq of the next one (a segment is
// made once the commits before it are durable, so a crash never leaves
// such a gap). Readers and Scan return the seq jump; kt verify reports a
// GAP and the DAMAGED range. The first entry after a gap cannot be
// chain-checked; the entries after it must chain.
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
// entries before it. Readers skip them too, and they are recorded as
// damage ("skipped frames"). Valid frames after the last one Open keeps
// are cut with the torn tail, after a copy of the segment is quarantined.
//
// # Merkle tree and proofs
//
// The tree is the RFC 6962 tree over the entry hashes that every commit
// checkpoint signs: leaf seq is ledger.LeafHash of the hash of entry seq,
// or the placeholder leaf of an entry lost in damage. tree.hashes stores
// its hashes as tlog stored hashes, so that TreeHash, InclusionProof and
// ConsistencyProof read O(log n) of them (tlog.TreeHash, ProveRecord,
// ProveTree) for any size up to the committed one. tlog.CheckRecord and
// tlog.CheckTree check the proofs against a checkpoint's size and root
// when every leaf below its size is still the one it was signed over:
// every checkpoint signed since Open last found damage, and one signed
// before that whose size is at most the first seq then lost.
//
// # Evidence of a ledger
//
// Open never starts a new ledger (a new genesis) where one existed, and
// never gives out a seq again. What shows how large the ledger was, besides
// the segments: the local checkpoint file when it verifies under the
// signer's key for the ledger's origin, and the largest cursor in
// Options.CursorDir (a sink's cursor only passes entries that were
// published, so durable). If no entry can be read but one of these shows
// entries, or the segments hold valid entries but not the start of the
// ledger, Open returns ErrLost and cuts or writes no segment: the operator
// restores the ledger from a backup, or moves the data away to start a new
// one on purpose. If entries can be read but fewer than these show, the rest is
// recorded as damage ("missing entries", the ids unknown), its seqs get
// placeholders, and new entries go into a new segment that starts after
// them, so the next Open sees the same gap. (A valid frame of seq 1 or
// later is such evidence too: the genesis commit is synced before any
// other is written.)
//
// # Damage register
//
// <Dir>/damage.json keeps every damage Open found — corrupt frames, bad
// segment headers, skipped frames, missing entries; never a torn tail —
// until and after an operator acknowledges it (Ledger.AckDamage). Version
// 1 is one JSON object, replaced atomically and durably when it changes:
//
//	{"version":1,"damage":[{"id":"0@4711","segment":"00000000000000000000.seg",
//	  "offset":4711,"bytes":201,"kind":"corrupt frame","lost":1,
//	  "lost_first_seq":17,"lost_last_seq":17,"ids_known":1,"ids_unknown":0,
//	  "quarantine":"quarantine/00000000000000000000.seg",
//	  "found_at":"2026-03-01T10:00:00Z","entry_id":"<uuid>",
//	  "acked_at":"2026-03-01T11:00:00Z","acked_by":"alice",
//	  "ack_entry_id":"<uuid>"}]}
//
// A damage's id is "<first seq of its segment>@<byte offset>", so the same
// damage found again at the next Open is the same record. Open logs every
// unacknowledged damage at error level, every time. For each record the
// ledger appends a ledger.damage entry (category ledger, actor system,
// source kind ledger; attributes damage_id, segment, offset, bytes, kind,
// lost_entries, lost_first_seq, lost_last_seq, ids_known, ids_unknown,
// quarantine), and for an acknowledged one a ledger.damage_acknowledged
// entry (attributes damage_id, acknowledged_by). Their ids are fixed in
// the register when it is written and their bodies follow from it, so each
// is written once: at the next Open it is a duplicate.
//
// The ids of the entries lost in a damage stay reserved, acknowledged or
// not, so that a lost event cannot be silently replaced by another with
// its id. The id key and digest of a lost entry come from the type 3
// commit checkpoint after it or, when that is lost too, from the header
// and id of the damaged frame when they still read (unchecked: a damaged
// id reserves a wrong id and leaves the real one unknown); the rest are
// counted as unknown (ids_unknown). An Append of a reserved id with
// another digest is refused (ConflictError with Lost set, naming the lost
// seq); with the same digest it is the lost event sent again, and it is
// written, at a new seq.
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
// END EXAMPLE.
//
// A type 3 commit checkpoint frame of a commit of two entries, ids "a"
// (digest 0x33...) and "b" (digest 0x44...), tree size 3, root 0x55...,
// with the note "note" (a real one is a signed checkpoint): L = 0x70 =
// 44+2*32+4, N = 2, the id keys are the first 16 bytes of SHA-256("a") =
// ca978112... and SHA-256("b") = 3e23e816..., and the CRC-32C is 0xf1323ec4:
//
// BEGIN COMMIT EXAMPLE
//
//	00000000  70 00 00 00 c4 3e 32 f1  03 03 00 00 00 00 00 00  |p....>2.........|
//	00000010  00 55 55 55 55 55 55 55  55 55 55 55 55 55 55 55  |.UUUUUUUUUUUUUUU|
//	00000020  55 55 55 55 55 55 55 55  55 55 55 55 55 55 55 55  |UUUUUUUUUUUUUUUU|
//	00000030  55 02 00 00 00 ca 97 81  12 ca 1b bd ca fa c2 31  |U..............1|
//	00000040  b3 9a 23 dc 4d 33 33 33  33 33 33 33 33 33 33 33  |..#.M33333333333|
//	00000050  33 33 33 33 33 3e 23 e8  16 00 39 59 4a 33 89 4f  |33333>#...9YJ3.O|
//	00000060  65 64 e1 b1 34 44 44 44  44 44 44 44 44 44 44 44  |ed..4DDDDDDDDDDD|
//	00000070  44 44 44 44 44 6e 6f 74  65                       |DDDDDnote|
//
// END COMMIT EXAMPLE
package queue
