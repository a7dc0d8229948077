package query

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/index"
	"github.com/keeptrusts/kt/ledger"
)

// eventsServer serves an index of n events: event i at 2026-03-01T10:00Z
// plus i minutes, action config.update (even i) or member.role_assign,
// actor usr_<i%3>. It returns the base URL.
func eventsServer(t *testing.T, n int) (string, []string) {
	t.Helper()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var bodies []map[string]any
	for i := range n {
		action := "config.update"
		if i%2 == 1 {
			action = "member.role_assign"
		}
		bodies = append(bodies, map[string]any{
			"id": fmt.Sprintf("ev-%d", i), "time": t0.Add(time.Duration(i) * time.Minute).Format(ledger.TimeFormat),
			"action": action, "category": "configuration", "outcome": "success",
			"actor":  map[string]any{"type": "user", "id": fmt.Sprintf("usr_%d", i%3), "name": "a<b>&c"},
			"target": map[string]any{"type": "gateway", "id": "gw-1"},
		})
	}
	return serverOf(t, bodies)
}

// serverOf serves an index of the events bodies (entry i is bodies[i]);
// it returns the base URL and the entry lines.
func serverOf(t *testing.T, bodies []map[string]any) (string, []string) {
	t.Helper()
	x, err := index.Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	t.Cleanup(func() { x.Close() })
	key, _, err := ledger.GenerateKey(rand.Reader, "kt-query-test")
	require.NoError(t, err)
	s, err := ledger.NewSigner(key)
	require.NoError(t, err)
	var es []index.Entry
	var lines []string
	var prev ledger.Hash
	for i, m := range bodies {
		body, err := json.Marshal(m)
		require.NoError(t, err)
		e := &ledger.Entry{Seq: uint64(i), PrevHash: prev, Body: body}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		prev = e.Hash
		line := e.AppendLine(nil)
		es = append(es, index.Entry{Seq: uint64(i), Line: line})
		lines = append(lines, string(line))
	}
	_, err = x.Add(context.Background(), es)
	require.NoError(t, err)
	srv := start(t, Options{Listen: "127.0.0.1:0", Token: "tok", Registry: prometheus.NewRegistry(), Ready: func() string { return "" }, Index: x})
	return "http://" + srv.Addr(), lines
}

type listing struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor string            `json:"next_cursor"`
}

func list(t *testing.T, base string, q url.Values) (int, listing, string) {
	t.Helper()
	code, body := getAuth(t, base+"/v1/events?"+q.Encode(), "Bearer tok")
	var l listing
	if code == 200 {
		require.NoError(t, json.Unmarshal([]byte(body), &l), body)
	}
	return code, l, body
}

func TestEventsListingFiltersAndPages(t *testing.T) {
	base, lines := eventsServer(t, 30)
	// Newest first, every line byte for byte (no HTML escaping of <, >, &).
	code, l, _ := list(t, base, url.Values{"limit": {"7"}})
	require.Equal(t, 200, code)
	require.Len(t, l.Events, 7)
	assert.Equal(t, lines[29], string(l.Events[0]))
	var got []string
	for {
		for _, e := range l.Events {
			got = append(got, string(e))
		}
		if l.NextCursor == "" {
			break
		}
		code, l, _ = list(t, base, url.Values{"limit": {"7"}, "cursor": {l.NextCursor}})
		require.Equal(t, 200, code)
	}
	require.Len(t, got, 30)
	assert.Equal(t, lines[0], got[29])

	// Filters: actor, action prefix, a date range in a time zone, oldest first.
	code, l, body := list(t, base, url.Values{"actor": {"usr_1"}, "action": {"config.*"},
		"from": {"2026-03-01T11:00:00+01:00"}, "to": {"2026-03-01T10:20:00Z"}, "order": {"oldest"}})
	require.Equal(t, 200, code, body)
	// i%3 == 1, i even, 0 <= i < 20: 4, 10, 16
	require.Len(t, l.Events, 3)
	assert.Equal(t, lines[4], string(l.Events[0]))
	assert.Equal(t, lines[16], string(l.Events[2]))

	// A date is a day in tz: 2026-03-01 in Tokyo ends at 15:00 UTC, after all 30.
	code, l, _ = list(t, base, url.Values{"to": {"2026-03-01"}, "tz": {"Asia/Tokyo"}})
	require.Equal(t, 200, code)
	assert.Empty(t, l.Events, "before 2026-03-01 00:00 in Tokyo (Feb 28 15:00 UTC): nothing")

	code, body = getAuth(t, base+"/v1/events/ev-5", "Bearer tok")
	assert.Equal(t, 200, code)
	assert.Equal(t, lines[5]+"\n", body)
	code, body = getAuth(t, base+"/v1/events/nope", "Bearer tok")
	assert.Equal(t, 404, code)
	assert.Contains(t, body, `"parameter":"id"`)
}

