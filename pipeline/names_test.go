package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitWords(t *testing.T) {
	for _, c := range []struct {
		name string
		want []string
	}{
		{"accessToken", []string{"access", "token"}},
		{"secretAccessKey", []string{"secret", "access", "key"}},
		{"XAuthToken", []string{"x", "auth", "token"}},
		{"x-api-key", []string{"x", "api", "key"}},
		{"APIKey", []string{"api", "key"}},
		{"API_KEY", []string{"api", "key"}},
		{"oauth2Token", []string{"oauth", "2", "token"}},
		{"db.password", []string{"db", "password"}},
		{"PGPASSWORD", []string{"pgpassword"}},
		{"token_last4", []string{"token", "last", "4"}},
		{"  spaced  name ", []string{"spaced", "name"}},
		{"Zoë_Key", []string{"zoë", "key"}},
		{"", nil},
		{"--__..", nil},
	} {
		buf, words := splitWords(c.name, nil, nil)
		var got []string
		for _, w := range words {
			got = append(got, string(buf[w.start:w.end]))
		}
		assert.Equal(t, c.want, got, c.name)
	}
}

// secretNameCases are names and whether they are secret, with the rule
// that decides (see names.go). Both directions: look-alikes stay.
var secretNameCases = []struct {
	name   string
	secret bool
}{
	// secret words, in every spelling
	{"password", true}, {"PASSWORD", true}, {"Password", true}, {"db_password", true},
	{"passwd", true}, {"pwd", true}, {"mysql_pwd", true}, {"pw", true}, {"db_pass", true},
	{"passphrase", true}, {"passcode", true}, {"secret", true}, {"client_secret", true},
	{"Client-Secret", true}, {"webhook_secret", true}, {"token", true}, {"accessToken", true},
	{"access_token", true}, {"refresh_token", true}, {"auth_token", true}, {"AuthToken", true},
	{"X-Auth-Token", true}, {"x-amz-security-token", true}, {"csrf_token", true},
	{"id_token", true}, {"api_token", true}, {"GITHUB_TOKEN", true}, {"private-token", true},
	{"credentials", true}, {"credential", true}, {"creds", true}, {"authorization", true},
	{"Proxy-Authorization", true}, {"cookie", true}, {"Set-Cookie", true}, {"cookies", true},
	{"otp", true}, {"password2", true}, {"secrets", true},
	// key pairs and stems
	{"api_key", true}, {"apiKey", true}, {"APIKey", true}, {"apikey", true}, {"x-api-key", true},
	{"X-API-KEY", true}, {"x-apikey", true}, {"OPENAI_API_KEY", true}, {"secretAccessKey", true},
	{"aws_secret_access_key", true}, {"access_key", true}, {"private_key", true},
	{"privateKey", true}, {"ssh_private_key", true}, {"secret_key", true}, {"signing_key", true},
	{"encryption_key", true}, {"master_key", true}, {"AccountKey", true}, {"hmac_key", true},
	{"client_key", true}, {"session_key", true}, {"app_key", true}, {"api_keys", true},
	{"secretaccesskey", true}, {"xauthtoken", true}, {"clientsecret", true},
	{"pgpassword", true}, {"sessionid", true}, {"session_id", true}, {"sessionId", true},
	{"JSESSIONID", true}, {"PHPSESSID", false}, // ends in the stem sessionid; PHPSESSID is for RedactNames
	{"access_tokens", true}, {"refresh_tokens", true}, {"authorization_code", true},
	{"password_hash", true}, {"token_value", true},
	// deliberately not secret: descriptions of a secret
	{"token_id", false}, {"tokenId", false}, {"token_type", false}, {"token_count", false},
	{"max_tokens", false}, {"prompt_tokens", false}, {"completion_tokens", false},
	{"total_tokens", false}, {"tokens", false}, {"num_tokens", false}, {"tokenizer", false},
	{"public_key", false}, {"key_id", false}, {"key", false}, {"keys", false},
	{"secret_id", false}, {"secret_name", false}, {"secretName", false}, {"secret_arn", false},
	{"secret_version", false}, {"secret_ref", false}, {"password_changed_at", false},
	{"passwordChangedAt", false}, {"password_policy", false}, {"password_length", false},
	{"min_password_length", false}, {"password_expires_in", false}, {"password_required", false},
	{"has_password", false}, {"is_secret", false}, {"api_key_id", false}, {"apiKeyName", false},
	{"aws_access_key_id", false}, {"private_key_id", false}, {"credential_type", false},
	{"cookie_name", false}, {"token_url", false}, {"token_endpoint", false},
	{"token_last4", false}, {"token_expires", false}, {"token_prefix", false},
	{"key_fingerprint", false}, {"secret_count", false}, {"auth", false}, {"auth_type", false},
	{"authn_method", false}, {"signature", false}, {"x-hub-signature-256", false},
	{"session", false}, {"passwordless", false}, {"passport_number", false}, {"bypass", false},
	{"compass", false}, {"dsn", false}, {"name", false}, {"value", false}, {"type", false},
	{"version", false}, {"cluster", false}, {"correlation_id", false}, {"", false}, {"p", false},
}

