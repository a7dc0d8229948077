package index

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var searchCET = time.FixedZone("CET", 3600)

// searchUTC returns f with its times in UTC, so that filters compare by
// their instants.
func searchUTC(f Filter) Filter {
	if !f.From.IsZero() {
		f.From = f.From.UTC()
	}
	if !f.To.IsZero() {
		f.To = f.To.UTC()
	}
	return f
}

func TestParseSearchKeysAndAliases(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Filter
	}{
		{"", Filter{}},
		{" \t\n ", Filter{}},
		{"actor:alice@acme.example", Filter{Actor: "alice@acme.example"}},
		{"Actor:usr_1", Filter{Actor: "usr_1"}},
		{"actor_type:user", Filter{ActorType: "user"}},
		{"actor-type:api_token", Filter{ActorType: "api_token"}},
		{"ACTOR_TYPE:system", Filter{ActorType: "system"}},
		{"action:config.update", Filter{Action: "config.update"}},
		{"action:config.*", Filter{Action: "config.*"}},
		{"action:config.rules.*", Filter{Action: "config.rules.*"}},
		{"category:config", Filter{Category: "config"}},
		{"target_type:gateway", Filter{TargetType: "gateway"}},
		{"target-type:gateway", Filter{TargetType: "gateway"}},
		{"target:gw-1", Filter{TargetID: "gw-1"}},
		{"target_id:gw-1", Filter{TargetID: "gw-1"}},
		{"target-id:gw-1", Filter{TargetID: "gw-1"}},
		{"Target-ID:gw-1", Filter{TargetID: "gw-1"}},
		{"outcome:failure", Filter{Outcome: "failure"}},
		{"org:org_42", Filter{Org: "org_42"}},
		{"created:2026-01-01", Filter{
			From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			To:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{"time:2026-01-01", Filter{
			From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			To:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{"CREATED:>=2026-01-01", Filter{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
		// Values are kept as given: case, colons, stars, backslashes.
		{"target:gw:1", Filter{TargetID: "gw:1"}},
		{"actor:Alice", Filter{Actor: "Alice"}},
		{`org:a\b`, Filter{Org: `a\b`}},
		{"category:*", Filter{Category: "*"}},
		{"actor:ünïcödé", Filter{Actor: "ünïcödé"}},
		{
			"actor:a actor_type:user action:x category:c target_type:tt target:ti outcome:o org:g created:2026-01-01",
			Filter{Actor: "a", ActorType: "user", Action: "x", Category: "c", TargetType: "tt", TargetID: "ti",
				Outcome: "o", Org: "g",
				From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseSearch(c.in, nil)
			require.NoError(t, err)
			assert.Equal(t, searchUTC(c.want), searchUTC(got))
		})
	}
}

func TestParseSearchQuotingAndFreeText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Filter
	}{
		{`actor:"Alice Example"`, Filter{Actor: "Alice Example"}},
		{`actor:"say \"hi\""`, Filter{Actor: `say "hi"`}},
		{`actor:"back\\slash"`, Filter{Actor: `back\slash`}},
		{`actor:"a:b"`, Filter{Actor: "a:b"}},
		{`actor:"  two  spaces  "`, Filter{Actor: "  two  spaces  "}},
		{`ACTOR:"x" org:"y"`, Filter{Actor: "x", Org: "y"}},
		{`created:"2026-01-01"`, Filter{
			From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			To:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		// Free text: words joined by one space, phrases as typed.
		{"deploy", Filter{Text: "deploy"}},
		{"  deploy \t\n  rollback  ", Filter{Text: "deploy rollback"}},
		{"deploy\u3000rollback", Filter{Text: "deploy rollback"}},
		{`"rate limit" deploy`, Filter{Text: `"rate limit" deploy`}},
		{`"rate  limit"`, Filter{Text: `"rate  limit"`}},
		{`"say \"hi\""`, Filter{Text: `"say \"hi\""`}},
		{`"a:b"`, Filter{Text: `"a:b"`}},
		{`back\slash`, Filter{Text: `back\slash`}},
		{`*`, Filter{Text: `*`}},
		{`deploy actor:bob "rate limit" org:o1 now`, Filter{Actor: "bob", Org: "o1", Text: `deploy "rate limit" now`}},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseSearch(c.in, nil)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// The issue's example.
func TestParseSearchIssueExample(t *testing.T) {
	got, err := ParseSearch(`actor:alice@acme.example action:config.* created:2026-01-01..2026-03-31 "rate limit"`, nil)
	require.NoError(t, err)
	assert.Equal(t, Filter{
		Actor:  "alice@acme.example",
		Action: "config.*",
		From:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		To:     time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		Text:   `"rate limit"`,
	}, searchUTC(got))

	// In CET the days start an hour earlier.
	got, err = ParseSearch(`actor:alice@acme.example action:config.* created:2026-01-01..2026-03-31 "rate limit"`, searchCET)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), got.From.UTC())
	assert.Equal(t, time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC), got.To.UTC())
	assert.Equal(t, searchCET, got.From.Location())
	assert.Equal(t, searchCET, got.To.Location())
}

func TestParseSearchCreated(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min, s, ns int) time.Time {
		return time.Date(y, m, d, h, min, s, ns, time.UTC)
	}
	var none time.Time
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = nil
	}
	for _, c := range []struct {
		in       string
		loc      *time.Location
		from, to time.Time
	}{
		// Dates, in UTC.
		{"created:2026-01-01", nil, utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0, 0)},
		{"created:2026-01-01", time.UTC, utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0, 0)},
		{"created:2026-12-31", nil, utc(2026, 12, 31, 0, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0, 0)},
		{"created:2028-02-28..2028-02-29", nil, utc(2028, 2, 28, 0, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0, 0)},
		{"created:2026-01-01..2026-01-01", nil, utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0, 0)},
		{"created:2026-01-01..2026-03-31", nil, utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0)},
		{"created:2026-01-01..*", nil, utc(2026, 1, 1, 0, 0, 0, 0), none},
		{"created:*..2026-03-31", nil, none, utc(2026, 4, 1, 0, 0, 0, 0)},
		{"created:>=2026-01-01", nil, utc(2026, 1, 1, 0, 0, 0, 0), none},
		{"created:>2026-01-01", nil, utc(2026, 1, 2, 0, 0, 0, 0), none},
		{"created:<=2026-01-01", nil, none, utc(2026, 1, 2, 0, 0, 0, 0)},
		{"created:<2026-01-01", nil, none, utc(2026, 1, 1, 0, 0, 0, 0)},
		// Dates, in CET (UTC+1): days start at 23:00 UTC the day before.
		{"created:2026-01-01", searchCET, utc(2025, 12, 31, 23, 0, 0, 0), utc(2026, 1, 1, 23, 0, 0, 0)},
		{"time:2026-01-01..2026-03-31", searchCET, utc(2025, 12, 31, 23, 0, 0, 0), utc(2026, 3, 31, 23, 0, 0, 0)},
		{"created:2026-01-01..*", searchCET, utc(2025, 12, 31, 23, 0, 0, 0), none},
		{"created:*..2026-03-31", searchCET, none, utc(2026, 3, 31, 23, 0, 0, 0)},
		{"created:>=2026-01-01", searchCET, utc(2025, 12, 31, 23, 0, 0, 0), none},
		{"created:>2026-01-01", searchCET, utc(2026, 1, 1, 23, 0, 0, 0), none},
		{"created:<=2026-01-01", searchCET, none, utc(2026, 1, 1, 23, 0, 0, 0)},
		{"created:<2026-01-01", searchCET, none, utc(2025, 12, 31, 23, 0, 0, 0)},
		// Timestamps are instants whatever loc is; a timestamp is its
		// microsecond, so an upper bound that includes it is +1µs.
		{"created:2026-01-01T10:00:00Z", searchCET, utc(2026, 1, 1, 10, 0, 0, 0), utc(2026, 1, 1, 10, 0, 0, 1000)},
		{"created:2026-01-01T10:00:00Z..2026-01-01T11:00:00Z", nil,
			utc(2026, 1, 1, 10, 0, 0, 0), utc(2026, 1, 1, 11, 0, 0, 1000)},
		{"created:2026-01-01T10:00:00+02:00..2026-01-01T11:00:00.5Z", searchCET,
			utc(2026, 1, 1, 8, 0, 0, 0), utc(2026, 1, 1, 11, 0, 0, 500_001_000)},
		{"created:2026-01-01T10:00:00Z..*", nil, utc(2026, 1, 1, 10, 0, 0, 0), none},
		{"created:*..2026-01-01T10:00:00Z", nil, none, utc(2026, 1, 1, 10, 0, 0, 1000)},
		{"created:>=2026-01-01T10:00:00Z", nil, utc(2026, 1, 1, 10, 0, 0, 0), none},
		{"created:>2026-01-01T10:00:00Z", nil, utc(2026, 1, 1, 10, 0, 0, 1000), none},
		{"created:<=2026-01-01T10:00:00Z", nil, none, utc(2026, 1, 1, 10, 0, 0, 1000)},
		{"created:<2026-01-01T10:00:00Z", nil, none, utc(2026, 1, 1, 10, 0, 0, 0)},
		// Digits finer than the microsecond are dropped.
		{"created:2026-01-01T10:00:00.123456789Z", nil,
			utc(2026, 1, 1, 10, 0, 0, 123_456_000), utc(2026, 1, 1, 10, 0, 0, 123_457_000)},
		{"created:<=2026-01-01T10:00:00.123456789Z", nil, none, utc(2026, 1, 1, 10, 0, 0, 123_457_000)},
		// A date mixes with a timestamp.
		{"created:2026-01-01..2026-01-02T06:00:00Z", searchCET,
			utc(2025, 12, 31, 23, 0, 0, 0), utc(2026, 1, 2, 6, 0, 0, 1000)},
		// A quoted value.
		{`created:"2026-01-01..2026-01-02"`, nil, utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 1, 3, 0, 0, 0, 0)},
	} {
		t.Run(fmt.Sprintf("%s in %v", c.in, c.loc), func(t *testing.T) {
			got, err := ParseSearch(c.in, c.loc)
			require.NoError(t, err)
			assert.True(t, got.From.Equal(c.from), "From %v, want %v", got.From, c.from)
			assert.True(t, got.To.Equal(c.to), "To %v, want %v", got.To, c.to)
			assert.Equal(t, c.from.IsZero(), got.From.IsZero())
			assert.Equal(t, c.to.IsZero(), got.To.IsZero())
			want := c.loc
			if want == nil {
				want = time.UTC
			}
			if !got.From.IsZero() {
				assert.Equal(t, want, got.From.Location())
			}
			if !got.To.IsZero() {
				assert.Equal(t, want, got.To.Location())
			}
		})
	}

	// A day of a zone's change to or from summer time is 23 or 25 hours.
	if berlin != nil {
		got, err := ParseSearch("created:2026-03-29", berlin)
		require.NoError(t, err)
		assert.Equal(t, 23*time.Hour, got.To.Sub(got.From))
		got, err = ParseSearch("created:2026-10-25", berlin)
		require.NoError(t, err)
		assert.Equal(t, 25*time.Hour, got.To.Sub(got.From))
	}
}

