package hectest_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keeptrusts/kt/sinks/splunkhec/hectest"
)

const channel = "0b7c4a52-3f7e-4d8e-bb1a-6a8a1e3c9f21"

type reply struct {
	Text         string          `json:"text"`
	Code         *int            `json:"code"`
	InvalidEvent *int            `json:"invalid-event-number"`
	AckID        *uint64         `json:"ackId"`
	Acks         map[string]bool `json:"acks"`
}

// post sends body to path with the server's token and hdr (a "" value
// deletes a header).
func post(t *testing.T, c *http.Client, s *hectest.Server, path string, hdr map[string]string, body []byte) (int, http.Header, reply) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Splunk "+s.Token)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var r reply
	if resp.Header.Get("Content-Type") != "text/html" {
		require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	}
	return resp.StatusCode, resp.Header, r
}

func code(r reply) int {
	if r.Code == nil {
		return -1
	}
	return *r.Code
}

func TestAuth(t *testing.T) {
	s := hectest.New(t, hectest.Options{Token: "tok-1"})
	assert.Equal(t, "tok-1", s.Token)
	for _, tc := range []struct {
		name, auth   string
		disabled     bool
		status, code int
		text         string
	}{
		{"missing", "", false, 401, 2, "Token is required"},
		{"other scheme", "Bearer tok-1", false, 401, 3, "Invalid authorization"},
		{"wrong token", "Splunk tok-2", false, 403, 4, "Invalid token"},
		{"disabled", "Splunk tok-1", true, 403, 1, "Token disabled"},
		{"good", "Splunk tok-1", false, 200, 0, "Success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.DisableToken(tc.disabled)
			status, _, r := post(t, nil, s, "/services/collector/event", map[string]string{"Authorization": tc.auth}, []byte(`{"event":"x"}`))
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code(r))
			assert.Equal(t, tc.text, r.Text)
		})
	}
	assert.Len(t, s.Events(), 1, "only the good request is indexed")
}

func TestEventBody(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		status  int
		code    int
		invalid int // -1: no invalid-event-number
		indexed int
	}{
		{"two objects", `{"event":"a"}{"event":{"k":1}}`, 200, 0, -1, 2},
		{"white space between", "{\"event\":\"a\"}\n\n  {\"event\":\"b\"}\n", 200, 0, -1, 2},
		{"empty", ``, 400, 5, -1, 0},
		{"blank", " \n", 400, 5, -1, 0},
		{"no event", `{"event":"a"}{"time":1}`, 400, 12, 1, 1},
		{"empty event", `{"event":""}`, 400, 13, 0, 0},
		{"null event", `{"event":"a"}{"event":"b"}{"event":null}`, 400, 13, 2, 2},
		{"white event", `{"event":"   "}`, 400, 13, 0, 0},
		{"truncated", `{"event":"a"}{"event":"b"`, 400, 6, 1, 1},
		{"garbage after", `{"event":"a"}}`, 400, 6, 1, 1},
		{"array", `{"event":"a"}[{"event":"b"}]`, 400, 6, 1, 1},
		{"bad time", `{"event":"a","time":"soon"}`, 400, 6, 0, 0},
		{"time object", `{"event":"a","time":{}}`, 400, 6, 0, 0},
		{"host not a string", `{"event":"a","host":5}`, 400, 6, 0, 0},
		{"nested field", `{"event":"a"}{"event":"b","fields":{"k":{"x":1}}}`, 400, 15, 1, 1},
		{"fields array", `{"event":"a","fields":[1]}`, 400, 15, 0, 0},
		{"fields ok", `{"event":"a","fields":{"k":["x","y"],"n":3,"s":"v"}}`, 200, 0, -1, 1},
		{"wrong index", `{"event":"a","index":"main"}{"event":"b","index":"other"}`, 400, 7, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := hectest.New(t, hectest.Options{Indexes: []string{"main"}})
			status, _, r := post(t, nil, s, "/services/collector/event", nil, []byte(tc.body))
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code(r))
			if tc.invalid < 0 {
				assert.Nil(t, r.InvalidEvent)
			} else if assert.NotNil(t, r.InvalidEvent) {
				assert.Equal(t, tc.invalid, *r.InvalidEvent)
			}
			assert.Len(t, s.Events(), tc.indexed)
		})
	}
}