func TestSecretNames(t *testing.T) {
	for _, c := range secretNameCases {
		assert.Equal(t, c.secret, isSecretName(c.name), "%q", c.name)
	}
}

func TestSecretNameLong(t *testing.T) {
	// A long name is judged by its head and its tail.
	assert.True(t, isSecretName(strings.Repeat("x_", 300)+"password"))
	assert.True(t, isSecretName("password_"+strings.Repeat("x", 600)))
	assert.False(t, isSecretName(strings.Repeat("name_", 200)))
	// More words than are kept: the last one still decides.
	assert.False(t, isSecretName(strings.Repeat("a_", 40)+"password_id"))
	assert.True(t, isSecretName(strings.Repeat("a_", 40)+"password"))
}

func TestSecretWordLists(t *testing.T) {
	// Every listed secret word and stem is secret alone and in any
	// spelling; every name qualified by a listed last word is not.
	for _, w := range append(append([]string{}, secretWords...), secretStems...) {
		assert.True(t, isSecretName(w), w)
		assert.True(t, isSecretName(strings.ToUpper(w)), w)
		assert.True(t, isSecretName("my-"+w), w)
		for _, last := range notSecretLast {
			assert.False(t, isSecretName(w+"_"+last), w+"_"+last)
		}
		for _, first := range notSecretFirst {
			assert.False(t, isSecretName(first+"_"+w), first+"_"+w)
		}
	}
	for _, f := range keyPairFirst {
		assert.True(t, isSecretName(f+"_key"), f)
		assert.True(t, isSecretName(f+"Keys"), f)
	}
	for _, f := range tokensPairFirst {
		assert.True(t, isSecretName(f+"-tokens"), f)
	}
	for _, a := range secretAtoms {
		assert.True(t, mayBeSecret(a), a)
		assert.True(t, letterMask(a)&rareLetters != 0 || a == "session", a)
	}
}

// docs/EVENTS.md lists every word, stem, pair word, mapping and credential
// rule the code uses.
func TestEventsDocIsComplete(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "EVENTS.md"))
	require.NoError(t, err)
	d := string(doc)
	for _, list := range [][]string{secretWords, secretStems, keyPairFirst, tokensPairFirst, notSecretFirst, notSecretLast, ActorTypes, Categories} {
		for _, w := range list {
			assert.Contains(t, d, "`"+w+"`", w)
		}
	}
	for _, m := range []map[string]string{DefaultCategoryMap(), DefaultActorTypeMap()} {
		for k := range m {
			assert.Contains(t, d, "`"+k+"`", k)
		}
	}
	for _, r := range keyRules {
		assert.Contains(t, d, "`"+r.id+"`", r.id)
	}
	for _, s := range []string{"ok", "succeeded", "successful", "allowed", "allow", "pass", "passed", "failed", "fail", "error", "denied", "deny", "rejected", "forbidden"} {
		o, ok := canonicalOutcome(s)
		require.True(t, ok, s)
		assert.Contains(t, d, "`"+s+"`", o)
	}
	for _, a := range []string{AttrDuplicateKeys, AttrNumbersAsString, AttrTimeInput, AttrCategoryInput, AttrActorTypeInput, AttrOutcomeInput, AttrUnparsedDocuments} {
		assert.Contains(t, d, "`"+a+"`", a)
	}
}
