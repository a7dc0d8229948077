// Package event is the read model of a ledger entry: it reads an entry
// line, or an entry body, into typed fields ([Event]) for the code that
// needs an entry's content — the sinks that map it into a SIEM's schema,
// and everything that filters, compares or exports entries. It reads; it
// does not verify (package ledger does) and does not normalize (package
// pipeline does).
//
// # What is read
//
// The input is one JSON object: an entry line as the ledger writes it
// (the ledger fields seq, prev_hash, hash, sig and key_id first, then the
// body's members), or a body alone. Each member of the event schema
// (docs/EVENTS.md, "Schema") has a field:
//
//	member                          field                       kind
//	seq                             Seq                         unsigned integer
//	prev_hash, hash, sig, key_id    PrevHash, Hash, Sig, KeyID  string, as on the wire
//	id                              ID                          string
//	time, received_at               Time, ReceivedAt            RFC 3339 time
//	category, action, outcome,      Category, Action, Outcome,  string
//	reason                          Reason
//	actor {type, id, name, ip,      Actor                       strings
//	       user_agent}
//	target {type, id, name}         Target                      strings
//	org_id, request_id,             OrgID, RequestID,           string
//	correlation_id                  CorrelationID
//	changes {before, after}         Changes.Before, .After      JSON text
//	attributes                      Attributes                  JSON text
//	source {name, kind, file,       Source                      strings; Offset integer
//	        offset}
//
// A string field holds the decoded JSON string, or the text of a JSON
// number (an id given as a number). Values are kept as given: a category,
// outcome or actor type outside kt's vocabulary ("robot") reads as it
// stands. A member that is absent, null, or of a kind its field cannot
// hold (an object where a string belongs, a time that is not RFC 3339, a
// seq that is not an unsigned integer) reads as the zero value; members
// the schema does not name are skipped. Of duplicate members the last
// counts, as in encoding/json. Only a line whose JSON framing is broken, or
// with a broken string among the members that are read, is refused
// ([ErrMalformed]).
//
// Entry lines are canonical (RFC 8785), so the reader walks the members
// and decodes only those it maps, rather than decoding the line: it takes
// about a third of the time of encoding/json on the same fields
// (BenchmarkParse). What it skips, and the insides of changes and
// attributes, are not validated. Whitespace between tokens and escaped
// member names are read too, so a line that a SIEM re-serialized reads the
// same. FuzzParse checks the result against encoding/json's reading of the
// same line.
//
// # Worked example
//
// Entry 2 of the ledger package's example ledger (signed by the same
// published test key, after entry 1 whose hash is its prev_hash) is the
// line
//
//	{"seq":2,"prev_hash":"a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f","hash":"b33b757671a64af57db4b7d066a5004eb3dc31ac0a29efae972ebe0e5e5a3393","sig":"WSnH/4onoNgSB0ie4nxL34UwfSabV2/x4e7mlSU2YF5vEp7ZRuMsuzdHCYXtH34xaRATySJehSgrsZ4bHN7SDA==","key_id":"kt-example+b45eaef2","action":"config.update","actor":{"id":"alice","ip":"203.0.113.7","name":"Alice Example","type":"user","user_agent":"console/2.4"},"attributes":{"ticket":"CHG-1042"},"category":"configuration","changes":{"after":{"rate_limit":{"rpm":1200}},"before":{"rate_limit":{"rpm":600}}},"correlation_id":"corr-7","id":"ev-2","org_id":"org-acme","outcome":"success","received_at":"2025-03-01T12:00:02.250000Z","request_id":"req-2","source":{"file":"/var/log/keeptrusts/audit.log","kind":"file","name":"control_plane","offset":4096},"target":{"id":"gw-1","name":"gateway-prod","type":"gateway"},"time":"2025-03-01T12:00:02.000000Z"}
//
// and [Parse] reads it as
//
//	Seq:           2
//	PrevHash:      "a75282ce508712a6367695bd16681ddfe5e3db1aea9edeec8dea38b1c236ca1f"
//	Hash:          "b33b757671a64af57db4b7d066a5004eb3dc31ac0a29efae972ebe0e5e5a3393"
//	Sig:           "WSnH/4onoNgSB0ie4nxL34UwfSabV2/x4e7mlSU2YF5vEp7ZRuMsuzdHCYXtH34xaRATySJehSgrsZ4bHN7SDA=="
//	KeyID:         "kt-example+b45eaef2"
//	ID:            "ev-2"
//	Time:          2025-03-01T12:00:02Z
//	ReceivedAt:    2025-03-01T12:00:02.25Z
//	Category:      "configuration"
//	Action:        "config.update"
//	Outcome:       "success"
//	Reason:        ""
//	Actor:         {Type: "user", ID: "alice", Name: "Alice Example", IP: "203.0.113.7", UserAgent: "console/2.4"}
//	Target:        {Type: "gateway", ID: "gw-1", Name: "gateway-prod"}
//	OrgID:         "org-acme"
//	RequestID:     "req-2"
//	CorrelationID: "corr-7"
//	Changes:       {Before: {"rate_limit":{"rpm":600}}, After: {"rate_limit":{"rpm":1200}}}
//	Attributes:    {"ticket":"CHG-1042"}
//	Source:        {Name: "control_plane", Kind: "file", File: "/var/log/keeptrusts/audit.log", Offset: 4096}
//
// Its body alone (the line without the five ledger members) reads the same
// with the ledger fields zero. TestWorkedExample signs the entry again with
// the example key, checks it with package ledger and checks every line
// above.
package event
