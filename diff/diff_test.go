package diff

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// summary writes a change as "kind path @pointer before|after".
func summary(c Change) string {
	return fmt.Sprintf("%s %s @%s %s|%s", c.Kind, c.Path, c.Pointer, c.Before, c.After)
}

func summaries(r Result) []string {
	out := []string{}
	for _, c := range r.Changes {
		out = append(out, summary(c))
	}
	return out
}

// str returns the JSON of a string.
func str(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// compare runs Compare and checks what every result must satisfy: the
// patch turns the parsed before into the parsed after (by this file's own
// applier, and by evanphx/json-patch where it applies), and every change
// holds valid JSON.
func compare(t testing.TB, before, after string) Result {
	t.Helper()
	r, err := Compare(json.RawMessage(before), json.RawMessage(after))
	require.NoError(t, err)
	checkResult(t, before, after, r)
	return r
}

func checkResult(t testing.TB, before, after string, r Result) {
	t.Helper()
	require.NotNil(t, r.Changes)
	require.NotNil(t, r.Patch)
	for _, c := range r.Changes {
		switch c.Kind {
		case Added:
			require.Empty(t, c.Before, c.Path)
			require.True(t, json.Valid(c.After), c.Path)
		case Removed:
			require.Empty(t, c.After, c.Path)
			require.True(t, json.Valid(c.Before), c.Path)
		case Modified:
			require.True(t, json.Valid(c.Before), c.Path)
			require.True(t, json.Valid(c.After), c.Path)
		default:
			t.Fatalf("kind %q", c.Kind)
		}
	}
	out, err := json.Marshal(r)
	require.NoError(t, err)
	require.True(t, json.Valid(out))

	b, a := parsedDocs(t, before, after)
	if len(r.Changes) == 0 {
		// Only reordering of identity-matched lists is no change.
		for _, op := range r.Patch {
			require.Equal(t, "move", op.Op, "no changes but patch %s", mustJSON(r.Patch))
		}
	}

	got, err := applyPatch(deepCopy(b), r.Patch)
	require.NoError(t, err, "own applier; patch %s", mustJSON(r.Patch))
	require.True(t, equal(got, a), "own applier: got %s want %s; patch %s", raw(got), raw(a), mustJSON(r.Patch))

	// evanphx/json-patch works on object or array documents only, and
	// reads an empty member name inside a pointer ("//") as the document
	// itself.
	if isContainer(a) && (b == nil || isContainer(b)) && !emptyInnerToken(r.Patch) {
		p, err := jsonpatch.DecodePatch(mustJSON(r.Patch))
		require.NoError(t, err)
		res, err := p.Apply(raw(b))
		require.NoError(t, err, "evanphx; patch %s", mustJSON(r.Patch))
		v, err := parseJSON(res)
		require.NoError(t, err)
		require.True(t, equal(v, a), "evanphx: got %s want %s", res, raw(a))
	}
}

// parsedDocs returns the documents the patch applies to (nil for absent).
func parsedDocs(t testing.TB, before, after string) (any, any) {
	t.Helper()
	b, err := parseSide(json.RawMessage(before))
	require.NoError(t, err)
	a, err := parseSide(json.RawMessage(after))
	require.NoError(t, err)
	_, b, a, err = documents(b, a)
	require.NoError(t, err)
	if b == absent {
		b = nil
	}
	if a == absent {
		a = nil
	}
	return b, a
}

// emptyInnerToken reports whether a pointer in the patch has an empty
// reference token before its last one.
func emptyInnerToken(ops []PatchOp) bool {
	for _, op := range ops {
		for _, p := range []string{op.Path, op.From} {
			if toks, _ := splitPointer(p); len(toks) > 1 && slices.Contains(toks[:len(toks)-1], "") {
				return true
			}
		}
	}
	return false
}

func isContainer(v any) bool {
	switch v.(type) {
	case *object, []any:
		return true
	}
	return false
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestNestedObjects(t *testing.T) {
	r := compare(t,
		`{"gateway":{"listen":":8080","tls":{"enabled":false,"cert":"a.pem"},"old":1},"mode":"strict"}`,
		`{"gateway":{"listen":":8080","tls":{"enabled":true,"cert":"a.pem","min":"1.2"}},"mode":"strict","extra":{"x":[1]}}`)
	assert.Equal(t, FormatJSON, r.Format)
	assert.Equal(t, []string{
		`modified gateway.tls.enabled @/gateway/tls/enabled false|true`,
		`added gateway.tls.min @/gateway/tls/min |"1.2"`,
		`removed gateway.old @/gateway/old 1|`,
		`added extra @/extra |{"x":[1]}`,
	}, summaries(r))
}

func TestDocumentOrder(t *testing.T) {
	// After's order, each removed member after its predecessor in before.
	r := compare(t, `{"z":1,"gone1":1,"a":1,"gone2":2,"m":1}`, `{"m":2,"new":1,"a":2,"z":2}`)
	assert.Equal(t, []string{
		`modified m @/m 1|2`,
		`added new @/new |1`,
		`modified a @/a 1|2`,
		`removed gone2 @/gone2 2|`,
		`modified z @/z 1|2`,
		`removed gone1 @/gone1 1|`,
	}, summaries(r))
	// Member order alone is no change.
	r = compare(t, `{"a":1,"b":{"c":1,"d":2}}`, `{"b":{"d":2,"c":1},"a":1}`)
	assert.Empty(t, r.Changes)
	assert.Empty(t, r.Patch)
}

func TestYAMLDocuments(t *testing.T) {
	before := `gateway:
  listen: ":8080"
  tls:
    enabled: false
routes:
  - name: default
    upstream: http://a
    rate_limit:
      rpm: 600
  - name: legacy
    upstream: http://old
allow: [alice, bob, carol]
`
	after := `gateway:
  listen: ":8080"
  tls:
    enabled: true
routes:
  - name: default
    upstream: http://a
    rate_limit:
      rpm: 1200
  - name: batch
    upstream: http://b
allow: [alice, carol]
`
	r := compare(t, str(before), str(after))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Equal(t, []string{
		`modified gateway.tls.enabled @/gateway/tls/enabled false|true`,
		`modified routes[name=default].rate_limit.rpm @/routes/0/rate_limit/rpm 600|1200`,
		`removed routes[name=legacy] @/routes/1 {"name":"legacy","upstream":"http://old"}|`,
		`added routes[name=batch] @/routes/1 |{"name":"batch","upstream":"http://b"}`,
		`modified allow[1] @/allow/1 "bob"|"carol"`,
		`removed allow[2] @/allow/2 "carol"|`,
	}, summaries(r))

	// Added and removed items of a plain YAML list, by position.
	r = compare(t, str("items:\n  - a\n  - b\n"), str("items:\n  - a\n  - b\n  - c\n"))
	assert.Equal(t, []string{`added items[2] @/items/2 |"c"`}, summaries(r))
	r = compare(t, str("- a\n- b\n"), str("- a\n"))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Equal(t, []string{`removed [1] @/1 "b"|`}, summaries(r))

	// Same document written differently: no change.
	r = compare(t, str("a: {b: 1, c: [x, y]}\n"), str("a:\n  c:\n    - x\n    - y\n  b: 1.0\n"))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Empty(t, r.Changes)

	// One side JSON, one YAML: both documents, Format yaml.
	r = compare(t, str(`{"a":1}`), str("a: 2\n"))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Equal(t, []string{`modified a @/a 1|2`}, summaries(r))
}

func TestYAMLConversion(t *testing.T) {
	before := `defaults: &d
  timeout: 30
  retries: 3
svc:
  <<: *d
  retries: 5
  when: 2001-12-14T21:59:43Z
  big: .inf
  ratio: 1.50
  hex: 0x1F
  1: one
  true: yes
  ~: nothing
  tagged: !Ref other
`
	r := compare(t, str(before), str(before))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Empty(t, r.Changes)
	b, _ := parsedDocs(t, str(before), str(before))
	assert.JSONEq(t, `{"defaults":{"timeout":30,"retries":3},
		"svc":{"timeout":30,"retries":5,"when":"2001-12-14T21:59:43Z","big":".inf","ratio":1.50,
		"hex":31,"1":"one","true":"yes","null":"nothing","tagged":"other"}}`, string(raw(b)))
	// Merged keys come first (in the merge key's place); explicit keys win.
	assert.Equal(t, `{"timeout":30,"retries":5,"when"`, string(raw(b.(*object).vals["svc"]))[:32])

	// A changed anchor shows wherever it is merged.
	after := strings.Replace(before, "timeout: 30", "timeout: 60", 1)
	r = compare(t, str(before), str(after))
	assert.Equal(t, []string{
		`modified defaults.timeout @/defaults/timeout 30|60`,
		`modified svc.timeout @/svc/timeout 30|60`,
	}, summaries(r))

	// Not documents: duplicate keys (also after conversion), a mapping as
	// key, several documents: compared as text.
	for _, s := range []string{"a: 1\na: 2\n", "1: a\n\"1\": b\n", "? [a]\n: 1\n", "a: 1\n---\nb: 2\n"} {
		r = compare(t, str(s), str("a: 3\n"))
		assert.Equal(t, FormatText, r.Format, s)
		assert.Len(t, r.Changes, 1, s)
	}
}

func TestJSONStrings(t *testing.T) {
	r := compare(t, str(`{"limits":{"rpm":600},"tags":["a"]}`), str(` {"limits":{"rpm":700},"tags":["a"]}`))
	assert.Equal(t, FormatJSONString, r.Format)
	assert.Equal(t, []string{`modified limits.rpm @/limits/rpm 600|700`}, summaries(r))
}

func TestNamedListReordered(t *testing.T) {
	r := compare(t,
		`{"routes":[{"name":"a","rpm":1},{"name":"b","rpm":2},{"name":"c","rpm":3}]}`,
		`{"routes":[{"name":"c","rpm":3},{"name":"a","rpm":1},{"name":"b","rpm":20}]}`)
	assert.Equal(t, []string{`modified routes[name=b].rpm @/routes/2/rpm 2|20`}, summaries(r))

	// Pure reordering: no change, but a patch.
	r = compare(t, `[{"name":"x"},{"name":"y"},{"name":"z"}]`, `[{"name":"z"},{"name":"y"},{"name":"x"}]`)
	assert.Empty(t, r.Changes)
	assert.NotEmpty(t, r.Patch)

	// Removed and added together with reordering.
	r = compare(t,
		`[{"name":"a"},{"name":"gone","v":1},{"name":"b"},{"name":"c","v":1}]`,
		`[{"name":"c","v":2},{"name":"new"},{"name":"a"},{"name":"b"}]`)
	assert.Equal(t, []string{
		`modified [name=c].v @/0/v 1|2`,
		`added [name=new] @/1 |{"name":"new"}`,
		`removed [name=gone] @/1 {"name":"gone","v":1}|`,
	}, summaries(r))
}

func TestIDList(t *testing.T) {
	r := compare(t,
		`{"rules":[{"id":1,"allow":true},{"id":2,"allow":false},{"id":3}]}`,
		`{"rules":[{"id":3},{"id":2.0,"allow":true},{"id":4}]}`)
	assert.Equal(t, []string{
		`removed rules[id=1] @/rules/0 {"id":1,"allow":true}|`,
		`modified rules[id=2.0].allow @/rules/1/allow false|true`,
		`added rules[id=4] @/rules/2 |{"id":4}`,
	}, summaries(r))

	// name repeated: id is used; string ids needing quotes.
	r = compare(t,
		`[{"name":"n","id":"a b","v":1},{"name":"n","id":"7","v":1}]`,
		`[{"name":"n","id":"7","v":2},{"name":"n","id":"a b","v":1}]`)
	assert.Equal(t, []string{`modified [id="7"].v @/0/v 1|2`}, summaries(r))

	// key member.
	r = compare(t, `[{"key":"k1","v":1}]`, `[{"key":"k2","v":1},{"key":"k1","v":1}]`)
	assert.Equal(t, []string{`added [key=k2] @/0 |{"key":"k2","v":1}`}, summaries(r))

	// One side empty: still matched by identity.
	r = compare(t, `{"r":[]}`, `{"r":[{"name":"a"}]}`)
	assert.Equal(t, []string{`added r[name=a] @/r/0 |{"name":"a"}`}, summaries(r))
}

func TestPositionalList(t *testing.T) {
	r := compare(t, `{"items":[1,2,3]}`, `{"items":[1,5,3,4,6]}`)
	assert.Equal(t, []string{
		`modified items[1] @/items/1 2|5`,
		`added items[3] @/items/3 |4`,
		`added items[4] @/items/4 |6`,
	}, summaries(r))

	// Objects without a common identity: by position.
	r = compare(t, `{"items":[{"x":1},{"x":2},{"x":3}]}`, `{"items":[{"x":1,"y":1}]}`)
	assert.Equal(t, []string{
		`added items[0].y @/items/0/y |1`,
		`removed items[1] @/items/1 {"x":2}|`,
		`removed items[2] @/items/2 {"x":3}|`,
	}, summaries(r))

	// Some elements lack the identity member, or it is not a string or
	// number: by position.
	r = compare(t, `[{"name":"a"},{"v":1}]`, `[{"v":1},{"name":"a"}]`)
	assert.Len(t, r.Changes, 4)
	r = compare(t, `[{"name":true}]`, `[{"name":false}]`)
	assert.Equal(t, []string{`modified [0].name @/0/name true|false`}, summaries(r))
}

func TestTypeChange(t *testing.T) {
	r := compare(t, `{"a":{"b":1},"c":[1],"d":1,"e":null}`, `{"a":"text","c":{"0":1},"d":"1","e":0}`)
	assert.Equal(t, []string{
		`modified a @/a {"b":1}|"text"`,
		`modified c @/c [1]|{"0":1}`,
		`modified d @/d 1|"1"`,
		`modified e @/e null|0`,
	}, summaries(r))

	r = compare(t, `{"a":1}`, `"a: 1"`)
	assert.Equal(t, FormatJSON, r.Format)
	assert.Equal(t, []string{`modified  @ {"a":1}|"a: 1"`}, summaries(r))
	r = compare(t, `[1]`, `true`)
	assert.Equal(t, []string{`modified  @ [1]|true`}, summaries(r))
}

func TestTopLevelAddedRemoved(t *testing.T) {
	for _, absentSide := range []string{"", "null", "  ", " null "} {
		r := compare(t, absentSide, `{"a":1,"b":{"c":2}}`)
		assert.Equal(t, []string{`added a @/a |1`, `added b @/b |{"c":2}`}, summaries(r))
		assert.Equal(t, []PatchOp{{Op: "add", Path: "", Value: json.RawMessage(`{"a":1,"b":{"c":2}}`)}}, r.Patch)

		r = compare(t, `{"a":1,"b w":2}`, absentSide)
		assert.Equal(t, []string{`removed a @/a 1|`, `removed ["b w"] @/b w 2|`}, summaries(r))
		assert.Equal(t, []PatchOp{{Op: "replace", Path: "", Value: json.RawMessage(`null`)}}, r.Patch)
	}
	r, err := Compare(nil, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{Changes: []Change{}, Format: FormatJSON, Patch: []PatchOp{}}, r)

	r = compare(t, `null`, `[{"name":"a"},{"name":"b"}]`)
	assert.Equal(t, []string{`added [name=a] @/0 |{"name":"a"}`, `added [name=b] @/1 |{"name":"b"}`}, summaries(r))
	r = compare(t, `null`, `5`)
	assert.Equal(t, []string{`added  @ |5`}, summaries(r))
	r = compare(t, `{}`, `null`)
	assert.Equal(t, []string{`removed  @ {}|`}, summaries(r))

	// A document string against nothing is parsed; plain text is not.
	r = compare(t, `null`, str("a: 1\nb: [x]\n"))
	assert.Equal(t, FormatYAML, r.Format)
	assert.Equal(t, []string{`added a @/a |1`, `added b @/b |["x"]`}, summaries(r))
	r = compare(t, str("just words"), ``)
	assert.Equal(t, FormatText, r.Format)
	assert.Equal(t, []string{`removed  @ "just words"|`}, summaries(r))
}

func TestText(t *testing.T) {
	r := compare(t, `"allow all"`, `"deny all"`)
	assert.Equal(t, FormatText, r.Format)
	assert.Equal(t, []string{`modified  @ "allow all"|"deny all"`}, summaries(r))
	assert.Equal(t, []PatchOp{{Op: "replace", Path: "", Value: json.RawMessage(`"deny all"`)}}, r.Patch)

	r = compare(t, `"same"`, `"same"`)
	assert.Equal(t, FormatText, r.Format)
	assert.Empty(t, r.Changes)

	// Only one side is a document: text.
	r = compare(t, str("a: 1\n"), str("not: a: document"))
	assert.Equal(t, FormatText, r.Format)
	assert.Len(t, r.Changes, 1)

	// Scalars that YAML would parse are not documents.
	r = compare(t, `"42"`, `"43"`)
	assert.Equal(t, FormatText, r.Format)

	// Nested strings are not parsed.
	r = compare(t, `{"p":"a: 1"}`, `{"p":"a: 2"}`)
	assert.Equal(t, []string{`modified p @/p "a: 1"|"a: 2"`}, summaries(r))
}

func TestNumbers(t *testing.T) {
	r := compare(t, `[1, 100, -0, 0.5, 1E2, 9007199254740993]`, `[1.0, 1e2, 0, 5e-1, 100.00, 9007199254740992]`)
	assert.Equal(t, []string{`modified [5] @/5 9007199254740993|9007199254740992`}, summaries(r))
	r = compare(t, `{"a":1e400}`, `{"a":1e401}`)
	assert.Len(t, r.Changes, 1)
	r = compare(t, `{"a":1e400}`, `{"a":10e399}`)
	assert.Empty(t, r.Changes)
	// An exponent too large to normalize compares by its text.
	r = compare(t, `{"a":1e99999999999}`, `{"a":1e99999999999}`)
	assert.Empty(t, r.Changes)
	r = compare(t, `{"a":1e99999999999}`, `{"a":10e99999999998}`)
	assert.Len(t, r.Changes, 1)
}

func TestEscaping(t *testing.T) {
	r := compare(t,
		`{"a.b":{"c d":1,"x/y~z":2,"":3,"ok-1":4,"q\"":5},"9lives":1,"l":[{"name":"a b","v":1},{"name":"é","v":1}]}`,
		`{"a.b":{"c d":2,"x/y~z":3,"":4,"ok-1":5,"q\"":6},"9lives":2,"l":[{"name":"a b","v":2},{"name":"é","v":2}]}`)
	assert.Equal(t, []string{
		`modified ["a.b"]["c d"] @/a.b/c d 1|2`,
		`modified ["a.b"]["x/y~z"] @/a.b/x~1y~0z 2|3`,
		`modified ["a.b"][""] @/a.b/ 3|4`,
		`modified ["a.b"].ok-1 @/a.b/ok-1 4|5`,
		`modified ["a.b"]["q\""] @/a.b/q" 5|6`,
		`modified ["9lives"] @/9lives 1|2`,
		`modified l[name="a b"].v @/l/0/v 1|2`,
		`modified l[name="é"].v @/l/1/v 1|2`,
	}, summaries(r))

	// Empty member names at every level.
	r = compare(t, `{"":{"":1,"x":[{"":2}]}}`, `{"":{"x":[{"":3}]}}`)
	assert.Equal(t, []string{
		`removed [""][""] @// 1|`,
		`modified [""].x[0][""] @//x/0/ 2|3`,
	}, summaries(r))

	// Strings in values are written as JSON without HTML escaping.
	r = compare(t, `{"s":"<a&b>"}`, `{"s":"\u0001\n\"x\"\\ é"}`)
	assert.Equal(t, `"<a&b>"`, string(r.Changes[0].Before))
	assert.Equal(t, `"\u0001\n\"x\"\\ é"`, string(r.Changes[0].After))
}

func TestDuplicateMembers(t *testing.T) {
	r := compare(t, `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`)
	assert.Empty(t, r.Changes)
}

func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func nestedYAML(n int) string {
	var b strings.Builder
	for i := 0; i < n-1; i++ {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	b.WriteString(strings.Repeat(" ", n-1) + "v: 1\n")
	return b.String()
}

func TestLimits(t *testing.T) {
	compare(t, nested(MaxDepth), `[]`)
	_, err := Compare(json.RawMessage(nested(MaxDepth+1)), json.RawMessage(`[]`))
	require.ErrorIs(t, err, ErrTooDeep)
	assert.Contains(t, err.Error(), "before")
	_, err = Compare(json.RawMessage(`[]`), json.RawMessage(`{"a":`+nested(MaxDepth)+`}`))
	require.ErrorIs(t, err, ErrTooDeep)
	assert.Contains(t, err.Error(), "after")

	// In strings too: JSON and YAML.
	_, err = Compare(json.RawMessage(str(nested(MaxDepth+1))), json.RawMessage(str(`[]`)))
	require.ErrorIs(t, err, ErrTooDeep)
	compare(t, str(nestedYAML(MaxDepth)), str("k: 1\n"))
	_, err = Compare(json.RawMessage(str(nestedYAML(MaxDepth+1))), json.RawMessage(str("k: 1\n")))
	require.ErrorIs(t, err, ErrTooDeep)

	// Too many values.
	big := "[" + strings.Repeat("0,", MaxNodes) + "0]"
	_, err = Compare(json.RawMessage(`[]`), json.RawMessage(big))
	require.ErrorIs(t, err, ErrTooLarge)

	// A YAML alias bomb is stopped by the node limit.
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		bomb += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	_, err = Compare(json.RawMessage(str(bomb)), json.RawMessage(str("a: 1\n")))
	require.ErrorIs(t, err, ErrTooLarge)

	// Too many changes.
	var b, a strings.Builder
	b.WriteString("{")
	a.WriteString("{")
	for i := 0; i < MaxChanges/2+1; i++ {
		if i > 0 {
			b.WriteString(",")
			a.WriteString(",")
		}
		fmt.Fprintf(&b, `"b%d":0`, i)
		fmt.Fprintf(&a, `"a%d":0`, i)
	}
	b.WriteString("}")
	a.WriteString("}")
	_, err = Compare(json.RawMessage(b.String()), json.RawMessage(a.String()))
	require.ErrorIs(t, err, ErrTooManyChanges)
}

func TestInvalidJSON(t *testing.T) {
	for _, in := range []string{`{`, `{"a":}`, `[1,]`, `1 2`, `{"a":1}x`, `nul`, `'a'`} {
		_, err := Compare(json.RawMessage(in), nil)
		require.ErrorIs(t, err, ErrInvalidJSON, in)
		_, err = Compare(json.RawMessage(`{}`), json.RawMessage(in))
		require.ErrorIs(t, err, ErrInvalidJSON, in)
	}
}

func TestLargeReorder(t *testing.T) {
	const n = 1500
	var b, a []string
	for i := 0; i < n; i++ {
		b = append(b, fmt.Sprintf(`{"id":%d,"v":%d}`, i, i))
	}
	for i := n - 1; i >= 0; i-- {
		v := i
		if i%100 == 0 {
			v = -i
		}
		if i%7 == 0 {
			continue // removed
		}
		a = append(a, fmt.Sprintf(`{"id":%d,"v":%d}`, i, v))
		if i%11 == 0 {
			a = append(a, fmt.Sprintf(`{"id":"new%d"}`, i))
		}
	}
	r := compare(t, "["+strings.Join(b, ",")+"]", "["+strings.Join(a, ",")+"]")
	kinds := map[Kind]int{}
	for _, c := range r.Changes {
		kinds[c.Kind]++
	}
	assert.Equal(t, map[Kind]int{Removed: 215, Added: 117, Modified: 12}, kinds)
}

func TestPatchShuffles(t *testing.T) {
	// Every permutation of a small named list, with edits, round-trips.
	names := []string{"a", "b", "c", "d"}
	var perms [][]string
	var permute func(prefix, rest []string)
	permute = func(prefix, rest []string) {
		if len(rest) == 0 {
			perms = append(perms, slices.Clone(prefix))
		}
		for i := range rest {
			permute(append(prefix, rest[i]), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	permute(nil, names)
	list := func(p []string, drop int, edit string) string {
		var els []string
		for i, n := range p {
			if i == drop {
				continue
			}
			v := "1"
			if n == edit {
				v = "2"
			}
			els = append(els, `{"name":"`+n+`","v":`+v+`,"sub":[{"id":1,"n":"`+n+v+`"}]}`)
		}
		return `{"l":[` + strings.Join(els, ",") + `]}`
	}
	for _, p := range perms {
		for drop := -1; drop < len(p); drop++ {
			compare(t, list(names, -1, ""), list(p, drop, p[0]))
			compare(t, list(p, drop, ""), list(names, -1, "c"))
		}
	}
}

// ---- a small RFC 6902 applier, independent of the code under test ----

func deepCopy(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	case *object:
		o := newObject()
		for _, k := range t.keys {
			o.set(k, deepCopy(t.vals[k]))
		}
		return o
	}
	return v
}

func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("bad pointer %q", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, tok := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func arrayIndex(tok string, n int, forAdd bool) (int, error) {
	if forAdd && tok == "-" {
		return n, nil
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("bad index %q", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("bad index %q", tok)
	}
	limit := n
	if forAdd {
		limit = n + 1
	}
	if i >= limit {
		return 0, fmt.Errorf("index %d out of range %d", i, n)
	}
	return i, nil
}

// update applies fn to the container holding the last token and returns
// the new document.
func update(doc any, toks []string, fn func(parent any, tok string) (any, error)) (any, error) {
	if len(toks) == 1 {
		return fn(doc, toks[0])
	}
	switch t := doc.(type) {
	case *object:
		child, ok := t.vals[toks[0]]
		if !ok {
			return nil, fmt.Errorf("missing member %q", toks[0])
		}
		nc, err := update(child, toks[1:], fn)
		if err != nil {
			return nil, err
		}
		t.vals[toks[0]] = nc
		return t, nil
	case []any:
		i, err := arrayIndex(toks[0], len(t), false)
		if err != nil {
			return nil, err
		}
		nc, err := update(t[i], toks[1:], fn)
		if err != nil {
			return nil, err
		}
		t[i] = nc
		return t, nil
	}
	return nil, fmt.Errorf("cannot descend into %T", doc)
}

func get(doc any, toks []string) (any, error) {
	for _, tok := range toks {
		switch t := doc.(type) {
		case *object:
			v, ok := t.vals[tok]
			if !ok {
				return nil, fmt.Errorf("missing member %q", tok)
			}
			doc = v
		case []any:
			i, err := arrayIndex(tok, len(t), false)
			if err != nil {
				return nil, err
			}
			doc = t[i]
		default:
			return nil, fmt.Errorf("cannot descend into %T", doc)
		}
	}
	return doc, nil
}

func addValue(doc any, toks []string, v any) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	return update(doc, toks, func(parent any, tok string) (any, error) {
		switch t := parent.(type) {
		case *object:
			t.set(tok, v)
			return t, nil
		case []any:
			i, err := arrayIndex(tok, len(t), true)
			if err != nil {
				return nil, err
			}
			return slices.Insert(t, i, v), nil
		}
		return nil, fmt.Errorf("add into %T", parent)
	})
}

func removeValue(doc any, toks []string) (any, error) {
	if len(toks) == 0 {
		return nil, errors.New("remove of the whole document")
	}
	return update(doc, toks, func(parent any, tok string) (any, error) {
		switch t := parent.(type) {
		case *object:
			if !t.has(tok) {
				return nil, fmt.Errorf("remove of missing member %q", tok)
			}
			delete(t.vals, tok)
			t.keys = slices.DeleteFunc(t.keys, func(k string) bool { return k == tok })
			return t, nil
		case []any:
			i, err := arrayIndex(tok, len(t), false)
			if err != nil {
				return nil, err
			}
			return slices.Delete(t, i, i+1), nil
		}
		return nil, fmt.Errorf("remove from %T", parent)
	})
}

func applyPatch(doc any, ops []PatchOp) (any, error) {
	for _, op := range ops {
		toks, err := splitPointer(op.Path)
		if err != nil {
			return nil, err
		}
		var val any
		if op.Op == "add" || op.Op == "replace" {
			if len(op.Value) == 0 {
				return nil, fmt.Errorf("%s without value", op.Op)
			}
			if val, err = parseJSON(op.Value); err != nil {
				return nil, err
			}
		}
		switch op.Op {
		case "add":
			doc, err = addValue(doc, toks, val)
		case "remove":
			doc, err = removeValue(doc, toks)
		case "replace":
			if _, err = get(doc, toks); err == nil {
				if len(toks) == 0 {
					doc = val
				} else if doc, err = removeValue(doc, toks); err == nil {
					doc, err = addValue(doc, toks, val)
				}
			}
		case "move":
			if op.From == op.Path {
				continue
			}
			if strings.HasPrefix(op.Path, op.From+"/") {
				return nil, fmt.Errorf("move into itself")
			}
			var from []string
			var v any
			if from, err = splitPointer(op.From); err == nil {
				if v, err = get(doc, from); err == nil {
					if doc, err = removeValue(doc, from); err == nil {
						doc, err = addValue(doc, toks, v)
					}
				}
			}
		default:
			err = fmt.Errorf("unknown op %q", op.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
		}
	}
	return doc, nil
}

func FuzzCompare(f *testing.F) {
	seeds := [][2]string{
		{`{"a":{"b":1}}`, `{"a":{"b":2,"c":[1,2]}}`},
		{`[{"name":"a","v":1},{"name":"b"}]`, `[{"name":"b"},{"name":"c"},{"name":"a","v":2}]`},
		{`[{"id":1},{"id":2},{"id":3}]`, `[{"id":3.0},{"id":1,"x":[{"key":"k"}]}]`},
		{`[1,2,3]`, `[3]`},
		{`null`, `{"a":1}`},
		{`{"a":1}`, ``},
		{`"a: 1\nb: [x, y]\n"`, `"a: 2\nb: [y]\n"`},
		{`"{\"a\":1}"`, `"[1,2]"`},
		{`"x"`, `5`},
		{`{"a.b":{"~/":1}}`, `{"a.b":{"~/":[]}}`},
		{`"k: &a {x: 1}\nm:\n  <<: *a\n  y: 2\n"`, `"k: {x: 2}\nm: {x: 2, y: 2}\n"`},
		{`{"":{"":1}}`, `{"":{}}`},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, before, after []byte) {
		r, err := Compare(before, after)
		if err != nil {
			return
		}
		checkResult(t, string(before), string(after), r)
	})
}
