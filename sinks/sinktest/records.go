package sinktest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/sinks"
)

// Records are the records a transport gets from a small signed ledger,
// for tests that call Send directly: the entries (the genesis entry
// first), then the checkpoint record that covers them.
type Records struct {
	Recs []sinks.Record
	Keys ledger.Keyring // the ledger's verifier key
}

// SignRecords signs a genesis entry and then bodies (RFC 8785 canonical
// event bodies with an "id" and a "time") into a ledger with the signer
// key skey, and appends the checkpoint record that covers them. Every
// time derives from t0, so the result is the same at every run: the
// genesis entry is "evt_genesis" at t0, the checkpoint record is made at
// t0 + 1 h, the ledger id is "L1" and its origin "kt.test/ledger".
func SignRecords(tb testing.TB, skey string, t0 time.Time, bodies [][]byte) Records {
	tb.Helper()
	s, err := ledger.NewSigner(skey)
	require.NoError(tb, err)
	v, err := ledger.NewVerifier(s.VerifierKey())
	require.NoError(tb, err)
	keys := ledger.Keyring{}
	keys.Add(v)
	genesis, err := ledger.GenesisBody("evt_genesis", t0, ledger.Genesis{LedgerID: "L1", Origin: "kt.test/ledger",
		VerifierKey: s.VerifierKey(), KeyID: s.KeyID(), Version: "v0.1.0"})
	require.NoError(tb, err)
	bodies = append([][]byte{genesis}, bodies...)

	var tree ledger.Tree
	var prev ledger.Hash
	var recs []sinks.Record
	for seq, body := range bodies {
		var ev struct{ ID string }
		require.NoError(tb, json.Unmarshal(body, &ev))
		e := &ledger.Entry{Seq: uint64(seq), PrevHash: prev, Body: body}
		e.Hash = e.ComputeHash()
		e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
		tree.Append(e.Hash)
		prev = e.Hash
		// As the Engine hands entries over: Time zero, EventTime reads it.
		recs = append(recs, sinks.Record{Kind: sinks.KindEntry, Seq: uint64(seq), ID: ev.ID, Line: e.AppendLine(nil)})
	}
	n := int64(len(bodies))
	root, err := tree.Root(n)
	require.NoError(tb, err)
	cp, err := ledger.SignCheckpoint(s, "kt.test/ledger", n, root)
	require.NoError(tb, err)
	recs = append(recs, sinks.Record{Kind: sinks.KindCheckpoint, Seq: uint64(n),
		ID: fmt.Sprintf("kt-checkpoint-L1-%d", n), Time: t0.Add(time.Hour), Line: sinks.CheckpointRecord(cp)})
	return Records{Recs: recs, Keys: keys}
}

// T0 is the time of the first event of NewRecords and of the suite's
// ledger; event seq happens at T0 + seq × 1.517 s.
var T0 = time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)

// NewRecords returns the records of a ledger of n entries (the genesis
// entry included) and its checkpoint record, signed with a new key. The
// entries are Event bodies. actorID, when not nil, names the actor of
// entry seq.
func NewRecords(tb testing.TB, n int, actorID func(seq int) string) Records {
	tb.Helper()
	skey, _, err := ledger.GenerateKey(nil, "kt-test")
	require.NoError(tb, err)
	bodies := make([][]byte, 0, n)
	for seq := 1; seq < n; seq++ {
		id := ""
		if actorID != nil {
			id = actorID(seq)
		}
		bodies = append(bodies, Event(tb, seq, EventID(seq), T0.Add(time.Duration(seq)*1517*time.Millisecond), id))
	}
	return SignRecords(tb, skey, T0, bodies)
}

// EventID is the event id of the event number seq: "evt_01JNB<seq>Q8ZK3M7V2T".
func EventID(seq int) string { return fmt.Sprintf("evt_01JNB%05dQ8ZK3M7V2T", seq) }

var actions = []struct{ action, category, targetType string }{
	{"auth.login", "authentication", "session"},
	{"member.invite", "user_management", "user"},
	{"config.update", "configuration", "gateway_config"},
	{"gateway.config_push", "gateway", "gateway"},
	{"policy.update", "policy", "policy"},
	{"secret.delete", "secret", "secret"},
	{"export_job.create", "export_job", "export"},
}

// Event returns the canonical (RFC 8785) body of audit event number seq
// with id and time at: about 1.2 KB with its ledger fields, like the
// control plane's events, with every field of the event schema (changes,
// attributes, source). Actions and categories cycle through the known
// ones, one outcome in five is a failure. actorID "" gives
// "usr_01H8A<seq mod 17>".
func Event(tb testing.TB, seq int, id string, at time.Time, actorID string) []byte {
	tb.Helper()
	a := actions[seq%len(actions)]
	if actorID == "" {
		actorID = fmt.Sprintf("usr_01H8A%03d", seq%17)
	}
	ev := map[string]any{
		"id": id, "time": at.Format(ledger.TimeFormat),
		"received_at": at.Add(42 * time.Millisecond).Format(ledger.TimeFormat),
		"action":      a.action, "category": a.category, "outcome": []string{"success", "failure"}[seq%5/4],
		"actor": map[string]any{"type": "user", "id": actorID, "name": "alice.martin@acme.example",
			"ip": fmt.Sprintf("203.0.113.%d", seq%250), "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"},
		"target":         map[string]any{"type": a.targetType, "id": fmt.Sprintf("%s_%04d", a.targetType, seq%97), "name": "eu-west-1 edge gateway"},
		"org_id":         "org_acme",
		"request_id":     fmt.Sprintf("req_%08x", seq*2654435761),
		"correlation_id": fmt.Sprintf("cor_%08x", seq/4*40503),
		"changes": map[string]any{
			"before": map[string]any{"rate_limit": map[string]any{"requests_per_minute": 600 + seq%7, "burst": 50}, "regions": []any{"eu-west-1"}, "tls_min_version": "1.2"},
			"after":  map[string]any{"rate_limit": map[string]any{"requests_per_minute": 900 + seq%7, "burst": 75}, "regions": []any{"eu-west-1", "eu-central-1"}, "tls_min_version": "1.3"},
		},
		"attributes": map[string]any{"console_version": "2026.02.3", "session_id": fmt.Sprintf("ses_%012x", seq*97), "mfa": true},
		"source":     map[string]any{"name": "control_plane", "kind": "file", "file": "/var/log/keeptrusts/audit.log", "offset": seq * 1187},
	}
	raw, err := json.Marshal(ev)
	require.NoError(tb, err)
	body, err := jcs.Transform(raw)
	require.NoError(tb, err)
	return body
}

// Verify checks lines (what a receiver holds, plus the records parked in
// dead letters) the way `kt verify` checks NDJSON exported from a SIEM:
// it fails on any finding but a warning, and when no entry is found.
func Verify(t testing.TB, keys ledger.Keyring, lines [][]byte) {
	t.Helper()
	c := ledger.NewCheck(keys)
	for i, l := range lines {
		c.Line(l, fmt.Sprintf("line %d", i+1))
	}
	findings, stats := c.Finish()
	for _, f := range findings {
		assert.True(t, f.Warning, "%s", f)
	}
	assert.Positive(t, stats.Entries)
}

// NewTransport makes the transport newT(c) (a sink package's New) and
// closes it when the test ends.
func NewTransport[C any, T sinks.Transport](tb testing.TB, newT func(C, *slog.Logger) (T, error), c C) T {
	tb.Helper()
	tr, err := newT(c, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = tr.Close() })
	return tr
}
