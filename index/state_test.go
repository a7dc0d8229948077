package index

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
)

// indexBodies indexes the given event bodies as entries 0, 1, ...
func indexBodies(t *testing.T, bodies []map[string]any) *Index {
	t.Helper()
	x, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	t.Cleanup(func() { x.Close() })
	key, _, err := ledger.GenerateKey(rand.Reader, "kt-index-test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(key)
	require.NoError(t, err)
	var prev ledger.Hash
	var es []Entry
	for i, m := range bodies {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		e := &ledger.Entry{Seq: uint64(i), PrevHash: prev, Body: b}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		prev = e.Hash
		es = append(es, Entry{Seq: uint64(i), Line: e.AppendLine(nil)})
	}
	_, err = x.Add(context.Background(), es)
	require.NoError(t, err)
	return x
}

func TestStateRebuiltAcrossFiveChanges(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(h int) string { return t0.Add(time.Duration(h) * time.Hour).Format(ledger.TimeFormat) }
	cfg := func(v int) map[string]any {
		return map[string]any{"version": v, "routes": []any{map[string]any{"name": "default", "rpm": 100 * v}}}
	}
	target := map[string]any{"type": "config", "id": "cfg_gw"}
	bodies := []map[string]any{
		{"id": "e0", "time": at(0), "action": "config.view", "target": target}, // no changes
	}
	for v := 1; v <= 5; v++ { // hours 1..5
		var before any
		if v > 1 {
			before = cfg(v - 1)
		}
		bodies = append(bodies, map[string]any{"id": "c" + string(rune('0'+v)), "time": at(v), "action": "config.update",
			"target": target, "changes": map[string]any{"before": before, "after": cfg(v)}})
	}
	bodies = append(bodies,
		map[string]any{"id": "v6", "time": at(6), "action": "config.view", "target": target},
		map[string]any{"id": "other", "time": at(6), "action": "config.update", "target": map[string]any{"type": "config", "id": "cfg_other"},
			"changes": map[string]any{"after": cfg(99)}},
		map[string]any{"id": "d7", "time": at(7), "action": "config.delete", "target": target, "changes": map[string]any{"before": cfg(5)}},
	)
	x := indexBodies(t, bodies)
	ctx := context.Background()

	for v := 1; v <= 5; v++ {
		st, err := x.State(ctx, "config", "cfg_gw", t0.Add(time.Duration(v)*time.Hour+30*time.Minute))
		require.NoError(t, err)
		require.True(t, st.Known, "v%d", v)
		want, _ := json.Marshal(cfg(v))
		assert.JSONEq(t, string(want), string(st.Document), "the state after change %d", v)
		assert.Equal(t, uint64(v), st.From.Seq)
		assert.Equal(t, v+1, st.Total)
	}
	// At the moment of change 3 exactly: it counts (at or before).
	st, err := x.State(ctx, "", "cfg_gw", t0.Add(3*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "config", st.TargetType, "the type found from the id")
	assert.Equal(t, uint64(3), st.From.Seq)
	// After a view: the same state, built from change 5 and the view.
	st, err = x.State(ctx, "config", "cfg_gw", t0.Add(6*time.Hour+time.Minute))
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.From.Seq)
	require.Len(t, st.Events, 2)
	assert.Equal(t, uint64(6), st.Events[1].Seq)
	// Deleted.
	st, err = x.State(ctx, "config", "cfg_gw", t0.Add(8*time.Hour))
	require.NoError(t, err)
	assert.True(t, st.Known)
	assert.True(t, st.Deleted)
	assert.Nil(t, st.Document)
	// Before any change: the record cannot support a state, and says so.
	st, err = x.State(ctx, "config", "cfg_gw", t0.Add(30*time.Minute))
	require.NoError(t, err)
	assert.False(t, st.Known)
	assert.Contains(t, st.Why, "none of the 1 events of config/cfg_gw")
	// Before any event at all, and an unknown target.
	_, err = x.State(ctx, "config", "cfg_gw", t0.Add(-time.Hour))
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = x.State(ctx, "", "nope", t0)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestStateNeedsTheTypeWhenAnIDHasSeveral(t *testing.T) {
	x := indexBodies(t, []map[string]any{
		{"id": "a", "time": "2026-03-01T10:00:00.000000Z", "action": "x.update", "target": map[string]any{"type": "user", "id": "42"}},
		{"id": "b", "time": "2026-03-01T10:00:00.000000Z", "action": "x.update", "target": map[string]any{"type": "team", "id": "42"}},
	})
	_, err := x.State(context.Background(), "", "42", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.ErrorIs(t, err, ErrAmbiguous)
	assert.ErrorContains(t, err, "team, user")
}
