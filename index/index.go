// Package index is the query index: a SQLite database under the data dir
// that holds, for every ledger entry, the fields a listing filters on and
// the entry's line. It is a view of the ledger, never a source of truth:
// it is fed by following the ledger (Add, in ledger order, from Next), it
// can be deleted and rebuilt from the ledger alone, and every row keeps
// the entry's line with its ledger fields (seq, hash, sig, key_id) so that
// an answer can be checked against the public key by whoever receives it.
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL: a commit is not
// fsync'd, so a power cut may lose the last transactions. The seq of the
// next entry to index is stored in the same transaction as the rows, so
// the rows and Next never disagree: what a crash lost is read again from
// the ledger. Add is idempotent (a row that is there already is kept), so
// an entry given twice is indexed once.
//
// # Schema (user_version 2)
//
//	CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
//	    -- next: the seq of the next entry to index
//	CREATE TABLE events(
//	    seq INTEGER PRIMARY KEY,   -- the ledger seq (the rowid: rows are appended in order)
//	    id TEXT NOT NULL,          -- the event id
//	    time INTEGER NOT NULL,     -- the event's time, Unix microseconds (0: none)
//	    received INTEGER NOT NULL, -- received_at, Unix microseconds
//	    action TEXT NOT NULL, category TEXT, outcome TEXT,
//	    actor_type TEXT, actor_id TEXT, actor_name TEXT,
//	    target_type TEXT, target_id TEXT,
//	    org_id TEXT, request_id TEXT, correlation_id TEXT,
//	    line BLOB NOT NULL);       -- the entry's line as the ledger wrote it
//	CREATE VIRTUAL TABLE events_text USING fts5(text, content='');
//	    -- rowid = seq; the words free text is searched in (see searchText)
//
// An absent string member is NULL. The secondary indexes are the ones the
// listing's filters need and no more, each ending in (time, seq) so that a
// filtered page newest first is one range scan; the columns most events
// leave empty (request and correlation ids) have partial indexes that skip
// those rows. Every index costs the write rate: docs/BENCHMARKS.md has the
// figures that chose them.
package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite" (pure Go)

	"github.com/keeptrusts/kt/event"
)

const schemaVersion = 2

var schema = []string{
	`CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID`,
	`CREATE TABLE events(
		seq INTEGER PRIMARY KEY,
		id TEXT NOT NULL,
		time INTEGER NOT NULL,
		received INTEGER NOT NULL,
		action TEXT NOT NULL,
		category TEXT,
		outcome TEXT,
		actor_type TEXT,
		actor_id TEXT,
		actor_name TEXT,
		target_type TEXT,
		target_id TEXT,
		org_id TEXT,
		request_id TEXT,
		correlation_id TEXT,
		line BLOB NOT NULL)`,
	`CREATE INDEX events_time ON events(time, seq)`,
	`CREATE INDEX events_id ON events(id)`,
	`CREATE INDEX events_actor ON events(actor_id, time, seq)`,
	`CREATE INDEX events_action ON events(action, time, seq)`,
	`CREATE INDEX events_target ON events(target_id, target_type, time, seq)`,
	`CREATE INDEX events_request ON events(request_id) WHERE request_id IS NOT NULL`,
	`CREATE INDEX events_correlation ON events(correlation_id) WHERE correlation_id IS NOT NULL`,
	// Contentless: the words are indexed, not stored a second time.
	`CREATE VIRTUAL TABLE events_text USING fts5(text, content='')`,
	`INSERT INTO meta(key, value) VALUES('next', 0)`,
}

// Index is an open query index. Add is called by one goroutine at a time
// (the follower); queries may run concurrently with it.
type Index struct {
	db   *sql.DB
	path string
	// Reset says why Open made the index anew ("" when it did not).
	Reset string
}