func TestEventsListingRefusesBadParametersNamingThem(t *testing.T) {
	base, _ := eventsServer(t, 3)
	for _, c := range []struct {
		q     url.Values
		param string
		want  string
	}{
		{url.Values{"actr": {"x"}}, "actr", "unknown parameter"},
		{url.Values{"actor": {"a", "b"}}, "actor", "more than once"},
		{url.Values{"from": {"yesterday"}}, "from", "not a date"},
		{url.Values{"to": {"2026-03-01T10:00:00"}}, "to", "RFC 3339"},
		{url.Values{"from": {"2026-03-02"}, "to": {"2026-03-01"}}, "to", "empty"},
		{url.Values{"tz": {"Mars/Olympus"}}, "tz", "IANA"},
		{url.Values{"limit": {"0"}}, "limit", "1 to 1000"},
		{url.Values{"limit": {"1001"}}, "limit", "1 to 1000"},
		{url.Values{"order": {"random"}}, "order", "newest or oldest"},
		{url.Values{"cursor": {"bogus"}}, "cursor", "not a cursor"},
		{url.Values{"actor_type": {"robot"}}, "actor_type", "user, api_token or system"},
	} {
		code, _, body := list(t, base, c.q)
		assert.Equal(t, 400, code, "%v: %s", c.q, body)
		assert.Contains(t, body, fmt.Sprintf(`"parameter":%q`, c.param), "%v", c.q)
		assert.Contains(t, body, c.want, "%v", c.q)
	}
}

func TestEventsNeedTheToken(t *testing.T) {
	base, _ := eventsServer(t, 1)
	for _, path := range []string{"/v1/events", "/v1/events/ev-0"} {
		code, _ := getAuth(t, base+path, "")
		assert.Equal(t, 401, code, path)
		code, _ = getAuth(t, base+path, "Bearer wrong")
		assert.Equal(t, 401, code, path)
	}
}

func TestEventsSearchString(t *testing.T) {
	base, lines := eventsServer(t, 30)
	code, l, body := list(t, base, url.Values{"search": {`actor:usr_2 action:member.* created:2026-03-01T10:00:00Z..2026-03-01T10:11:00Z`}})
	require.Equal(t, 200, code, body)
	// i%3 == 2, i odd, minute 0..11 inclusive: 11, 5
	require.Len(t, l.Events, 2)
	assert.Equal(t, lines[11], string(l.Events[0]))
	assert.Equal(t, lines[5], string(l.Events[1]))

	code, _, body = list(t, base, url.Values{"search": {`colour:red`}})
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"parameter":"search"`)
	assert.Contains(t, body, `unknown key \"colour\"`)

	code, _, body = list(t, base, url.Values{"search": {`actor:usr_1`}, "actor": {"usr_2"}})
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"parameter":"actor"`)
	assert.Contains(t, body, "also given in search=")

	// Free text, in search= and in q=: every word (the action member.role_assign
	// has the words member, role and assign).
	code, l, body = list(t, base, url.Values{"search": {`actor:usr_1 "role assign"`}})
	require.Equal(t, 200, code, body)
	require.Len(t, l.Events, 5) // i%3 == 1 and i odd, i < 30: 1, 7, 13, 19, 25
	assert.Equal(t, lines[25], string(l.Events[0]))
	code, l, body = list(t, base, url.Values{"q": {"member"}, "actor": {"usr_1"}})
	require.Equal(t, 200, code, body)
	assert.Len(t, l.Events, 5)
	code, l, _ = list(t, base, url.Values{"q": {"OR member"}})
	require.Equal(t, 200, code)
	assert.Empty(t, l.Events, "OR is a word to find, not an operator")
}

func TestEventsTimeline(t *testing.T) {
	base, lines := eventsServer(t, 30)
	// Event 9: actor usr_0 (0, 3, ..., 27); every event has target gw-1.
	code, body := getAuth(t, base+"/v1/events/ev-9/timeline?window=3m", "Bearer tok")
	require.Equal(t, 200, code, body)
	var tl struct {
		Event     json.RawMessage `json:"event"`
		Window    string          `json:"window"`
		Truncated bool            `json:"truncated"`
		Events    []struct {
			Why   []string        `json:"why"`
			Event json.RawMessage `json:"event"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &tl))
	assert.Equal(t, lines[9], string(tl.Event))
	assert.Equal(t, "3m0s", tl.Window)
	// Minutes 6..12: all share the target; 6, 9, 12 the actor.
	require.Len(t, tl.Events, 7)
	for k, e := range tl.Events {
		i := 6 + k
		assert.Equal(t, lines[i], string(e.Event))
		switch {
		case i == 9:
			assert.Empty(t, e.Why)
		case i%3 == 0:
			assert.Equal(t, []string{"target", "actor"}, e.Why)
		default:
			assert.Equal(t, []string{"target"}, e.Why)
		}
	}
	code, body = getAuth(t, base+"/v1/events/ev-9/timeline?window=soon", "Bearer tok")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"parameter":"window"`)
	code, body = getAuth(t, base+"/v1/events/ev-9/timeline?windw=1h", "Bearer tok")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"parameter":"windw"`)
	code, _ = getAuth(t, base+"/v1/events/nope/timeline", "Bearer tok")
	assert.Equal(t, 404, code)
	code, _ = getAuth(t, base+"/v1/events/ev-9/timeline", "")
	assert.Equal(t, 401, code)
}

