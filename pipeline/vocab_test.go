package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultMaps(t *testing.T) {
	for k, v := range DefaultCategoryMap() {
		assert.True(t, knownCategory(v), k)
		assert.Equal(t, k, string(foldVocab(nil, k)), "keys are folded")
	}
	for k, v := range DefaultActorTypeMap() {
		assert.True(t, knownActorType(v), k)
		assert.Equal(t, k, string(foldVocab(nil, k)), "keys are folded")
	}
	// The copies are copies.
	DefaultCategoryMap()["x"] = "secret"
	assert.NotContains(t, DefaultCategoryMap(), "x")
}

func TestConfiguredMaps(t *testing.T) {
	n := newNormalizer(t, func(o *Options) {
		o.CategoryMap = map[string]string{"Data Access": "policy", "credentials": "configuration"}
		o.ActorTypeMap = map[string]string{"robot": "system"}
	})
	for _, c := range []struct{ raw, path, want, input string }{
		{`"category":"data_access"`, "category", "policy", "data_access"},
		{`"category":"DATA-ACCESS"`, "category", "policy", "DATA-ACCESS"},
		{`"category":"credentials"`, "category", "configuration", "credentials"}, // configured overrides default
		{`"category":"secrets"`, "category", "secret", "secrets"},                // default still there
		{`"actor":{"id":"r","type":"Robot"}`, "actor.type", "system", "Robot"},
	} {
		var m map[string]any
		raw := strings.Replace(string(event(c.raw)), `"actor":{"id":"u1"},"actor"`, `"actor"`, 1)
		require.NoError(t, json.Unmarshal([]byte(normalizeBody(t, n, []byte(raw))), &m))
		assert.Equal(t, c.want, lookup(m, c.path), c.raw)
		attr := AttrCategoryInput
		if c.path == "actor.type" {
			attr = AttrActorTypeInput
		}
		assert.Equal(t, c.input, lookup(m, "attributes."+attr), c.raw)
	}
	// The secret category's rule applies to a mapped category.
	body := normalizeBody(t, n, event(`"category":"secrets","changes":{"after":{"value":"v4lue"}}`))
	assert.NotContains(t, body, "v4lue")
}

func TestVocabularyStable(t *testing.T) {
	// An input attribute of a reserved name is moved aside, and
	// normalizing the result again changes nothing.
	n := newNormalizer(t)
	raw := event(`"category":"credentials","outcome":"denied","attributes":{"kt_category_input":"mine"}`)
	ev, err := n.Normalize(raw, Source{}, testReceived, "e1")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(ev.Body, &m))
	assert.Equal(t, "credentials", lookup(m, "attributes.kt_category_input"))
	assert.Equal(t, "mine", lookup(m, "attributes.kt_category_input_2"))
	assert.Equal(t, "denied", lookup(m, "attributes.kt_outcome_input"))
	delete(m, "received_at")
	again, err := json.Marshal(m)
	require.NoError(t, err)
	ev2, err := n.Normalize(again, Source{}, testReceived, "e1")
	require.NoError(t, err)
	assert.Equal(t, string(ev.Body), string(ev2.Body))
}

func TestOutcomes(t *testing.T) {
	n := newNormalizer(t)
	for _, c := range []struct {
		in    string
		want  string
		input any
	}{
		{`"success"`, "success", nil}, {`"failure"`, "failure", nil}, {`null`, "success", nil}, {`""`, "success", nil},
		{`"OK"`, "success", "OK"}, {`"denied"`, "failure", "denied"}, {`true`, "success", true}, {`false`, "failure", false},
		{`"partial"`, "partial", nil}, {`"Timeout"`, "Timeout", nil},
	} {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(normalizeBody(t, n, event(`"outcome":`+c.in))), &m))
		assert.Equal(t, c.want, m["outcome"], c.in)
		assert.Equal(t, c.input, lookup(m, "attributes.kt_outcome_input"), c.in)
	}
}

func TestUnmapped(t *testing.T) {
	n := newNormalizer(t)
	send := func(extra string) {
		t.Helper()
		raw := strings.Replace(string(event(extra)), `"actor":{"id":"u1"},"actor"`, `"actor"`, 1)
		_, err := n.Normalize([]byte(raw), Source{}, testReceived, "")
		require.NoError(t, err)
	}
	send(`"category":"data_access"`)
	send(`"category":"data_access"`)
	send(`"category":"integration"`)
	send(`"category":"credentials"`) // mapped: not counted
	send(`"actor":{"id":"r","type":"robot"}`)
	send(`"outcome":"partial"`)
	send(`"outcome":"ok"`) // a synonym: not counted
	assert.Equal(t, []UnmappedCount{
		{Field: "actor.type", Value: "robot", Count: 1},
		{Field: "category", Value: "data_access", Count: 2},
		{Field: "category", Value: "integration", Count: 1},
		{Field: "outcome", Value: "partial", Count: 1},
	}, n.Unmapped())

	// Bounded: values past MaxUnmappedValues are counted together.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_, err := n.Normalize(event(fmt.Sprintf(`"category":"c%03d"`, i)), Source{}, testReceived, "")
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	var named, other uint64
	distinct := 0
	for _, u := range n.Unmapped() {
		if u.Field != UnmappedCategory {
			continue
		}
		if u.Value == UnmappedOtherValue {
			other += u.Count
		} else {
			named += u.Count
			distinct++
		}
	}
	assert.Equal(t, MaxUnmappedValues, distinct)
	assert.Equal(t, uint64(400+3), named+other)
	assert.Positive(t, other)
}