func TestParseSearchErrors(t *testing.T) {
	for _, c := range []struct {
		in, term, want string
	}{
		// The brief's messages, in full.
		{"created:2026-13-01", "created:2026-13-01",
			`search: term "created:2026-13-01": not a date (YYYY-MM-DD or RFC 3339)`},
		{"colour:red", "colour:red",
			`search: term "colour:red": unknown key "colour" (known: actor, actor_type, action, category, target_type, target, outcome, org, created)`},
		{"actor:", "actor:", `search: term "actor:": empty value`},
		{`actor:"bob`, `actor:"bob`, `search: unterminated quote in "actor:\"bob"`},
		{"actor_type:robot", "actor_type:robot", `search: term "actor_type:robot": actor_type is user, api_token or system`},
		{"action:y action:x", "action:x", `search: "action:x" given twice (first as "action:y")`},
		{"created:2026-03-31..2026-01-01", "created:2026-03-31..2026-01-01",
			`search: term "created:2026-03-31..2026-01-01": empty range (the start is not before the end)`},

		// Keys.
		{"deploy Colour:red", "Colour:red", `unknown key "Colour"`},
		{"actor_id:x", "actor_id:x", `unknown key "actor_id"`},
		{"-actor:x", "-actor:x", `unknown key "-actor"`},
		{`C:\dir`, `C:\dir`, `unknown key "C"`},
		{"10:30", "10:30", `unknown key "10"`},
		{":x", ":x", "empty key"},
		{":", ":", "empty key"},

		// Values.
		{`actor:""`, `actor:""`, "empty value"},
		{`org:"   "`, `org:"   "`, "empty value"},
		{"x created: y", "created:", "empty value"},
		{"actor_type:User", "actor_type:User", "actor_type is user, api_token or system"},
		{"actor_type:", "actor_type:", "empty value"},
		{"action:config*", "action:config*", `action is a name or a prefix ending in ".*"`},
		{"action:*", "action:*", `action is a name or a prefix ending in ".*"`},
		{"action:.*", "action:.*", `action is a name or a prefix ending in ".*"`},
		{"action:*.update", "action:*.update", `action is a name or a prefix ending in ".*"`},
		{"action:a.*.*", "action:a.*.*", `action is a name or a prefix ending in ".*"`},

		// Quotes.
		{`org:x actor:"bob smith  `, `actor:"bob smith`, `search: unterminated quote in "actor:\"bob smith"`},
		{`"rate limit`, `"rate limit`, "unterminated quote"},
		{`"`, `"`, "unterminated quote"},
		{`actor:"bob\"`, `actor:"bob\"`, "unterminated quote"},
		{`actor:"bob\`, `actor:"bob\`, "unterminated quote"},
		{`actor:"a\nb"`, `actor:"a\nb"`, `inside quotes a backslash is only in \" or \\`},
		{`"a\tb" x`, `"a\tb"`, `inside quotes a backslash is only in \" or \\`},
		{`actor:"bob"smith x`, `actor:"bob"smith`, "text right after a closing quote"},
		{`"a""b"`, `"a""b"`, "text right after a closing quote"},
		{`foo"bar baz"`, `foo"bar`, "a quote inside a word"},
		{`actor:bo"b`, `actor:bo"b`, "a quote inside a value"},
		{`""`, `""`, "empty phrase"},
		{`x " " y`, `" "`, "empty phrase"},

		// Dates.
		{"created:2026-02-30", "created:2026-02-30", "not a date (YYYY-MM-DD or RFC 3339)"},
		{"created:2026-1-1", "created:2026-1-1", "not a date"},
		{"created:yesterday", "created:yesterday", "not a date"},
		{"created:2026-01-01T25:00:00Z", "created:2026-01-01T25:00:00Z", "not a date"},
		{"created:2026-01-01T10:00:00", "created:2026-01-01T10:00:00", "not a date"},
		{"time:2026-01-01..2026-13-01", "time:2026-01-01..2026-13-01",
			`"2026-13-01" is not a date (YYYY-MM-DD or RFC 3339)`},
		{"created:2026-01-01..", "created:2026-01-01..", `"" is not a date`},
		{"created:..2026-01-01", "created:..2026-01-01", `"" is not a date`},
		{"created:2026-01-01..2026-01-02..2026-01-03", "created:2026-01-01..2026-01-02..2026-01-03", "is not a date"},
		{"created:*..*", "created:*..*", "a range needs a date on at least one side"},
		{"created:*", "created:*", "not a date"},
		{"created:>=", "created:>=", `"" is not a date`},
		{"created:>*", "created:>*", `"*" is not a date`},
		{"created:=2026-01-01", "created:=2026-01-01", "not a date"},
		{"created:2026-01-02..2026-01-01", "created:2026-01-02..2026-01-01", "empty range"},
		{"created:2026-01-01T10:00:00Z..2026-01-01T09:59:59.999999Z",
			"created:2026-01-01T10:00:00Z..2026-01-01T09:59:59.999999Z", "empty range"},
		{"created:<0001-01-01T00:00:00Z", "created:<0001-01-01T00:00:00Z", "out of range"},
		{"created:<=0000-12-31T23:59:59.999999Z", "created:<=0000-12-31T23:59:59.999999Z", "out of range"},
		{"created:<0001-01-01T01:00:00+01:00", "created:<0001-01-01T01:00:00+01:00", "out of range"},

		// Repeats, also through an alias or another case.
		{"actor:a actor:a", "actor:a", `search: "actor:a" given twice (first as "actor:a")`},
		{"target:x target_id:y", "target_id:y", `given twice (first as "target:x")`},
		{"actor-type:user ACTOR_TYPE:system", "ACTOR_TYPE:system", `given twice (first as "actor-type:user")`},
		{"created:2026-01-01 time:>2026-02-01", "time:>2026-02-01", `given twice (first as "created:2026-01-01")`},
		{"org:a category:c Org:b", "Org:b", `given twice (first as "org:a")`},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseSearch(c.in, searchCET)
			require.Error(t, err, "parsed as %+v", got)
			assert.Equal(t, Filter{}, got)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", c.term))
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "search: "), err.Error())
			if strings.HasPrefix(c.want, "search: ") {
				assert.Equal(t, c.want, err.Error())
			}
		})
	}
}