func TestEventFields(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	body := `{"time":1740830401.000,"host":"cp-1","source":"kt","sourcetype":"keeptrusts:audit","index":"audit","event":{"seq":1, "id":"ev-1"},"fields":{"kt_id":"ev-1","kt_seq":"1"}}` +
		`{"time":"1740830402.5","event":"plain text"}`
	status, _, _ := post(t, nil, s, "/services/collector", nil, []byte(body))
	require.Equal(t, 200, status)
	ev := s.Events()
	require.Len(t, ev, 2)
	assert.Equal(t, "1740830401.000", ev[0].Time, "the time as sent")
	assert.Equal(t, "cp-1", ev[0].Host)
	assert.Equal(t, "kt", ev[0].Source)
	assert.Equal(t, "keeptrusts:audit", ev[0].Sourcetype)
	assert.Equal(t, "audit", ev[0].Index)
	assert.Equal(t, `{"seq":1, "id":"ev-1"}`, string(ev[0].Event), "byte for byte")
	assert.Equal(t, "ev-1", ev[0].ID())
	assert.Equal(t, "1", ev[0].Field("kt_seq"))
	assert.Equal(t, "1740830402.5", ev[1].Time)
	assert.Equal(t, `"plain text"`, string(ev[1].Event))
	assert.Empty(t, ev[1].ID())
	assert.Equal(t, 0, ev[0].Request)
	assert.Equal(t, 1, s.RequestCount())
}

func TestGzip(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = io.WriteString(zw, strings.Repeat(`{"event":"aaaaaaaaaaaaaaaa"}`, 100))
	require.NoError(t, zw.Close())
	status, _, _ := post(t, nil, s, "/services/collector/event", map[string]string{"Content-Encoding": "gzip"}, z.Bytes())
	require.Equal(t, 200, status)
	assert.Len(t, s.Events(), 100)
	req := s.Requests()[0]
	assert.Equal(t, z.Len(), req.WireBytes)
	assert.Equal(t, 100*len(`{"event":"aaaaaaaaaaaaaaaa"}`), len(req.Body), "Body is inflated")

	status, _, r := post(t, nil, s, "/services/collector/event", map[string]string{"Content-Encoding": "gzip"}, []byte(`{"event":"not gzip"}`))
	assert.Equal(t, 400, status)
	assert.Equal(t, 6, code(r))
}

func TestTooLarge(t *testing.T) {
	s := hectest.New(t, hectest.Options{MaxContentLength: 100})
	status, _, r := post(t, nil, s, "/services/collector/event", nil, []byte(strings.Repeat(`{"event":"a"}`, 10)))
	assert.Equal(t, 413, status)
	assert.Contains(t, r.Text, "too large")
	assert.Empty(t, s.Events())
}

func TestRefuseIDs(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	s.RefuseIDs("b")
	body := `{"event":1,"fields":{"kt_id":"a"}}{"event":2,"fields":{"kt_id":"b"}}{"event":3,"fields":{"kt_id":"c"}}`
	status, _, r := post(t, nil, s, "/services/collector/event", nil, []byte(body))
	assert.Equal(t, 400, status)
	assert.Equal(t, 6, code(r))
	require.NotNil(t, r.InvalidEvent)
	assert.Equal(t, 1, *r.InvalidEvent)
	require.Len(t, s.Events(), 1)
	assert.Equal(t, "a", s.Events()[0].ID())
}

