package jsonenc

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nested = `{"a":{"time":"x","b":[1,"}",{"c":"\""}]},"n":-1.5e3,"s":"q\"\\","time":"2026-01-02T03:04:05.000000000Z","z":true}`

func TestTopLevelString(t *testing.T) {
	line := []byte(nested)
	assert.Equal(t, "2026-01-02T03:04:05.000000000Z", string(TopLevelString(line, "time")))
	assert.Equal(t, `q\"\\`, string(TopLevelString(line, "s")))
	assert.Nil(t, TopLevelString(line, "n"))
	assert.Nil(t, TopLevelString(line, "missing"))
	assert.Nil(t, TopLevelString([]byte(`{"time":"x"`), "y"))
	assert.Nil(t, TopLevelString([]byte(`[]`), "time"))
	assert.Equal(t, "x", string(TopLevelString([]byte(` { "y" : 1 , "time" : "x" } `), "time")))
}

func TestEachMember(t *testing.T) {
	var keys, vals []string
	err := EachMember([]byte(nested), func(k, v []byte) bool {
		keys, vals = append(keys, string(k)), append(vals, string(v))
		return string(k) != "time"
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "n", "s", "time"}, keys)
	assert.Equal(t, `{"time":"x","b":[1,"}",{"c":"\""}]}`, vals[0])
	assert.Equal(t, "-1.5e3", vals[1])

	// Whitespace anywhere between tokens, as a re-serialized line has it.
	keys, vals = nil, nil
	err = EachMember([]byte("\t{ \"a\" :\n[1, 2] ,\r\n\"b\": null }\n"), func(k, v []byte) bool {
		keys, vals = append(keys, string(k)), append(vals, string(v))
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, keys)
	assert.Equal(t, []string{"[1, 2]", "null"}, vals)

	require.NoError(t, EachMember([]byte(`{}`), func(k, v []byte) bool { t.Fail(); return true }))
	require.NoError(t, EachMember([]byte(` { } `), func(k, v []byte) bool { t.Fail(); return true }))
}

func TestEachMemberFraming(t *testing.T) {
	for _, tc := range []struct {
		in      string
		members int // passed to fn before the error
		offset  int
		msg     string
	}{
		{``, 0, 0, "not a JSON object"},
		{`[]`, 0, 0, "not a JSON object"},
		{`{`, 0, 1, "want a member name"},
		{`{"a":1`, 1, 6, "want ',' or '}'"},
		{`{"a":1,}`, 1, 7, "want a member name"},
		{`{"a" 1}`, 0, 5, "want ':'"},
		{`{"a:1}`, 0, 1, "member name not closed"},
		{`{"a":"x}`, 0, 5, "broken value"},
		{`{"a":}`, 0, 5, "broken value"},
		{`{"a":{"b":[}`, 0, 5, "broken value"},
		{`{"a":1}{"b":2}`, 1, 7, "text after the object"},
		{`{"a":1 "b":2}`, 1, 7, "want ',' or '}'"},
		{`{,"a":1}`, 0, 1, "want a member name"},
	} {
		n := 0
		err := EachMember([]byte(tc.in), func(k, v []byte) bool { n++; return true })
		var se *SyntaxError
		require.ErrorAs(t, err, &se, "%s", tc.in)
		assert.Equal(t, tc.offset, se.Offset, "%s", tc.in)
		assert.Contains(t, se.Error(), tc.msg, "%s", tc.in)
		assert.Equal(t, tc.members, n, "%s", tc.in)
	}
}

func TestOneObject(t *testing.T) {
	assert.True(t, OneObject([]byte(nested)))
	assert.True(t, OneObject([]byte(`{"s":"}{"}`)))
	assert.True(t, OneObject([]byte(`{"s":"\\"}`)))
	assert.False(t, OneObject([]byte(`{"a":1}{"event":"injected"}`)))
	assert.False(t, OneObject([]byte(`{"seq":2,"truncated`)))
	assert.False(t, OneObject([]byte(` {"a":1}`)))
	assert.False(t, OneObject([]byte(`{}`[:1])))
	assert.False(t, OneObject([]byte(`{"s":"\"}`)))
	assert.False(t, OneObject([]byte(`"s"`)))
}

func TestValueEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"ab"x`, 4}, {`"a\"b"`, 6}, {`"a\\"b"`, 5}, {`"a\\\"b"`, 8}, {`"abc`, -1},
		{`-12.5e+3,`, 8}, {`true}`, 4}, {`null]`, 4}, {`0 `, 1},
		{`[1,[2,{"]":3}]] `, 15}, {`{"a":[}`, -1}, {``, -1}, {`,`, -1}, {`}`, -1},
	} {
		assert.Equal(t, tc.want, ValueEnd([]byte(tc.in), 0), "%s", tc.in)
	}
}