func TestOptionsValidate(t *testing.T) {
	base := NewDefaultOptions()
	base.RedactKey = testKey
	require.NoError(t, base.Validate())
	for _, c := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.MaxIDBytes = MaxIDBytesCeiling + 1 }, "max id bytes"},
		{func(o *Options) { o.MaxIDBytes = -1 }, "max id bytes"},
		{func(o *Options) { o.MaxEventBytes = MaxEventBytesCeiling + 1 }, "max event bytes"},
		{func(o *Options) { o.RedactNames = []string{" "} }, "redact name 0 is empty"},
		{func(o *Options) { o.RedactPatterns = []string{`a(b`} }, `redact pattern "a(b"`},
		{func(o *Options) { o.RedactPatterns = []string{`x*`} }, `matches the empty string`},
		{func(o *Options) { o.RedactPatterns = []string{``} }, `redact pattern is empty`},
		{func(o *Options) { o.CategoryMap = map[string]string{"creds": "secrets"} }, `"creds" maps to "secrets", which is not a known value`},
		{func(o *Options) { o.CategoryMap = map[string]string{"x": "ledger"} }, `not a known value`},
		{func(o *Options) { o.CategoryMap = map[string]string{"Secret": "policy"} }, `is a known value itself`},
		{func(o *Options) { o.CategoryMap = map[string]string{" ": "policy"} }, `empty key`},
		{func(o *Options) { o.ActorTypeMap = map[string]string{"bot": "robot"} }, `actor_type_map: "bot" maps to "robot"`},
	} {
		o := base
		c.mod(&o)
		err := o.Validate()
		require.Error(t, err, c.want)
		assert.Contains(t, err.Error(), c.want)
		_, err = New(o)
		assert.Error(t, err)
	}
	o := base
	o.MaxIDBytes, o.MaxEventBytes = MaxIDBytesCeiling, MaxEventBytesCeiling
	o.CategoryMap = map[string]string{"data_access": "other"}
	assert.NoError(t, o.Validate())
	// The ceiling leaves room for the ledger's entry overhead.
	const queueMaxPayload, entryFixed, maxKeyID = 16 << 20, 157, 1<<16 - 1
	assert.Less(t, MaxEventBytesCeiling+MaxIDBytesCeiling+entryFixed+maxKeyID, queueMaxPayload)
	n, err := New(Options{RedactKey: testKey})
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxIDBytes, n.opts.MaxIDBytes)
	assert.Equal(t, DefaultMaxEventBytes, n.opts.MaxEventBytes)
}

func TestEventSizeLimit(t *testing.T) {
	n := newNormalizer(t, func(o *Options) { o.MaxEventBytes = 4096 })
	_, err := n.Normalize(event(`"note":"`+strings.Repeat("x", 3000)+`"`), Source{}, testReceived, "")
	require.NoError(t, err)
	_, err = n.Normalize(event(`"note":"`+strings.Repeat("x", 5000)+`"`), Source{}, testReceived, "")
	fe := fieldErr(t, err)
	assert.Equal(t, "", fe.Field)
	assert.Contains(t, fe.Reason, "larger than the limit of 4096 bytes")
	// Redaction can make a body larger than its input; the limit is on
	// the body.
	many := strings.Repeat(`"password":"x",`, 60)
	_, err = n.Normalize(event(`"a":{`+strings.TrimSuffix(many, ",")+`}`), Source{}, testReceived, "")
	fieldErr(t, err)
	// The default keeps the largest string a record may hold.
	d := newNormalizer(t)
	_, err = d.Normalize(event(`"note":"`+strings.Repeat("x", DefaultMaxFieldBytes)+`"`), Source{}, testReceived, "")
	require.NoError(t, err)
}

func TestFallbackID(t *testing.T) {
	n := newNormalizer(t, func(o *Options) { o.MaxIDBytes = 16 })
	for _, c := range []struct {
		id     string
		reason string
	}{
		{strings.Repeat("h", 17), "longer than 16 bytes (the id the source gave"},
		{"bad\xffutf8", "not valid UTF-8"},
	} {
		_, err := n.Normalize(event(""), testSource, testReceived, c.id)
		fe := fieldErr(t, err)
		assert.Equal(t, "id", fe.Field)
		assert.Contains(t, fe.Reason, c.reason)
	}
	// The record's own id wins over a bad fallback, and is held to the
	// limit itself.
	ev, err := n.Normalize(event(`"id":"e1"`), testSource, testReceived, strings.Repeat("h", 17))
	require.NoError(t, err)
	assert.Equal(t, "e1", ev.ID)
	_, err = n.Normalize(event(`"id":12345678901234567`), testSource, testReceived, "")
	assert.Equal(t, "id", fieldErr(t, err).Field)
}

func TestReservedSource(t *testing.T) {
	n := newNormalizer(t)
	for _, kind := range []string{"ledger", "LEDGER", "Ledger"} {
		_, err := n.Normalize(event(""), Source{Kind: kind, Name: "kt"}, testReceived, "")
		assert.ErrorIs(t, err, ErrReservedSource)
		var fe *FieldError
		assert.False(t, errorsAs(err, &fe), "a programming error, not the record's")
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestKnownExact(t *testing.T) {
	for _, c := range append(slicesClone(Categories), CategoryOther) {
		assert.Equal(t, c, knownCategoryExact(c))
		assert.True(t, knownCategory(c))
	}
	for _, a := range ActorTypes {
		assert.True(t, knownActorTypeExact(a))
	}
	assert.Equal(t, "", knownCategoryExact("Secret"))
	assert.False(t, knownActorTypeExact("User"))
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