// Open opens the index database at path, creating it (and its folder,
// 0700) if it is not there. A database of another schema version (one
// this kt did not write) is deleted and made anew, empty: the index is a
// view, and Next 0 has it rebuilt from the ledger; Reset says why. So is
// a database file SQLite finds damaged.
func Open(path string) (*Index, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	x, err := open(path)
	if errors.Is(err, errOtherVersion) || corrupt(err) {
		why := err
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if rerr := os.Remove(p); rerr != nil && !os.IsNotExist(rerr) {
				return nil, fmt.Errorf("index: %s: %w", path, rerr)
			}
		}
		if x, err = open(path); err == nil {
			x.Reset = fmt.Sprintf("%v; it is made anew and rebuilt from the ledger", why)
		}
	}
	return x, err
}

func open(path string) (*Index, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	x := &Index{db: db, path: path}
	if err := x.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	return x, nil
}

// corrupt says whether err is SQLite's report of a damaged database file
// (SQLITE_CORRUPT, SQLITE_NOTADB): the index is made anew rather than
// stopping the agent.
func corrupt(err error) bool {
	var c interface{ Code() int }
	if !errors.As(err, &c) {
		return false
	}
	switch c.Code() & 0xff {
	case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
		return true
	}
	return false
}

// errOtherVersion is a database of a schema version this kt does not know.
var errOtherVersion = errors.New("another schema version")

func (x *Index) migrate() error {
	var v int
	if err := x.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	switch v {
	case schemaVersion:
		return nil
	case 0:
	default:
		return fmt.Errorf("%w: schema version %d, this kt writes %d", errOtherVersion, v, schemaVersion)
	}
	tx, err := x.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range schema {
		if _, err := tx.Exec(s); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (x *Index) Close() error { return x.db.Close() }

// Next returns the seq of the next entry to index: every entry before it
// is in the index.
func (x *Index) Next(ctx context.Context) (uint64, error) {
	var n int64
	if err := x.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'next'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return uint64(n), nil
}

// Entry is a ledger entry to index: its seq and its line as the ledger
// wrote it.
type Entry struct {
	Seq  uint64
	Line []byte
}

// Unreadable is an entry Add could not index: its line cannot be read
// (event.ErrMalformed). It never will be.
type Unreadable struct {
	Index int   // into the entries given to Add
	Err   error // names the seq
}

// Add indexes entries, in one transaction, and moves Next past the last of
// them. Entries must come in ledger order; one already indexed is kept as
// it is. An entry whose line cannot be read is not indexed and is
// returned, with the reason; the others are.
func (x *Index) Add(ctx context.Context, entries []Entry) ([]Unreadable, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer st.Close()
	txt, err := tx.PrepareContext(ctx, `INSERT INTO events_text(rowid, text) VALUES(?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer txt.Close()
	var bad []Unreadable
	for i, en := range entries {
		ev, err := event.Parse(en.Line)
		if err != nil {
			bad = append(bad, Unreadable{Index: i, Err: fmt.Errorf("index: seq %d: the entry line cannot be read: %w", en.Seq, err)})
			continue
		}
		res, err := st.ExecContext(ctx, int64(en.Seq), ev.ID, micros(ev.Time), micros(ev.ReceivedAt), ev.Action,
			null(ev.Category), null(ev.Outcome), null(ev.Actor.Type), null(ev.Actor.ID), null(ev.Actor.Name),
			null(ev.Target.Type), null(ev.Target.ID), null(ev.OrgID), null(ev.RequestID), null(ev.CorrelationID),
			en.Line)
		if err != nil {
			return nil, fmt.Errorf("index: seq %d: %w", en.Seq, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // indexed already
		}
		if _, err := txt.ExecContext(ctx, int64(en.Seq), searchText(&ev)); err != nil {
			return nil, fmt.Errorf("index: seq %d: %w", en.Seq, err)
		}
	}
	next := int64(entries[len(entries)-1].Seq + 1)
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = max(value, ?) WHERE key = 'next'`, next); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return bad, nil
}

// insertSQL adds one row; a row already there is kept.
const insertSQL = `INSERT OR IGNORE INTO events(seq, id, time, received, action, category, outcome, ` +
	`actor_type, actor_id, actor_name, target_type, target_id, org_id, request_id, correlation_id, line) ` +
	`VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// micros returns t in Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// null returns nil for "", so that an absent member is NULL.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}
