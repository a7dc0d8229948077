// Package pipeline turns one raw audit record (the bytes of one JSON value)
// into a validated, normalized, redacted event in RFC 8785 (JCS) canonical
// form, with its id and a content digest. Nothing un-redacted leaves the
// package: it does not log, and its errors (*FieldError) name fields, never
// values.
//
// # Decoding
//
// Records are decoded by a strict RFC 8259 tokenizer into an ordered tree
// (encoding/json would lose duplicate keys and exact numbers):
//
//   - the record must be a JSON object ("not an object" otherwise);
//     malformed JSON is refused naming the byte offset;
//   - nesting deeper than Options.MaxDepth (default 32, the record being
//     level 1) and strings longer than Options.MaxFieldBytes (default 1 MiB)
//     are refused naming the path;
//   - a number that does not denote exactly the value of its float64
//     (9007199254740993, 9223372036854775807, 1e400) becomes a string of
//     its input text, and its path in the event is listed in
//     attributes.kt_numbers_as_strings;
//   - a duplicate member name keeps the first value in place; every later
//     one is moved to attributes.kt_duplicate_keys as {path, value};
//   - a string that is not valid UTF-8, or holds a lone UTF-16 surrogate
//     escape, is refused (UTF8Reject, default) or replaced by
//     "kt:invalid-utf8:base64:" + base64 of its raw bytes (UTF8Escape),
//     lone surrogates being taken as their WTF-8 bytes.
//
// # Event schema
//
//   - id: the input "id" (string or number), else fallbackID, else NewID().
//   - time: from "time", "@timestamp" or "timestamp" (first present in that
//     order; the others go to attributes): RFC 3339 with any precision and
//     offset, or epoch seconds / milliseconds (|n| >= 1e11) as a number or
//     numeric string; written as TimeLayout in UTC. Digits below the
//     microsecond are cut and the input value is then kept in
//     attributes.kt_time_input. received_at is written the same way.
//   - action: required, a non-empty dotted name.
//   - actor: required. An object {type, id, name, ip, user_agent} (other
//     members kept) with a non-empty id or name; type is user, api_token or
//     system, default user. A bare string s is taken as {type: "user",
//     id: s}: producers that send a bare string send a user's login. ip and
//     user_agent, when the actor lacks them, are moved (not copied) from
//     request.ip / request.user_agent, else from top-level ip, source_ip,
//     user_agent; what is not moved stays in attributes.
//   - category: if present one of Categories, else inferred from the action
//     prefix (auth., member./user./role., team., config., gateway.,
//     policy., secret., export./export_job., escalation.), else "other".
//   - outcome: success or failure (ok/succeeded and failed/fail/error/denied
//     are synonyms, true/false too); default success. reason is kept.
//   - target: an object {type, id, name} (a bare string is its id).
//   - org_id, request_id, correlation_id: strings.
//   - changes: an object; a before/after given as a string that parses as a
//     JSON or YAML mapping or sequence becomes that document, any other
//     string is kept as it is.
//   - attributes: the input "attributes" object plus every other input
//     member, ledger fields (seq, prev_hash, hash, sig, key_id) and input
//     received_at/source included. On a name clash both are kept, the later
//     one renamed with a suffix _2, _3, ...
//   - source: from the Source argument ({file, kind, name, offset}).
//
// A null optional field counts as absent.
//
// # Redaction
//
// Before anything is encoded or hashed, secret values are replaced by
// RedactedPrefix + hex(HMAC-SHA256(RedactKey, x)), x being the raw string,
// or the canonical JSON of any other value (whole subtree), so that equal
// secrets can be correlated without being revealed:
//
//   - any member, at any depth, whose name is (ASCII case-insensitively,
//     '-' taken as '_') password, passwd, secret, client_secret, token,
//     access_token, refresh_token, api_key, apikey, private_key,
//     secret_key, credentials, authorization or cookie; look-alikes such
//     as max_tokens, token_count or secret_id are not redacted;
//   - in an event of category secret (or an action secret.*), every member
//     named value;
//   - the configured Options.RedactPaths, dotted paths into the event where
//     "*" matches one segment and array elements are numbered.
//
// id, time, received_at, action, category, outcome and source are never
// redacted. A string that already is a redaction result is left alone, so
// normalizing a normalized event again gives the same body.
//
// # Output
//
// Event.Body is the RFC 8785 canonical JSON of the event: members sorted
// by UTF-16 code units, strings escaped as the RFC says, numbers in ES6
// form. Event.Digest is the first 16 bytes of SHA-256 over the body
// without its received_at and source members, so a retried delivery of the
// same event, or a line read again from a rotated file after a crash, has
// the same digest.
package pipeline
