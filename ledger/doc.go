// Package ledger defines the kt ledger format and its checks: the canonical
// entry body, the chain hash, per-entry Ed25519 signatures, C2SP signed
// checkpoints over an RFC 6962 Merkle tree of the entry hashes, and the
// verification that finds modified, missing, reordered, truncated or forked
// history. It does no I/O: package queue stores entries on disk, and
// kt verify reads files and feeds them to a [Check].
//
// This comment is the specification of format version 1 ("kt/entry/v1").
// Anyone can check a kt ledger from it in any language; docs/verify_entry.py
// does so for one entry in about 40 lines of Python.
//
// # Entry body
//
// An event (see DESIGN.md, "Event schema") without its ledger fields is the
// entry body. The body is a JSON object in RFC 8785 (JSON Canonicalization
// Scheme, JCS) form: members sorted by the UTF-16 code units of their names,
// no whitespace, numbers in their shortest ECMAScript form, strings with only
// '"', '\\' and control characters escaped (\b \t \n \f \r, else \u00xx).
// The pipeline makes input JCS-safe first and never changes a value
// silently: integers beyond 2^53 become strings, duplicate member names are
// kept under another name, invalid UTF-8 is escaped with a marker, times are
// RFC 3339 UTC with microseconds ([TimeFormat]).
//
// # Wire line
//
// On the wire (NDJSON export, file sink, SIEM event) an entry is the body
// with the ledger fields added in front, one line per entry ([Entry.AppendLine]):
//
//	{"seq":N,"prev_hash":"<hex>","hash":"<hex>","sig":"<base64>","key_id":"<key id>",<body members>}
//
// The ledger fields are [LedgerKeys]: seq, prev_hash, hash, sig and key_id.
// Input can never set them. A reader recovers the body by removing exactly
// those five top-level members and applying JCS to the rest
// ([ParseLine]), so a line that a SIEM re-serialized with another member
// order, other whitespace or other escapes still yields the same body.
// Hashes are 64 lowercase hex digits, the signature is standard base64 with
// padding.
//
// # Chain hash
//
// seq counts from 0 and is also the entry's leaf index in the Merkle tree.
// The hash of entry n is ([EntryHash])
//
//	hash_n = SHA-256("kt/entry/v1\n" || u64be(seq_n) || prev_hash_n || body_n)
//
// where "kt/entry/v1\n" is the 12 ASCII bytes of the version line with its
// newline, u64be is the 8-byte big-endian seq, prev_hash_n is the 32 raw
// bytes of hash_(n-1), and body_n is the JCS body. prev_hash of entry 0 is
// 32 zero bytes. Entry 0 is a ledger.genesis entry: its attributes name the
// origin, ledger id, public key (public_key, a signed-note verifier key),
// key id and kt version ([GenesisBody]).
//
// # Signatures and key ids
//
// Every entry carries sig, an Ed25519 signature (RFC 8032) over the 32 raw
// bytes of its hash, not over the hex, so a single line found in a SIEM can
// be checked on its own. Keys are signed-note keys
// (golang.org/x/mod/sumdb/note): the verifier key is
//
//	<name>+<hash>+<base64(0x01 || 32-byte Ed25519 public key)>
//
// and key_id is its first two parts, "<name>+<hash>", where hash is the
// signed-note key hash: the first 4 bytes of SHA-256(name || "\n" || 0x01 ||
// public key), as 8 lowercase hex digits ([FormatKeyID]). A trust file for
// kt verify --trust lists verifier keys, one per line ([ParseKeyring]).
//
// # Checkpoints
//
// The Merkle tree is the RFC 6962 tree with one leaf per entry, in seq
// order; leaf n is SHA-256(0x00 || hash_n) over the raw hash ([LeafHash]),
// interior nodes are SHA-256(0x01 || left || right). A checkpoint is a C2SP
// tlog-checkpoint signed note ([SignCheckpoint], [OpenCheckpoint]): the
// text
//
//	<origin>
//	<tree size, decimal>
//	<root hash, base64>
//
// then a blank line and one signature line per signer,
// "— <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>",
// the signature being over the text including its final newline. The origin
// is the one in the genesis entry. A checkpoint of size N commits to entries
// 0..N-1.
//
// Checkpoints leave the host in two ways. Every checkpoint interval (10s by
// default), at shutdown and before an export, the agent appends a
// ledger.checkpoint entry whose attributes.checkpoint holds the signed note
// ([CheckpointBody]); an entry at seq n carries the checkpoint of size n,
// the tree of every entry before it, and ships to every sink like any other
// entry. Sinks may also ship records that are not entries:
//
//	{"record":"checkpoint","size":N,"root":"<base64>","checkpoint":"<signed note>"}
//	{"record":"heartbeat","time":"<RFC 3339>","size":N,"checkpoint":"<signed note>"}
//
// size and root are unsigned copies for convenience; only the note counts.
// Any checkpoint that survives off the host is an anchor: history at or
// below its size cannot be changed without detection, even by someone who
// holds the signing key.
//
// # The ledger's own entries
//
// Besides events, the ledger writes entries of its own, all with category
// "ledger", actor {"type":"system","id":"kt","name":"kt agent"} and
// source {"kind":"ledger","name":"kt"}:
//
//	ledger.genesis               entry 0 (see above)
//	ledger.checkpoint            attributes.checkpoint: the signed note ([CheckpointBody])
//	ledger.damage                storage damage the agent found in its own ledger ([DamageBody]):
//	                             attributes damage_id, segment, offset, bytes, kind,
//	                             lost_entries, lost_first_seq, lost_last_seq (when entries
//	                             were lost), ids_known, ids_unknown, quarantine
//	ledger.damage_acknowledged   an operator acknowledged that damage ([DamageAckBody]):
//	                             attributes damage_id, acknowledged_by
//
// The pipeline sets an event's source from where kt got it and never from
// input, so source.kind "ledger" ([SourceKindLedger]) is what tells the
// ledger's own entries from the others; action, category and attributes
// are content a producer controls. A [Check] takes an entry for a
// checkpoint entry only if its source.kind is "ledger", its action is
// ledger.checkpoint and its attributes.checkpoint parses as a checkpoint;
// entry 0 for a genesis only with source.kind "ledger" too. An event that
// claims those actions is an event like any other: it can make verify
// neither fail nor pass.
//
// After the agent lost entries to damage it signs its checkpoints over the
// tree it still has: the placeholder leaf of the zero entry hash, LeafHash
// of 32 zero bytes, for each lost seq. A [Check] that reads a
// ledger.damage entry with lost_first_seq and lost_last_seq checks a
// checkpoint that does not match the entries against that tree too, and
// reports a match once per lost range as a DAMAGED warning rather than a
// FORK.
//
// # Verification
//
// A [Check] reads entries and checkpoints in input order and reports
// findings, one line each, naming a seq (or a seq range) or a tree size:
//
//	MODIFIED       hash does not match seq, prev_hash and body
//	CHAIN_BREAK    prev_hash of seq n is not the hash of seq n-1; or entry 0
//	               is not a genesis entry with the zero prev_hash
//	GAP            seqs missing between two present entries
//	REORDERED      an entry after one with a higher seq
//	DUPLICATE      one seq twice: different copies (error), identical
//	               copies from at-least-once delivery (warning)
//	BAD_SIGNATURE  a trusted key's signature (entry or checkpoint) fails
//	UNKNOWN_KEY    signed by a key that is not trusted
//	TRUNCATED      a checkpoint of size N, entries end before seq N-1
//	FORK           entries 0..N-1 do not have the root a checkpoint of size
//	               N signed, or two roots are signed for one size
//	MALFORMED      a line or checkpoint that cannot be read
//	DAMAGED        storage damage reported by the reader
//	UNANCHORED     (warning) entries above the largest anchored checkpoint
//
// The host's own checkpoint file ([Check.LocalCheckpoint]) is rewritten by
// the agent without an fsync after every commit, so a power cut can leave
// it empty or torn: if it cannot be read or its signature does not verify,
// that is a MALFORMED warning, never tamper evidence (it proves nothing
// against the host anyway). One that verifies is checked like any other
// checkpoint: it is written only after the commit it signs is durable, so
// entries missing below it are TRUNCATED.
//
// # Worked example
//
// The key in testdata/example.skey (a published test key) has the verifier
// key and key id
//
//	kt-example+b45eaef2+Acj+ZH2s+rWycYXtvDVMr8nDvPjZlEyihPcYiQhRNxOu
//	kt-example+b45eaef2
//
// Entry 1 of the example ledger follows its genesis entry, whose hash is
//
//	prev_hash = 8a606a17998f6fc012b2ed85eba67c45535ebd2865912b4a8eccc167451beba1
//
// and has the body
//
//	{"action":"auth.login","actor":{"id":"alice","type":"user"},"category":"authentication","id":"ev-1","outcome":"success","time":"2025-03-01T12:00:01.000000Z"}
//
// The hash input is the version line, u64be(1), prev_hash and the body:
//
//	6b742f656e7472792f76310a00000000000000018a606a17998f6fc012b2ed85
//	eba67c45535ebd2865912b4a8eccc167451beba17b22616374696f6e223a2261
//	7574682e6c6f67696e222c226163746f72223a7b226964223a22616c69636522
//	2c2274797065223a2275736572227d2c2263617465676f7279223a2261757468
//	656e7469636174696f6e222c226964223a2265762d31222c226f7574636f6d65
//	223a2273756363657373222c2274696d65223a22323032352d30332d30315431
//	323a30303a30312e3030303030305a227d
//
// and hashing it gives
//
//	hash = a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f
//	sig  = fSaNrahuTQb2OeAOBqL/4s3YZMRrQW+U5XMkfmww/O4TNqQ36hukyc1j0GdrmgetCjlBaE11DgO7FEqIQsiFBA==
//
// The wire line is
//
//	{"seq":1,"prev_hash":"8a606a17998f6fc012b2ed85eba67c45535ebd2865912b4a8eccc167451beba1","hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f","sig":"fSaNrahuTQb2OeAOBqL/4s3YZMRrQW+U5XMkfmww/O4TNqQ36hukyc1j0GdrmgetCjlBaE11DgO7FEqIQsiFBA==","key_id":"kt-example+b45eaef2","action":"auth.login","actor":{"id":"alice","type":"user"},"category":"authentication","id":"ev-1","outcome":"success","time":"2025-03-01T12:00:01.000000Z"}
//
// The leaves of the two entries are
//
//	leaf 0 = 27014159dc5887cc79678b76a1642226483f718339602b2ba9cdff316d15bde4
//	leaf 1 = 835ac965e1a6b2a9fdf5c339a110d18ff3fada8098cb9d5c2b9d954dd81170f4
//
// and the checkpoint of size 2, signed by the same key, is
//
//	kt.example/ledger
//	2
//	rBWoOdLpZNGri1ICirosIfEUK3sAeT9zgLBMB+Jnvr8=
//
//	— kt-example tF6u8rQvrh72bkYTYPaesuG/CkSpeMu+OIc27tBENf98NzqaOlgsykEgjsev20Nf7DaEfW4idxyk5ANB7zWX23sr9AM=
//
// TestWorkedExample recomputes every number above from the key; the
// same example is in docs/VERIFICATION.md.
package ledger
