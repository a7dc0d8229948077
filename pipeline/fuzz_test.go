package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

func FuzzNormalize(f *testing.F) {
	for _, name := range []string{"control-plane-audit.ndjson", "control-plane-audit-bad.ndjson"} {
		for _, l := range readLines(f, name) {
			f.Add(l)
		}
	}
	for _, s := range []string{
		`{"time":1,"action":"a.b","actor":"u","n":[9007199254740993,1e400,-0.0,1E-7,5e-324]}`,
		`{"time":1,"action":"a.b","actor":"u","a":1,"a":{"a":2,"a":3},"token":"x","token":"y"}`,
		"{\"time\":1,\"action\":\"a.b\",\"actor\":\"u\",\"s\":\"\xff\\ud800\\u0000\\u001f\u2028\"}",
		`{"time":1,"action":"secret.x","actor":"u","changes":{"before":"value: s\nlist: [1, 2]\n","after":"{\"value\":1,\"value\":2}"}}`,
		`{"time":1,"action":"a.b","actor":"u","attributes":{"kt_duplicate_keys":1,"x":2},"x":3,"x_2":4}`,
		`{"time":"2026-01-01T00:00:00.123456789Z","action":"a.b","actor":{"id":"u","ip":"1"},"request":{"ip":"2"},"ip":"3"}`,
		`{"time":1,"action":"a.b","actor":"u","changes":{"after":"a: &x [1,2]\nb: *x\n"}}`,
		`{"\ud83d\ude00":1,"\ufb33":2,"\u20ac":3,"time":1,"action":"a.b","actor":"u"}`,
		`{"time":1,"action":"a.b","actor":{"id":7,"type":"api_key"},"category":"Credentials","outcome":"partial","org_id":12}`,
		`{"time":1,"action":"a.b","actor":"u","dsn":"postgres://u:pw@h/db","q":"x?password=p&token=t","n":"password: p q"}`,
		`{"time":1,"action":"a.b","actor":"u","h":"Authorization: Bearer abcdefgh12345678","k":"AKIAIOSFODNN7EXAMPLE"}`,
		`{"time":1,"action":"a.b","actor":"u","changes":{"after":"a:\n\tb: 1","before":"{\"x\": 1,"}}`,
		`{"time":1,"action":"a.b","actor":"u","p":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----","ACME-123456":1}`,
		`{"time":1,"action":"ledger.checkpoint","actor":"u","source":{"kind":"ledger"}}`,
		"\xef\xbb\xbf{\"time\":1,\"action\":\"a.b\",\"actor\":\"u\",\"x-api-key\":\"k\"}",
	} {
		f.Add([]byte(s))
	}
	nr := newNormalizer(f, func(o *Options) {
		o.RedactPaths = []string{"attributes.*.x"}
		o.RedactNames = []string{"PHPSESSID"}
		o.RedactPatterns = []string{`ACME-[0-9]{6}`, `id=(\w+)`}
		o.CategoryMap = map[string]string{"data_access": "policy"}
	})
	ne := newNormalizer(f, func(o *Options) { o.InvalidUTF8 = UTF8Escape })
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range []*Normalizer{nr, ne} {
			ev, err := n.Normalize(data, testSource, testReceived, "fb:1")
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("not a FieldError: %v", err)
				}
				continue
			}
			canon, err := jcs.Transform(ev.Body)
			if err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, ev.Body)
			}
			if !bytes.Equal(canon, ev.Body) {
				t.Fatalf("body is not JCS:\n%s\n%s", ev.Body, canon)
			}
			// Re-normalizing the event (without the members kt sets) is stable.
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(ev.Body))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Fatal(err)
			}
			delete(m, "received_at")
			delete(m, "source")
			again, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			ev2, err := n.Normalize(again, testSource, testReceived, "fb:2")
			if err != nil {
				var fe *FieldError
				if errors.As(err, &fe) && (strings.Contains(fe.Reason, "nested deeper") || strings.Contains(fe.Reason, "longer than")) {
					continue // moved members sit deeper; a limit may be hit
				}
				t.Fatalf("re-normalize: %v\n%s", err, ev.Body)
			}
			if !bytes.Equal(ev.Body, ev2.Body) || ev.Digest != ev2.Digest {
				t.Fatalf("not stable:\n%s\n%s", ev.Body, ev2.Body)
			}
		}
	})
}