func TestRefuseRequestsWith(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	s.RefuseRequestsWith("b")
	body := `{"event":1,"fields":{"kt_id":"a"}}{"event":2,"fields":{"kt_id":"b"}}{"event":3,"fields":{"kt_id":"c"}}`
	status, _, r := post(t, nil, s, "/services/collector/event", nil, []byte(body))
	assert.Equal(t, 400, status)
	assert.Equal(t, 6, code(r))
	assert.Equal(t, "Invalid data format", r.Text)
	assert.Nil(t, r.InvalidEvent, "no event number: the whole request is refused")
	assert.Empty(t, s.Events(), "nothing of it is indexed")
	status, _, _ = post(t, nil, s, "/services/collector/event", nil, []byte(`{"event":1,"fields":{"kt_id":"a"}}`))
	assert.Equal(t, 200, status)
	assert.Len(t, s.Events(), 1)
}

func TestFailNext(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	s.FailNext(1, hectest.Failure{Status: 503, Code: 9, Text: "Server is busy", RetryAfter: "4"})
	s.FailNext(1, hectest.BadGateway)
	status, hdr, r := post(t, nil, s, "/services/collector/event", map[string]string{"Authorization": ""}, []byte(`{"event":"a"}`))
	assert.Equal(t, 503, status, "failures come before authentication")
	assert.Equal(t, 9, code(r))
	assert.Equal(t, "4", hdr.Get("Retry-After"))
	status, hdr, _ = post(t, nil, s, "/services/collector/event", nil, []byte(`{"event":"a"}`))
	assert.Equal(t, 502, status)
	assert.Equal(t, "text/html", hdr.Get("Content-Type"))
	status, _, _ = post(t, nil, s, "/services/collector/event", nil, []byte(`{"event":"a"}`))
	assert.Equal(t, 200, status)
	assert.Len(t, s.Events(), 1)
	assert.Equal(t, 3, s.RequestCount())
}

func TestAck(t *testing.T) {
	s := hectest.New(t, hectest.Options{Ack: true})
	ev := []byte(`{"event":"a"}`)

	status, _, r := post(t, nil, s, "/services/collector/event", nil, ev)
	assert.Equal(t, 400, status)
	assert.Equal(t, 10, code(r), "Data channel is missing")
	status, _, r = post(t, nil, s, "/services/collector/event", map[string]string{"X-Splunk-Request-Channel": "kt"}, ev)
	assert.Equal(t, 400, status)
	assert.Equal(t, 11, code(r), "Invalid data channel")
	assert.Empty(t, s.Events())

	hdr := map[string]string{"X-Splunk-Request-Channel": channel}
	for want := range uint64(3) {
		status, _, r = post(t, nil, s, "/services/collector/event", hdr, ev)
		require.Equal(t, 200, status)
		require.NotNil(t, r.AckID)
		assert.Equal(t, want, *r.AckID, "ackIds count from 0 per channel")
	}
	other := "7d444840-9dc0-11d1-b245-5ffdce74fad2"
	status, _, r = post(t, nil, s, "/services/collector/event?channel="+other, nil, ev)
	require.Equal(t, 200, status)
	assert.Equal(t, uint64(0), *r.AckID, "the channel may be a query parameter")
	assert.Equal(t, 4, s.PendingAcks())

	status, _, r = post(t, nil, s, "/services/collector/ack?channel="+channel, nil, []byte(`{"acks":[0,2,9]}`))
	require.Equal(t, 200, status)
	assert.Equal(t, map[string]bool{"0": true, "2": true, "9": false}, r.Acks)
	_, _, r = post(t, nil, s, "/services/collector/ack", hdr, []byte(`{"acks":[0,1]}`))
	assert.Equal(t, map[string]bool{"0": false, "1": true}, r.Acks, "an ackId reported true is forgotten")
	assert.Equal(t, 1, s.PendingAcks())

	status, _, r = post(t, nil, s, "/services/collector/ack", nil, []byte(`{"acks":[0]}`))
	assert.Equal(t, 400, status)
	assert.Equal(t, 10, code(r))
	status, _, r = post(t, nil, s, "/services/collector/ack", hdr, []byte(`[0]`))
	assert.Equal(t, 400, status)
	assert.Equal(t, 6, code(r))
	status, _, r = post(t, nil, s, "/services/collector/ack", map[string]string{"Authorization": "Splunk nope"}, []byte(`{"acks":[0]}`))
	assert.Equal(t, 403, status)
	assert.Equal(t, 4, code(r))
}

