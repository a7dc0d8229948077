package index

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
)

// body returns the body of event i: actors, actions and targets cycle so
// that filters have known answers.
func body(tb testing.TB, i int) []byte {
	actions := []string{"config.update", "config.delete", "member.role_assign", "policy.update"}
	m := map[string]any{
		"id": fmt.Sprintf("ev-%07d", i), "time": t0.Add(time.Duration(i) * time.Second).Format(ledger.TimeFormat),
		"received_at": t0.Add(time.Duration(i)*time.Second + time.Millisecond).Format(ledger.TimeFormat),
		"action":      actions[i%len(actions)], "category": "configuration", "outcome": "success",
		"actor":   map[string]any{"type": "user", "id": fmt.Sprintf("usr_%d", i%7), "name": fmt.Sprintf("user%d@acme.example", i%7)},
		"target":  map[string]any{"type": "gateway", "id": fmt.Sprintf("gw-%d", i%11)},
		"org_id":  "org_acme",
		"changes": map[string]any{"before": map[string]any{"rpm": i}, "after": map[string]any{"rpm": i + 1}},
	}
	if i%3 == 0 {
		m["correlation_id"] = fmt.Sprintf("corr-%d", i/30)
	}
	b, err := json.Marshal(m) // sorted keys: canonical enough for a test line
	require.NoError(tb, err)
	return b
}

// entries returns n signed, chained entry lines from seq from on: actors,
// actions and targets cycle so that filters have known answers.
func entries(tb testing.TB, from, n int) []Entry {
	tb.Helper()
	key, _, err := ledger.GenerateKey(rand.Reader, "kt-index-test")
	require.NoError(tb, err)
	s, err := ledger.NewSigner(key)
	require.NoError(tb, err)
	var prev ledger.Hash
	out := make([]Entry, 0, n)
	for i := from; i < from+n; i++ {
		b := body(tb, i)
		e := &ledger.Entry{Seq: uint64(i), PrevHash: prev, Body: b}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		prev = e.Hash
		out = append(out, Entry{Seq: uint64(i), Line: e.AppendLine(nil)})
	}
	return out
}

func TestAddIsIdempotentAndKeepsNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index", "events.db")
	x, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	next, err := x.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), next)

	es := entries(t, 0, 500)
	_, err = x.Add(ctx, es[:300])
	require.NoError(t, err)
	_, err = x.Add(ctx, es[200:]) // 200..299 again: kept once
	require.NoError(t, err)
	next, err = x.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(500), next)
	var n int
	require.NoError(t, x.db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	assert.Equal(t, 500, n)

	// A row holds the line byte for byte and the fields read from it.
	var line []byte
	var id, actor string
	var tm int64
	var corr any
	require.NoError(t, x.db.QueryRow(`SELECT line, id, actor_id, time, correlation_id FROM events WHERE seq = 31`).Scan(&line, &id, &actor, &tm, &corr))
	assert.Equal(t, es[31].Line, line)
	assert.Equal(t, "ev-0000031", id)
	assert.Equal(t, "usr_3", actor)
	assert.Equal(t, time.Date(2026, 3, 1, 10, 0, 31, 0, time.UTC).UnixMicro(), tm)
	assert.Nil(t, corr, "an absent member is NULL")
	require.NoError(t, x.Close())

	// Reopened: Next and the rows are still there.
	x, err = Open(path)
	require.NoError(t, err)
	defer x.Close()
	next, err = x.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(500), next)
}

func TestAddSkipsAnUnreadableLineAndNamesIt(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	es := entries(t, 0, 3)
	es[1].Line = []byte(`{"seq":1,"id":"x`)
	bad, err := x.Add(ctx, es)
	require.NoError(t, err)
	require.Len(t, bad, 1)
	assert.Equal(t, 1, bad[0].Index)
	assert.ErrorContains(t, bad[0].Err, "seq 1")
	next, err := x.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), next, "the others are indexed")
	var n int
	require.NoError(t, x.db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	assert.Equal(t, 2, n)
}

func TestOpenMakesAnIndexOfAnotherVersionAnew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	x, err := Open(path)
	require.NoError(t, err)
	_, err = x.Add(context.Background(), entries(t, 0, 10))
	require.NoError(t, err)
	_, err = x.db.Exec(`PRAGMA user_version = 99`)
	require.NoError(t, err)
	require.NoError(t, x.Close())

	x, err = Open(path)
	require.NoError(t, err)
	defer x.Close()
	assert.Contains(t, x.Reset, "schema version 99")
	next, err := x.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(0), next, "empty: rebuilt from the ledger")
}

func TestOpenMakesADamagedIndexAnew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a database "), 300), 0o600))
	x, err := Open(path)
	require.NoError(t, err)
	defer x.Close()
	assert.Contains(t, x.Reset, "not a database")
	next, err := x.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(0), next)
}