// members returns the members of a valid JSON object as encoding/json
// reads them: names decoded, values compacted.
func members(t *testing.T, data []byte) (keys []string, vals []string) {
	d := json.NewDecoder(bytes.NewReader(data))
	tok, err := d.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for d.More() {
		tok, err := d.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, d.Decode(&v))
		var c bytes.Buffer
		require.NoError(t, json.Compact(&c, v))
		keys, vals = append(keys, tok.(string)), append(vals, c.String())
	}
	_, err = d.Token()
	require.NoError(t, err)
	_, err = d.Token()
	require.ErrorIs(t, err, io.EOF)
	return keys, vals
}

// FuzzEachMember checks the walker against encoding/json on valid JSON
// objects (same members, same values), and that it never panics or reads
// out of range on anything else.
func FuzzEachMember(f *testing.F) {
	for _, s := range []string{
		nested, `{}`, ` { "a" : [ 1 , { "b" : "}" } ] } `, `{"a":"\u00e9\"","b\"c":-0.5E-3,"d":[true,false,null]}`,
		`{"seq":1,"prev_hash":"00","actor":{"id":"alice","type":"user"},"changes":{"before":{"x":[1,2]},"after":null}}`,
		`{"a":1}{"b":2}`, `{"a":"x}`, `{"a":[}`, `[1]`, `"s"`, `{"a":1,}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var keys, vals []string
		err := EachMember(data, func(k, v []byte) bool {
			var key string
			if json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key) != nil {
				key = string(k) // not a valid JSON string: data is not valid JSON either
			}
			keys, vals = append(keys, key), append(vals, string(v))
			return true
		})
		_ = OneObject(data)
		_ = TopLevelString(data, "a")
		trimmed := bytes.TrimSpace(data)
		if !json.Valid(data) || len(trimmed) == 0 || trimmed[0] != '{' {
			return
		}
		require.NoError(t, err)
		wantKeys, wantVals := members(t, data)
		require.Equal(t, wantKeys, keys)
		for i := range vals {
			var c bytes.Buffer
			require.NoError(t, json.Compact(&c, []byte(vals[i])))
			require.Equal(t, wantVals[i], c.String())
		}
		require.Equal(t, len(trimmed), ValueEnd(trimmed, 0))
		require.True(t, OneObject(trimmed))
	})
}

// The cases the sinks relied on when these walkers were theirs.
func TestTopLevelStringEachMemberOneObject(t *testing.T) {
	line := []byte(`{"a":{"time":"x","b":[1,"}",{"c":"\""}]},"n":-1.5e3,"s":"q\"\\","time":"2026-01-02T03:04:05.000000000Z","z":true}`)
	assert.Equal(t, "2026-01-02T03:04:05.000000000Z", string(TopLevelString(line, "time")))
	assert.Equal(t, `q\"\\`, string(TopLevelString(line, "s")))
	assert.Nil(t, TopLevelString(line, "n"))
	assert.Nil(t, TopLevelString(line, "missing"))
	assert.Nil(t, TopLevelString([]byte(`{"time":"x"`), "y"))
	assert.Nil(t, TopLevelString([]byte(`[]`), "time"))

	var keys, vals []string
	_ = EachMember(line, func(k, v []byte) bool {
		keys, vals = append(keys, string(k)), append(vals, string(v))
		return string(k) != "time"
	})
	assert.Equal(t, []string{"a", "n", "s", "time"}, keys)
	assert.Equal(t, `{"time":"x","b":[1,"}",{"c":"\""}]}`, vals[0])
	assert.Equal(t, "-1.5e3", vals[1])

	assert.True(t, OneObject(line))
	assert.True(t, OneObject([]byte(`{"s":"}{"}`)))
	assert.False(t, OneObject([]byte(`{"a":1}{"event":"injected"}`)))
	assert.False(t, OneObject([]byte(`{"seq":2,"truncated`)))
	assert.False(t, OneObject([]byte(` {"a":1}`)))
	assert.False(t, OneObject([]byte(`{}`[:1])))
}
