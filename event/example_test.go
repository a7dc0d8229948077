package event

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/ledger"
)

// workedExampleLine is the line of the package doc's worked example.
const workedExampleLine = `{"seq":2,"prev_hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f","hash":"b33b757671a64af57db4b7d066a5004eb3dc31ac0a29efae972ebe0e5e5a3393","sig":"WSnH/4onoNgSB0ie4nxL34UwfSabV2/x4e7mlSU2YF5vEp7ZRuMsuzdHCYXtH34xaRATySJehSgrsZ4bHN7SDA==","key_id":"kt-example+b45eaef2","action":"config.update","actor":{"id":"alice","ip":"203.0.113.7","name":"Alice Example","type":"user","user_agent":"console/2.4"},"attributes":{"ticket":"CHG-1042"},"category":"configuration","changes":{"after":{"rate_limit":{"rpm":1200}},"before":{"rate_limit":{"rpm":600}}},"correlation_id":"corr-7","id":"ev-2","org_id":"org-acme","outcome":"success","received_at":"2025-03-01T12:00:02.250000Z","request_id":"req-2","source":{"file":"/var/log/keeptrusts/audit.log","kind":"file","name":"control_plane","offset":4096},"target":{"id":"gw-1","name":"gateway-prod","type":"gateway"},"time":"2025-03-01T12:00:02.000000Z"}`

// workedExampleBody is the body of the worked example's entry.
const workedExampleBody = `{"action":"config.update","actor":{"id":"alice","ip":"203.0.113.7","name":"Alice Example","type":"user","user_agent":"console/2.4"},"attributes":{"ticket":"CHG-1042"},"category":"configuration","changes":{"after":{"rate_limit":{"rpm":1200}},"before":{"rate_limit":{"rpm":600}}},"correlation_id":"corr-7","id":"ev-2","org_id":"org-acme","outcome":"success","received_at":"2025-03-01T12:00:02.250000Z","request_id":"req-2","source":{"file":"/var/log/keeptrusts/audit.log","kind":"file","name":"control_plane","offset":4096},"target":{"id":"gw-1","name":"gateway-prod","type":"gateway"},"time":"2025-03-01T12:00:02.000000Z"}`

// workedExample is what Parse must read from workedExampleLine.
var workedExample = Event{
	Seq:           2,
	PrevHash:      "a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f",
	Hash:          "b33b757671a64af57db4b7d066a5004eb3dc31ac0a29efae972ebe0e5e5a3393",
	Sig:           "WSnH/4onoNgSB0ie4nxL34UwfSabV2/x4e7mlSU2YF5vEp7ZRuMsuzdHCYXtH34xaRATySJehSgrsZ4bHN7SDA==",
	KeyID:         "kt-example+b45eaef2",
	ID:            "ev-2",
	Time:          time.Date(2025, 3, 1, 12, 0, 2, 0, time.UTC),
	ReceivedAt:    time.Date(2025, 3, 1, 12, 0, 2, 250_000_000, time.UTC),
	Category:      "configuration",
	Action:        "config.update",
	Outcome:       "success",
	Actor:         Actor{Type: "user", ID: "alice", Name: "Alice Example", IP: "203.0.113.7", UserAgent: "console/2.4"},
	Target:        Target{Type: "gateway", ID: "gw-1", Name: "gateway-prod"},
	OrgID:         "org-acme",
	RequestID:     "req-2",
	CorrelationID: "corr-7",
	Changes:       Changes{Before: json.RawMessage(`{"rate_limit":{"rpm":600}}`), After: json.RawMessage(`{"rate_limit":{"rpm":1200}}`)},
	Attributes:    json.RawMessage(`{"ticket":"CHG-1042"}`),
	Source:        Source{Name: "control_plane", Kind: "file", File: "/var/log/keeptrusts/audit.log", Offset: 4096},
}

