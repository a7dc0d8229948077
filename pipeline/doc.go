// Package pipeline turns one raw audit record (the bytes of one JSON value)
// into a validated, normalized, redacted event in RFC 8785 (JCS) canonical
// form, with its id and a content digest. Nothing un-redacted leaves the
// package: it does not log, and its errors (*FieldError) name fields and
// limits, never values. docs/EVENTS.md is the operator's version of this
// page.
//
// # Decoding
//
// Records are decoded by a strict RFC 8259 tokenizer into an ordered tree
// (encoding/json would lose duplicate keys and exact numbers):
//
//   - a UTF-8 byte order mark (EF BB BF) before the record is dropped;
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
// A record is refused only when it cannot be an audit record: not an
// object, no action, no actor, no usable time, or a field of a type that
// cannot mean anything (an object for a category, say). Every refusal says
// which field and why.
//
//   - id: the input "id" (string or number), else fallbackID (the id the
//     source gives, from a webhook-id or Idempotency-Key header, say), else
//     NewID(). Whatever its origin, at most Options.MaxIDBytes (default
//     1024, at most 4096) and valid UTF-8.
//   - time: from "time", "@timestamp" or "timestamp" (first present in that
//     order; the others go to attributes): RFC 3339 with any precision and
//     offset, or epoch seconds / milliseconds (|n| >= 1e11) as a number or
//     numeric string; written as TimeLayout in UTC. Digits below the
//     microsecond are cut and the input value is then kept in
//     attributes.kt_time_input. received_at is written the same way.
//   - action: required, a non-empty dotted name without white space or
//     control characters, at most MaxNameBytes (256). "ledger" and
//     "ledger.*" (in any case) are reserved for kt's own ledger records.
//   - actor: required. An object {type, id, name, ip, user_agent} (other
//     members kept) with a non-empty id or name; id is a string or a
//     number. A bare string s is taken as {type: "user", id: s}. ip and
//     user_agent, when the actor lacks them, are moved (not copied) from
//     request.ip / request.user_agent, else from top-level ip, source_ip,
//     user_agent; what is not moved stays in attributes.
//   - actor.type: user, api_token or system (ActorTypes); absent or ""
//     means user. Another word is mapped when Options.ActorTypeMap or
//     DefaultActorTypeMap says so (api_key, token, pat ... are api_token;
//     service_account, service, bot ... are system), the input then kept
//     in attributes.kt_actor_type_input; a word no mapping covers is kept
//     as given and counted (Unmapped).
//   - category: the known ones are Categories and CategoryOther. Absent,
//     null or "": inferred from the action prefix (auth., member./user./
//     role., team., config., gateway., policy., secret., export./
//     export_job., escalation.), else "other". Another word is mapped when
//     Options.CategoryMap or DefaultCategoryMap says so (credentials is
//     secret, authorization is policy ...), the input then kept in
//     attributes.kt_category_input; a word no mapping covers is kept as
//     given and counted. "ledger" is reserved.
//   - outcome: success or failure; absent, null or "" means success; their
//     synonyms (ok, succeeded, allowed ..., failed, error, denied ...) and
//     true/false are mapped, the input then kept in
//     attributes.kt_outcome_input; another word ("partial") is kept as
//     given and counted. reason is kept: a string as "reason", any other
//     value as attributes.reason.
//   - category, outcome, actor.type and target.type are names: strings of
//     at most MaxNameBytes without control characters, else refused.
//     Vocabulary words are compared ASCII case-insensitively, with '-' and
//     ' ' taken as '_'.
//   - target: an object {type, id, name} (id a string or a number; other
//     members kept), or a bare string or number, which is its id.
//   - org_id, request_id, correlation_id: strings, or numbers.
//   - An id given as a number (actor.id, target.id, org_id, request_id,
//     correlation_id) becomes the string of its canonical number text, and
//     its path is listed in attributes.kt_numbers_as_strings.
//   - changes: an object; a before/after given as a string that parses as a
//     JSON or YAML mapping or sequence becomes that document; one that
//     looks like a document (several lines, a '{' or '[' first, or a
//     first line "key:" or "- item") but does not parse, or breaks a limit,
//     is redacted whole and its path listed in
//     attributes.kt_unparsed_documents; any other string is kept.
//   - attributes: the input "attributes" object plus every other input
//     member, ledger fields (seq, prev_hash, hash, sig, key_id) and input
//     received_at/source included. On a name clash both are kept, the later
//     one renamed with a suffix _2, _3, ...; an input attribute named like
//     one kt writes (kt_*) is moved aside the same way.
//   - source: from the Source argument ({file, kind, name, offset}); the
//     input's own "source" is an attribute. A Source of kind "ledger" (the
//     ledger's own entries) is refused with ErrReservedSource.
//
// A null optional field counts as absent. The encoded event (Body) is at
// most Options.MaxEventBytes (default 4 MiB, at most MaxEventBytesCeiling
// = 15 MiB, which leaves the ledger room for its entry overhead, the id
// and the key id within its 16 MiB entry limit).
//
// # Redaction
//
// Before anything is encoded or hashed, secret values are replaced by
// RedactedPrefix + hex(HMAC-SHA256(RedactKey, x)), so that equal secrets
// can be correlated without being revealed. x is the raw string, the
// canonical JSON of any other value (whole subtree), or, for a secret
// inside a string, that part of the string alone, the rest of the string
// kept. true, false and null are never redacted: they hold no secret.
//
//   - Secret names: a member whose name says it holds a secret, at any
//     depth, whole value. The name is split into words (camelCase,
//     PascalCase, acronyms, '-', '_', '.', digits: XAuthToken is x, auth,
//     token) and judged by the rules and word lists of names.go: a secret
//     word (password, passwd, pwd, pass, secret, token, credentials,
//     authorization, cookie ...), a word ending in a secret stem
//     (pgpassword, clientsecret, secretaccesskey ...), a secret pair (api
//     key, access key, private key ..., access tokens ...) or session id
//     make it secret; a first word is, has, max, min, num or total, or a
//     last word that describes a secret (id, type, count, name, at,
//     expires, policy, url ...) make it not secret: token_id, max_tokens,
//     public_key, key_id, secret_name, password_changed_at are kept.
//     Options.RedactNames adds exact names (ASCII case-insensitive, '-' =
//     '_').
//   - The secret category: in an event of category secret (after mapping)
//     or an action secret.*, every member named value.
//   - Shapes: every string at any depth (values; member names of 16 bytes
//     or more) is scanned once for secrets by their shape, and only the
//     secret part is replaced: the value of a key=value, key: value or
//     "key": "value" pair whose key is a secret name (connection strings
//     and DSNs: password=..., Pwd={...}, ADO.NET and JDBC forms, query
//     strings, YAML and header lines); the password of a URL
//     (scheme://user:PASSWORD@host); Bearer and Basic credentials; PEM
//     private key blocks; and the credential formats of keyRules (AWS,
//     GitHub, GitLab, Slack, Google, Stripe, OpenAI, Anthropic, JWTs ...:
//     a curated subset of gitleaks v8.30.1). A cheap byte scan finds the
//     places where one can start; a regular expression runs only there.
//     Options.RedactPatterns (RE2) run on every string; a match, or its
//     first group, is replaced.
//   - The configured Options.RedactPaths, dotted paths into the event where
//     "*" matches one segment and array elements are numbered.
//
// id, time, received_at, action, category, outcome and source are never
// redacted. A redaction result is left alone, so normalizing a normalized
// event again gives the same body.
//
// RedactRaw applies the same rules to a record Normalize refused, for a
// dead-letter file: as a tree when it is JSON, else by a linear scan of
// the text.
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
