package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/queue"
	"github.com/keeptrusts/kt/sources"
)

// newEmitter returns an Emitter on a new ledger in a temp dir.
func newEmitter(t *testing.T) (*Emitter, *queue.Ledger) {
	t.Helper()
	skey, _, err := ledger.GenerateKey(rand.Reader, "kt-test")
	require.NoError(t, err)
	signer, err := ledger.NewSigner(skey)
	require.NoError(t, err)
	led, err := queue.Open(queue.Options{Dir: t.TempDir(), Signer: signer})
	require.NoError(t, err)
	t.Cleanup(func() { led.Close() })
	o := pipeline.NewDefaultOptions()
	o.RedactKey = make([]byte, 32)
	norm, err := pipeline.New(o)
	require.NoError(t, err)
	return New(norm, led), led
}

func raw(line int, ev string) sources.Raw {
	return sources.Raw{Data: []byte(ev), Line: line, Source: pipeline.Source{Kind: "webhook", Name: "w"}}
}

func ev(id, action string) string {
	return fmt.Sprintf(`{"id":%q,"time":"2026-01-01T00:00:00Z","action":%q,"actor":"alice"}`, id, action)
}

func TestEmitResults(t *testing.T) {
	e, led := newEmitter(t)
	ctx := context.Background()
	res, err := e.Emit(ctx, []sources.Raw{raw(1, ev("a", "config.update")), raw(2, ev("b", "config.update"))})
	require.NoError(t, err)
	assert.Equal(t, sources.Result{Accepted: 2, FirstSeq: 1, LastSeq: 2}, res)

	res, err = e.Emit(ctx, []sources.Raw{raw(1, ev("a", "config.update")), raw(2, ev("c", "config.update"))})
	require.NoError(t, err)
	assert.Equal(t, sources.Result{Accepted: 1, Duplicates: 1, FirstSeq: 3, LastSeq: 3}, res, "a retry is a duplicate")

	// Large batches are normalized on every core; ledger order is the
	// batch's order.
	var batch []sources.Raw
	for i := range 200 {
		batch = append(batch, raw(i+1, ev(fmt.Sprint("p", i), "config.update")))
	}
	res, err = e.Emit(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Accepted)
	assert.Equal(t, uint64(4), res.FirstSeq)
	assert.Equal(t, uint64(203), res.LastSeq)
	assert.Equal(t, uint64(204), led.Size())
}

func TestEmitErrorsSourcesUnderstand(t *testing.T) {
	e, led := newEmitter(t)
	ctx := context.Background()
	_, err := e.Emit(ctx, []sources.Raw{raw(1, ev("x", "config.update"))})
	require.NoError(t, err)

	t.Run("records that can never be accepted", func(t *testing.T) {
		_, err := e.Emit(ctx, []sources.Raw{raw(1, ev("ok", "config.update")), raw(7, `{"time":"2026-01-01T00:00:00Z","actor":"a"}`),
			raw(9, ev(strings.Repeat("i", 70000), "config.update"))})
		var recs sources.RecordErrors
		require.ErrorAs(t, err, &recs)
		require.Len(t, recs, 2)
		assert.Equal(t, sources.RecordError{Index: 1, Line: 7, Field: "action", Err: recs[0].Err}, recs[0])
		assert.Equal(t, 9, recs[1].Line)
		assert.Equal(t, "id", recs[1].Field)
	})
	t.Run("an id already in the ledger with other content", func(t *testing.T) {
		_, err := e.Emit(ctx, []sources.Raw{raw(3, ev("x", "config.delete"))})
		var ce *sources.ConflictError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, &sources.ConflictError{Line: 3, ID: "x", Seq: 1}, ce)
	})
	t.Run("an id twice in one batch with other content", func(t *testing.T) {
		_, err := e.Emit(ctx, []sources.Raw{raw(4, ev("y", "config.update")), raw(5, ev("y", "config.delete"))})
		var ce *sources.ConflictError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 5, ce.Line)
		assert.Equal(t, 4, ce.EarlierLine)
		assert.Contains(t, ce.Error(), "also on line 4 of the same batch")
	})
	t.Run("a closed ledger", func(t *testing.T) {
		require.NoError(t, led.Close())
		_, err := e.Emit(ctx, []sources.Raw{raw(1, ev("z", "config.update"))})
		assert.True(t, errors.Is(err, sources.ErrUnavailable), "%v", err)
	})
}

func TestRedactRaw(t *testing.T) {
	e, _ := newEmitter(t)
	out := string(e.RedactRaw([]byte(`{"password":"hunter2","action":"x"}`)))
	assert.NotContains(t, out, "hunter2")
	assert.Contains(t, out, pipeline.RedactedPrefix)
}
