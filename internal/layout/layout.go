// Package layout says where kt keeps each thing under its data dir. It is
// the one place that builds those paths:
//
//	<data_dir>/
//	  signing.key, signing.key.pub   the signing key (when signing.key_file is not set) and its public key
//	  redact.key                     the redaction HMAC key (when redact.key_file is not set)
//	  ledger/                        the ledger (package queue): segments/, tree.hashes, checkpoint,
//	                                 damage.json, quarantine/
//	  cursors/<type>.<name>.cursor   each sink's cursor (queue.Cursors)
//	  sinks/<type>.<name>/           a sink's own files: dead-letter.ndjson
//	  sources/<type>/<name>/         a source's own files: positions.json, dead-letter.ndjson (file source)
//	  index/                         the query index (package index): events.db and its WAL, dead-letter.ndjson;
//	                                 a view of the ledger, rebuilt from it when deleted
//	  out/                           the embedded default's file sink output
//	  kt.lock                        held (flock) by the running agent, and by kt reindex (internal/dirlock)
//
// Every directory is created with mode 0700 and made durable (see
// internal/atomicfile) by whoever writes into it first.
package layout

import "path/filepath"

// SigningKey is the default signing key file.
func SigningKey(dataDir string) string { return filepath.Join(dataDir, "signing.key") }

// PublicKey is the public key file written next to a signing key file.
func PublicKey(keyFile string) string { return keyFile + ".pub" }

// RedactKey is the default redaction key file.
func RedactKey(dataDir string) string { return filepath.Join(dataDir, "redact.key") }

// Ledger is the ledger's directory.
func Ledger(dataDir string) string { return filepath.Join(dataDir, "ledger") }

// LedgerCheckpoint is the ledger's local checkpoint file.
func LedgerCheckpoint(dataDir string) string { return filepath.Join(Ledger(dataDir), "checkpoint") }

// Cursors is the sinks' cursor directory.
func Cursors(dataDir string) string { return filepath.Join(dataDir, "cursors") }

// Sink is the directory of the sink typ/name.
func Sink(dataDir, typ, name string) string { return filepath.Join(dataDir, "sinks", typ+"."+name) }

// SinkDeadLetter is the dead-letter file of the sink typ/name.
func SinkDeadLetter(dataDir, typ, name string) string {
	return filepath.Join(Sink(dataDir, typ, name), "dead-letter.ndjson")
}

// Source is the directory of the source typ/name.
func Source(dataDir, typ, name string) string { return filepath.Join(dataDir, "sources", typ, name) }

// Index is the query index database (package index).
func Index(dataDir string) string { return filepath.Join(dataDir, "index", "events.db") }

// IndexDeadLetter is where the index parks an entry it cannot read.
func IndexDeadLetter(dataDir string) string {
	return filepath.Join(dataDir, "index", "dead-letter.ndjson")
}

// Lock is the file the running agent holds locked (internal/dirlock).
func Lock(dataDir string) string { return filepath.Join(dataDir, "kt.lock") }
