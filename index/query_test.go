package index

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fields of entry i of entries(), for the expected answers.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func entryAction(i int) string {
	return []string{"config.update", "config.delete", "member.role_assign", "policy.update"}[i%4]
}
func entryActor(i int) (id, name string) {
	return fmt.Sprintf("usr_%d", i%7), fmt.Sprintf("user%d@acme.example", i%7)
}
func entryTarget(i int) string  { return fmt.Sprintf("gw-%d", i%11) }
func entryTime(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func openFilled(t *testing.T, n int) *Index {
	t.Helper()
	x, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	t.Cleanup(func() { x.Close() })
	es := entries(t, 0, n)
	for lo := 0; lo < n; lo += 250 {
		_, err := x.Add(context.Background(), es[lo:min(lo+250, n)])
		require.NoError(t, err)
	}
	return x
}

// all pages through a listing and returns the seqs in order.
func all(t *testing.T, x *Index, f Filter, limit int, oldest bool) []uint64 {
	t.Helper()
	var got []uint64
	p := Page{Limit: limit, Oldest: oldest}
	for range 10000 {
		res, err := x.Query(context.Background(), f, p)
		require.NoError(t, err)
		require.LessOrEqual(t, len(res.Rows), limit)
		for _, r := range res.Rows {
			got = append(got, r.Seq)
		}
		if res.Next == "" {
			return got
		}
		require.NotEmpty(t, res.Rows, "a page with a next cursor has rows")
		p.Cursor = res.Next
	}
	t.Fatal("listing never ended")
	return nil
}

func TestQueryFiltersHaveKnownAnswers(t *testing.T) {
	const n = 1000
	x := openFilled(t, n)
	cases := []struct {
		name string
		f    Filter
		want func(i int) bool
	}{
		{"everything", Filter{}, func(int) bool { return true }},
		{"actor id", Filter{Actor: "usr_3"}, func(i int) bool { id, _ := entryActor(i); return id == "usr_3" }},
		{"actor name", Filter{Actor: "user5@acme.example"}, func(i int) bool { _, nm := entryActor(i); return nm == "user5@acme.example" }},
		{"actor type", Filter{ActorType: "user"}, func(int) bool { return true }},
		{"actor type none", Filter{ActorType: "system"}, func(int) bool { return false }},
		{"action exact", Filter{Action: "config.delete"}, func(i int) bool { return entryAction(i) == "config.delete" }},
		{"action prefix", Filter{Action: "config.*"}, func(i int) bool { a := entryAction(i); return a == "config.update" || a == "config.delete" }},
		{"action prefix is not a substring", Filter{Action: "onfig.*"}, func(int) bool { return false }},
		{"target", Filter{TargetType: "gateway", TargetID: "gw-4"}, func(i int) bool { return entryTarget(i) == "gw-4" }},
		{"target type other", Filter{TargetType: "policy"}, func(int) bool { return false }},
		{"category and outcome", Filter{Category: "configuration", Outcome: "success"}, func(int) bool { return true }},
		{"org", Filter{Org: "org_other"}, func(int) bool { return false }},
		{"from inclusive, to exclusive", Filter{From: entryTime(100), To: entryTime(200)}, func(i int) bool { return i >= 100 && i < 200 }},
		{"all of them", Filter{Actor: "usr_2", Action: "config.*", From: entryTime(50), To: entryTime(900)},
			func(i int) bool {
				id, _ := entryActor(i)
				return id == "usr_2" && entryAction(i)[:7] == "config." && i >= 50 && i < 900
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []uint64
			for i := n - 1; i >= 0; i-- {
				if c.want(i) {
					want = append(want, uint64(i))
				}
			}
			got := all(t, x, c.f, 37, false)
			assert.Equal(t, want, got, "newest first")
			slices.Reverse(want)
			got = all(t, x, c.f, 50, true)
			assert.Equal(t, want, got, "oldest first")
		})
	}
}

func TestQueryRowsCarryTheLedgerLine(t *testing.T) {
	x := openFilled(t, 20)
	res, err := x.Query(context.Background(), Filter{}, Page{Limit: 5})
	require.NoError(t, err)
	require.Len(t, res.Rows, 5)
	es := entries(t, 0, 20)
	assert.Equal(t, uint64(19), res.Rows[0].Seq)
	assert.Equal(t, string(es[19].Line)[:40], string(res.Rows[0].Line)[:40], "the line starts with the ledger fields")

	r, ok, err := x.Get(context.Background(), "ev-0000007")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(7), r.Seq)
	_, ok, err = x.Get(context.Background(), "nope")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestQueryPagingStaysStableWhileEventsArrive(t *testing.T) {
	x := openFilled(t, 300)
	ctx := context.Background()
	first, err := x.Query(ctx, Filter{}, Page{Limit: 100})
	require.NoError(t, err)
	require.NotEmpty(t, first.Next)
	// 200 newer events arrive between two pages.
	_, err = x.Add(ctx, entries(t, 300, 200))
	require.NoError(t, err)
	var got []uint64
	for _, r := range first.Rows {
		got = append(got, r.Seq)
	}
	p := Page{Limit: 100, Cursor: first.Next}
	for {
		res, err := x.Query(ctx, Filter{}, p)
		require.NoError(t, err)
		for _, r := range res.Rows {
			got = append(got, r.Seq)
		}
		if res.Next == "" {
			break
		}
		p.Cursor = res.Next
	}
	var want []uint64
	for i := 299; i >= 0; i-- {
		want = append(want, uint64(i))
	}
	assert.Equal(t, want, got, "the pages after the first go on where it ended: no event twice, none skipped")
}

func TestQueryRefusesBadPages(t *testing.T) {
	x := openFilled(t, 3)
	ctx := context.Background()
	for _, c := range []string{"x", "dDEyMw", "!!!", "dDEuczE" + "AAAA"} {
		_, err := x.Query(ctx, Filter{}, Page{Cursor: c})
		assert.ErrorIs(t, err, ErrBadCursor, c)
	}
	_, err := x.Query(ctx, Filter{}, Page{Limit: MaxLimit + 1})
	assert.ErrorContains(t, err, "limit")
	_, err = x.Query(ctx, Filter{}, Page{Limit: -1})
	assert.ErrorContains(t, err, "limit")
}

func TestQueryFreeText(t *testing.T) {
	const n = 200
	x := openFilled(t, n)
	count := func(text string) int {
		t.Helper()
		return len(all(t, x, Filter{Text: text}, 1000, false))
	}
	assert.Equal(t, n, count("rpm"), "member names of changes")
	assert.Equal(t, n/4, count("policy"), "a word of the action policy.update")
	assert.Equal(t, (n+6)/7, count(`"user0@acme.example"`), "a phrase: the actor's name")
	assert.Equal(t, (n+6)/7, count(`user0 acme`), "words anywhere")
	assert.Equal(t, 0, count(`"acme user0"`), "a phrase keeps its order")
	assert.Equal(t, n/4, count("POLICY"), "case folded")
	assert.Equal(t, 0, count("nothing-like-this"))
	// FTS5 syntax in what a user types is words, never an operator.
	for _, s := range []string{"OR", "rpm OR nothing", "NEAR(rpm policy)", "rp*", "text:rpm", `"unterminated`, `\"`, "-rpm", "^rpm"} {
		_, err := x.Query(context.Background(), Filter{Text: s}, Page{})
		assert.NoError(t, err, s)
	}
	assert.Equal(t, 0, count("rpm OR nothing"), "OR is a word that must appear")
	// Free text with the other filters.
	got := all(t, x, Filter{Text: "policy", Actor: "usr_3"}, 1000, false)
	for _, seq := range got {
		assert.Equal(t, "policy.update", entryAction(int(seq)))
		id, _ := entryActor(int(seq))
		assert.Equal(t, "usr_3", id)
	}
	assert.NotEmpty(t, got)
}

func TestMatchExprQuotesEverything(t *testing.T) {
	assert.Equal(t, `"rate limit" "deploy"`, matchExpr(`"rate limit" deploy`))
	assert.Equal(t, `"a""b"`, matchExpr(`"a\"b"`))
	assert.Equal(t, `"OR" "NEAR(x"`, matchExpr(`OR NEAR(x`))
	assert.Equal(t, "", matchExpr(`  "" `))
}

func TestQueryPagesOfLargeEventsStayBounded(t *testing.T) {
	var bodies []map[string]any
	big := strings.Repeat("x", 3<<20) // 3 MiB an event
	for i := range 12 {
		bodies = append(bodies, map[string]any{"id": fmt.Sprintf("big-%02d", i), "time": entryTime(i).Format(time.RFC3339),
			"action": "config.update", "target": map[string]any{"type": "blob", "id": "b1"}, "attributes": map[string]any{"blob": big}})
	}
	x := indexBodies(t, bodies)
	res, err := x.Query(context.Background(), Filter{}, Page{Limit: MaxLimit})
	require.NoError(t, err)
	assert.Len(t, res.Rows, 6, "16 MiB a page: six events of 3 MiB")
	assert.NotEmpty(t, res.Next)
	assert.Len(t, all(t, x, Filter{}, MaxLimit, true), 12, "paging still gives every event")

	tl, err := x.Timeline(context.Background(), "big-05", 0)
	require.NoError(t, err)
	assert.True(t, tl.Truncated)
	var total int
	for _, e := range tl.Events {
		total += len(e.Line)
	}
	assert.LessOrEqual(t, total, MaxPageBytes)
	assert.Len(t, tl.Events, 5, "the event and the four nearest to it (the 16 MiB hold five of 3 MiB)")
	for _, e := range tl.Events {
		assert.InDelta(t, 5, int(e.Seq), 2)
	}
}
