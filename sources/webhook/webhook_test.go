package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/pipeline"
	"github.com/keeptrusts/kt/sources"
)

func TestSplit(t *testing.T) {
	src := pipeline.Source{Kind: "webhook", Name: "w"}
	cases := []struct {
		name  string
		body  string
		lines []int
		data  []string
	}{
		{"one object", `{"a":1}`, []int{1}, []string{`{"a":1}`}},
		{"pretty object", "{\n  \"a\": 1,\n  \"b\": 2\n}\n", []int{1}, []string{"{\n  \"a\": 1,\n  \"b\": 2\n}"}},
		{"array", `[{"a":1}, {"b":2}]`, []int{1, 2}, []string{`{"a":1}`, `{"b":2}`}},
		{"ndjson with blank lines", "{\"a\":1}\n\n{\"b\":2}\r\n", []int{1, 3}, []string{`{"a":1}`, `{"b":2}`}},
		{"ndjson keeps bad lines for the pipeline to name", "{\"a\":1}\nnot json\n", []int{1, 2}, []string{`{"a":1}`, `not json`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raws, errs := split([]byte(tc.body), src, "")
			require.Empty(t, errs)
			require.Len(t, raws, len(tc.lines))
			for i, r := range raws {
				assert.Equal(t, tc.lines[i], r.Line)
				assert.Equal(t, tc.data[i], string(r.Data))
				assert.Empty(t, r.FallbackID)
			}
		})
	}
	raws, _ := split([]byte("{\"a\":1}\n{\"b\":2}"), src, "msg_1")
	assert.Equal(t, "msg_1:0", raws[0].FallbackID)
	assert.Equal(t, "msg_1:1", raws[1].FallbackID)

	_, errs := split([]byte(`[{"a":1}, {"b":`), src, "")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error, "invalid JSON")
}

// fakeEmitter answers with a fixed error and records what it was given.
type fakeEmitter struct {
	mu    sync.Mutex
	err   error
	got   [][]sources.Raw
	reply sources.Result
}

func (f *fakeEmitter) Emit(_ context.Context, b []sources.Raw) (sources.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, b)
	return f.reply, f.err
}

func TestAnswers(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		code   int
		header string
		body   string
	}{
		{"accepted", nil, 202, "", `"accepted":2`},
		{"busy", fmt.Errorf("%w: full", sources.ErrBusy), 503, "1", "retry later"},
		{"conflict", &sources.ConflictError{Line: 1, ID: "e1", Seq: 7}, 409, "", `event id \"e1\" is already in the ledger at seq 7`},
		{"bad records", sources.RecordErrors{{Index: 1, Line: 2, Field: "actor", Err: fmt.Errorf(`field "actor": missing`)}}, 400, "", `"field":"actor"`},
		{"internal", fmt.Errorf("disk on fire"), 503, "1", "append failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			em := &fakeEmitter{err: tc.err, reply: sources.Result{Accepted: 2, FirstSeq: 5, LastSeq: 6}}
			cfg := NewDefaultConfig()
			cfg.Name, cfg.Listen = "w", "127.0.0.1:0"
			s, err := New(cfg, em, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			resp, err := http.Post("http://"+s.Addr()+"/v1/events", "application/json", strings.NewReader("{\"a\":1}\n{\"b\":2}"))
			require.NoError(t, err)
			defer resp.Body.Close()
			var body json.RawMessage
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tc.code, resp.StatusCode)
			assert.Equal(t, tc.header, resp.Header.Get("Retry-After"))
			assert.Contains(t, string(body), tc.body)
			require.Len(t, em.got, 1)
			assert.Len(t, em.got[0], 2)

			resp2, err := http.Get("http://" + s.Addr() + "/v1/events")
			require.NoError(t, err)
			resp2.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, resp2.StatusCode)
		})
	}
}