func TestAckDelayAndDrop(t *testing.T) {
	s := hectest.New(t, hectest.Options{Ack: true})
	hdr := map[string]string{"X-Splunk-Request-Channel": channel}
	s.DelayAcks(150 * time.Millisecond)
	s.DropAcks(1)
	for range 2 {
		status, _, _ := post(t, nil, s, "/services/collector/event", hdr, []byte(`{"event":"a"}`))
		require.Equal(t, 200, status)
	}
	_, _, r := post(t, nil, s, "/services/collector/ack", hdr, []byte(`{"acks":[0,1]}`))
	assert.Equal(t, map[string]bool{"0": false, "1": false}, r.Acks)
	time.Sleep(200 * time.Millisecond)
	_, _, r = post(t, nil, s, "/services/collector/ack", hdr, []byte(`{"acks":[0,1]}`))
	assert.Equal(t, map[string]bool{"0": false, "1": true}, r.Acks, "ackId 0 is dropped, 1 delayed")
	assert.Len(t, s.Events(), 2, "a dropped ack still indexes its events")
}

func TestAckDisabled(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	status, _, r := post(t, nil, s, "/services/collector/ack?channel="+channel, nil, []byte(`{"acks":[0]}`))
	assert.Equal(t, 400, status)
	assert.Equal(t, 14, code(r))
	assert.Equal(t, "ACK is disabled", r.Text)
	status, _, r = post(t, nil, s, "/services/collector/event", map[string]string{"X-Splunk-Request-Channel": channel}, []byte(`{"event":"a"}`))
	assert.Equal(t, 200, status)
	assert.Nil(t, r.AckID, "no ackId when the token has acknowledgement off")
}

func TestPaths(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	status, _, r := post(t, nil, s, "/services/collector/raw", nil, []byte(`x`))
	assert.Equal(t, 404, status)
	assert.Equal(t, 404, code(r))
	status, _, _ = post(t, nil, s, "/services/collector/event/1.0", nil, []byte(`{"event":"a"}`))
	assert.Equal(t, 200, status)

	resp, err := http.Get(s.URL() + "/services/collector/health")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r2 reply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r2))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 17, code(r2))
}

func TestDownUp(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	url := s.URL()
	s.Down()
	_, err := http.Post(url+"/services/collector/event", "application/json", strings.NewReader(`{"event":"a"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")
	require.NoError(t, s.Up())
	require.NoError(t, s.Up(), "Up twice")
	assert.Equal(t, url, s.URL(), "the same port")
	status, _, _ := post(t, nil, s, "/services/collector/event", nil, []byte(`{"event":"a"}`))
	assert.Equal(t, 200, status)
}

func TestTLS(t *testing.T) {
	s := hectest.New(t, hectest.Options{TLS: true})
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}}}
	status, _, _ := post(t, c, s, "/services/collector/event", nil, []byte(`{"event":"a"}`))
	assert.Equal(t, 200, status)
	assert.Len(t, s.Events(), 1)
}

func TestReset(t *testing.T) {
	s := hectest.New(t, hectest.Options{})
	status, _, _ := post(t, nil, s, "/services/collector/event", nil, []byte(`{"event":"a"}`))
	require.Equal(t, 200, status)
	s.Reset()
	assert.Empty(t, s.Events())
	assert.Zero(t, s.RequestCount())
}