// render writes e as the package doc shows it, one field a line.
func render(e Event) []string {
	return []string{
		fmt.Sprintf("Seq:           %d", e.Seq),
		fmt.Sprintf("PrevHash:      %q", e.PrevHash),
		fmt.Sprintf("Hash:          %q", e.Hash),
		fmt.Sprintf("Sig:           %q", e.Sig),
		fmt.Sprintf("KeyID:         %q", e.KeyID),
		fmt.Sprintf("ID:            %q", e.ID),
		fmt.Sprintf("Time:          %s", e.Time.Format(time.RFC3339Nano)),
		fmt.Sprintf("ReceivedAt:    %s", e.ReceivedAt.Format(time.RFC3339Nano)),
		fmt.Sprintf("Category:      %q", e.Category),
		fmt.Sprintf("Action:        %q", e.Action),
		fmt.Sprintf("Outcome:       %q", e.Outcome),
		fmt.Sprintf("Reason:        %q", e.Reason),
		fmt.Sprintf("Actor:         {Type: %q, ID: %q, Name: %q, IP: %q, UserAgent: %q}", e.Actor.Type, e.Actor.ID, e.Actor.Name, e.Actor.IP, e.Actor.UserAgent),
		fmt.Sprintf("Target:        {Type: %q, ID: %q, Name: %q}", e.Target.Type, e.Target.ID, e.Target.Name),
		fmt.Sprintf("OrgID:         %q", e.OrgID),
		fmt.Sprintf("RequestID:     %q", e.RequestID),
		fmt.Sprintf("CorrelationID: %q", e.CorrelationID),
		fmt.Sprintf("Changes:       {Before: %s, After: %s}", e.Changes.Before, e.Changes.After),
		fmt.Sprintf("Attributes:    %s", e.Attributes),
		fmt.Sprintf("Source:        {Name: %q, Kind: %q, File: %q, Offset: %d}", e.Source.Name, e.Source.Kind, e.Source.File, e.Source.Offset),
	}
}

// TestWorkedExample makes the worked example's entry again (entry 2 after
// the ledger package's example, signed by its key), checks it with
// package ledger, reads it, and checks the package doc against both.
func TestWorkedExample(t *testing.T) {
	canon, err := jcs.Transform([]byte(workedExampleBody))
	require.NoError(t, err)
	require.Equal(t, workedExampleBody, string(canon), "the body is canonical")

	// It follows entry 1 of the ledger package's worked example.
	b, err := os.ReadFile("../ledger/testdata/worked_example.json")
	require.NoError(t, err)
	var ledgerExample struct{ Hash string }
	require.NoError(t, json.Unmarshal(b, &ledgerExample))
	require.Equal(t, ledgerExample.Hash, workedExample.PrevHash)

	s := exampleSigner(t)
	prev, err := ledger.ParseHash(workedExample.PrevHash)
	require.NoError(t, err)
	e := &ledger.Entry{Seq: 2, PrevHash: prev, Body: []byte(workedExampleBody)}
	e.Hash = e.ComputeHash()
	e.Sig, e.KeyID = s.SignHash(e.Hash), s.KeyID()
	require.Equal(t, workedExampleLine, string(e.AppendLine(nil)))

	back, err := ledger.ParseLine([]byte(workedExampleLine))
	require.NoError(t, err)
	v, err := ledger.NewVerifier(s.VerifierKey())
	require.NoError(t, err)
	assert.True(t, v.VerifyHash(back.Hash, back.Sig))

	got, err := Parse([]byte(workedExampleLine))
	require.NoError(t, err)
	assert.Equal(t, workedExample, got)

	body, err := Parse([]byte(workedExampleBody))
	require.NoError(t, err)
	want := workedExample
	want.Seq, want.PrevHash, want.Hash, want.Sig, want.KeyID = 0, "", "", "", ""
	assert.Equal(t, want, body, "the body alone")

	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "//\t"+workedExampleLine+"\n")
	for _, l := range render(got) {
		assert.Contains(t, string(doc), "//\t"+l+"\n")
	}
}
