// Package ledger defines the kt ledger format and its checks: the canonical
// entry body, the chain hash, per-entry Ed25519 signatures, C2SP signed
// checkpoints over an RFC 6962 Merkle tree of the entry hashes, and the
// verification that finds modified, missing, reordered or truncated history.
// It does no I/O: package queue stores entries on disk.
package ledger