// Free text, parsed again, is the same free text and nothing else.
func TestParseSearchTextParsesAgain(t *testing.T) {
	f, err := ParseSearch(`a  "b  \"c\" \\ d" actor:x e`, nil)
	require.NoError(t, err)
	assert.Equal(t, `a "b  \"c\" \\ d" e`, f.Text)
	g, err := ParseSearch(f.Text, nil)
	require.NoError(t, err)
	assert.Equal(t, Filter{Text: f.Text}, g)
}

func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"",
		`actor:alice@acme.example action:config.* created:2026-01-01..2026-03-31 "rate limit"`,
		`actor:"Alice \"A\" Example" deploy "rate limit"`,
		"created:2026-01-01T10:00:00.123456789+02:00..*",
		"created:>2026-01-01 target-id:x",
		"created:<=0000-12-31",
		"time:2026-03-29..2026-03-29",
		`"a\\b" c:d`,
		"colour:red",
		`actor:"bob`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, cet bool) {
		var loc *time.Location
		if cet {
			loc = searchCET
		}
		got, err := ParseSearch(s, loc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "search: ") {
				t.Fatalf("ParseSearch(%q): error %q", s, err)
			}
			if got != (Filter{}) {
				t.Fatalf("ParseSearch(%q): error %v with filter %+v", s, err, got)
			}
			return
		}
		if !got.From.IsZero() && !got.To.IsZero() && !got.From.Before(got.To) {
			t.Fatalf("ParseSearch(%q): From %v is not before To %v", s, got.From, got.To)
		}
		again, err := ParseSearch(got.Text, loc)
		if err != nil || again != (Filter{Text: got.Text}) {
			t.Fatalf("ParseSearch(%q).Text = %q parses as %+v, %v", s, got.Text, again, err)
		}
	})
}