func FuzzRedactRaw(f *testing.F) {
	for _, name := range []string{"control-plane-audit.ndjson", "control-plane-audit-bad.ndjson"} {
		for _, l := range readLines(f, name) {
			f.Add(l)
			f.Add(l[:len(l)/2])
		}
	}
	n := newNormalizer(f, func(o *Options) {
		o.RedactPaths = []string{"attributes.x"}
		o.RedactPatterns = []string{`ACME-[0-9]{6}`}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out := n.RedactRaw(data)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if json.Valid(bytes.TrimPrefix(data, utf8BOM)) && !json.Valid(out) {
			t.Fatalf("JSON in, not JSON out:\n%q\n%q", data, out)
		}
	})
}

func FuzzSplitWords(f *testing.F) {
	for _, c := range secretNameCases {
		f.Add(c.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		_ = isSecretName(name)
		buf, words := splitWords(name, nil, nil)
		if len(words) > maxNameWords {
			t.Fatalf("%d words", len(words))
		}
		var joined []byte
		prev := 0
		for _, w := range words {
			if w.start >= w.end || int(w.end) > len(buf) || int(w.start) < prev {
				t.Fatalf("bad word %v in %q", w, buf)
			}
			prev = int(w.end)
			joined = append(joined, buf[w.start:w.end]...)
		}
		// The words are the name's letters and digits, lower-cased, in
		// order (unless words were dropped past maxNameWords).
		var want []byte
		for i := 0; i < len(name); i++ {
			c := name[i]
			if nameClass[c] != chSep {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				want = append(want, c)
			}
		}
		if len(words) < maxNameWords && !bytes.Equal(joined, want) {
			t.Fatalf("%q: words %q, want %q", name, joined, want)
		}
	})
}

// benchEvent is a typical ~1 KB event with nested changes and attributes.
const benchEvent = `{"time": "2026-01-01T00:07:24.123456Z", "id": "evt_0013", "action": "gateway.config_push", "outcome": "success", "actor": {"type": "api_token", "id": "tok_ci_9f2", "name": "terraform-ci"}, "request": {"ip": "203.0.113.84", "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"}, "target": {"type": "gateway", "id": "gw_eu_1", "name": "gw-eu-west-1"}, "changes": {"before": {"version": 3, "routes": [{"name": "default", "model": "gpt-4o", "rate_limit": {"rpm": 600, "burst": 50}}, {"name": "batch", "model": "claude-3-haiku"}], "redaction": {"pii": true}}, "after": {"version": 4, "routes": [{"name": "default", "model": "gpt-4o", "rate_limit": {"rpm": 1200, "burst": 50}}, {"name": "eu", "model": "mistral-large", "region": "eu-west-1"}], "redaction": {"pii": true, "secrets": true}, "upstream": {"url": "https://api.example.net", "token": "tok-secret-value"}}}, "attributes": {"config_id": "cfg_gateway_prod", "config_version": 4, "result": "applied", "note": "Zoë Ångström — rollout wave 2"}, "org_id": "org_acme", "request_id": "req_c7", "correlation_id": "corr_release_2026_01"}`

// ingestEvent is the event bench/ingest sends (its makeTemplate, id
// filled in): compact, keys sorted, nested changes, an actor with ip and
// user_agent, and plain top-level strings that go to attributes.
const ingestEvent = `{"action":"config.update","actor":{"id":"usr_01H8A","ip":"203.0.113.84","name":"alice@acme.example","type":"user","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},"changes":{"after":{"routes":[{"model":"gpt-4o","name":"default","rate_limit":{"burst":80,"rpm":900}},{"model":"claude-3-haiku","name":"batch"}],"version":4},"before":{"routes":[{"model":"gpt-4o","name":"default","rate_limit":{"burst":50,"rpm":600}}],"version":3}},"cluster":"prod-7","comment":"rollout of the new rate limits; rollout of the new rate limits; rollout of the new rate limits; rollout of the new rate limits; rollout of the new rate limits; rollout of the new rate limits; ","correlation_id":"corr_release_7","id":"bench-0-000000000001","org_id":"org_acme","region":"eu-west-1","request_id":"req_bench-0-000000000001","target":{"id":"cfg_gateway_prod","name":"gateway-prod.yaml","type":"config"},"ticket":"CHG-2291","time":"2026-03-01T10:00:00.123456Z"}`

func BenchmarkNormalize(b *testing.B) {
	n := newNormalizer(b)
	cases := []struct{ name, raw string }{
		{"ingest-1KB", ingestEvent},
		{"json-1KB", benchEvent},
		{"yaml-changes", string(readLines(b, "control-plane-audit.ndjson")[12])},
		{"secrets-1KB", secretsEvent},
	}
	for _, c := range cases {
		raw := []byte(c.raw)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := n.Normalize(raw, testSource, testReceived, "fb"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