func TestStateAtATime(t *testing.T) {
	target := map[string]any{"type": "policy", "id": "pol_1"}
	base, lines := serverOf(t, []map[string]any{
		{"id": "p1", "time": "2026-03-01T10:00:00.000000Z", "action": "policy.create", "target": target,
			"changes": map[string]any{"after": map[string]any{"allow": []any{"gpt-4o"}}}},
		{"id": "p2", "time": "2026-03-01T12:00:00.000000Z", "action": "policy.update", "target": target,
			"changes": map[string]any{"before": map[string]any{"allow": []any{"gpt-4o"}}, "after": map[string]any{"allow": []any{"gpt-4o", "claude"}}}},
	})
	code, body := getAuth(t, base+"/v1/state?target_id=pol_1&at=2026-03-01T11:00:00%2B01:00", "Bearer tok")
	require.Equal(t, 200, code, body)
	var st struct {
		TargetType string            `json:"target_type"`
		Known      bool              `json:"known"`
		State      json.RawMessage   `json:"state"`
		From       json.RawMessage   `json:"from"`
		Events     []json.RawMessage `json:"events"`
		Total      int               `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, "policy", st.TargetType)
	assert.True(t, st.Known)
	assert.JSONEq(t, `{"allow":["gpt-4o"]}`, string(st.State), "10:00 UTC: after p1, before p2")
	assert.Equal(t, lines[0], string(st.From))
	assert.Equal(t, 1, st.Total)

	code, body = getAuth(t, base+"/v1/state?target_type=policy&target_id=pol_1&at=2026-03-02&tz=Europe/Berlin", "Bearer tok")
	require.Equal(t, 200, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.JSONEq(t, `{"allow":["gpt-4o","claude"]}`, string(st.State))

	for _, c := range []struct{ q, param string }{
		{"at=2026-03-01", "target_id"},
		{"target_id=pol_1&at=noon", "at"},
		{"target_id=pol_1&when=now", "when"},
	} {
		code, body = getAuth(t, base+"/v1/state?"+c.q, "Bearer tok")
		assert.Equal(t, 400, code, c.q)
		assert.Contains(t, body, `"parameter":"`+c.param+`"`, c.q)
	}
	code, _ = getAuth(t, base+"/v1/state?target_id=nope", "Bearer tok")
	assert.Equal(t, 404, code)
	code, _ = getAuth(t, base+"/v1/state?target_id=pol_1&at=2026-02-01", "Bearer tok")
	assert.Equal(t, 404, code, "no event of the target before then")
}

func TestEventsDiff(t *testing.T) {
	base, _ := serverOf(t, []map[string]any{
		{"id": "c1", "time": "2026-03-01T10:00:00.000000Z", "action": "config.update",
			"changes": map[string]any{
				"before": map[string]any{"routes": []any{map[string]any{"name": "a", "rpm": 1}, map[string]any{"name": "b", "rpm": 2}}},
				"after":  map[string]any{"routes": []any{map[string]any{"name": "b", "rpm": 3}, map[string]any{"name": "a", "rpm": 1}}},
			}},
		{"id": "v1", "time": "2026-03-01T10:00:00.000000Z", "action": "config.view"},
	})
	code, body := getAuth(t, base+"/v1/events/c1/diff", "Bearer tok")
	require.Equal(t, 200, code, body)
	var d struct {
		HasChanges bool `json:"has_changes"`
		Changes    []struct {
			Path, Kind    string
			Before, After json.RawMessage
		} `json:"changes"`
		Patch []map[string]any `json:"patch"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	assert.True(t, d.HasChanges)
	require.Len(t, d.Changes, 1, "reordering named routes is no change; b's rpm is")
	assert.Equal(t, "routes[name=b].rpm", d.Changes[0].Path)
	assert.Equal(t, "modified", d.Changes[0].Kind)
	assert.Equal(t, "2", string(d.Changes[0].Before))
	assert.Equal(t, "3", string(d.Changes[0].After))
	assert.NotEmpty(t, d.Patch)

	code, body = getAuth(t, base+"/v1/events/v1/diff", "Bearer tok")
	require.Equal(t, 200, code)
	assert.Contains(t, body, `"has_changes":false`)
	code, _ = getAuth(t, base+"/v1/events/nope/diff", "Bearer tok")
	assert.Equal(t, 404, code)
	code, _ = getAuth(t, base+"/v1/events/c1/diff?x=1", "Bearer tok")
	assert.Equal(t, 400, code)
	code, _ = getAuth(t, base+"/v1/events/c1/diff", "")
	assert.Equal(t, 401, code)
}
