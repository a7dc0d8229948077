package pipeline

import (
	"strings"
	"unsafe"
)

// Secret member names. A name is split into words (see splitWords) and
// judged by them, so that accessToken, access-token, ACCESS_TOKEN and
// x.access.token are one rule, not four spellings in a list:
//
//  1. a name whose first word says it is a flag or a figure (is, has, max,
//     min, num, total) is not secret: has_password, max_tokens;
//  2. session_id and session_key (and sessionid, sessionkey) are secret;
//  3. a name whose last word (trailing numbers aside) says it describes a
//     secret rather than holds one is not secret: token_id, secret_name,
//     password_changed_at, token_type, api_key_count, password_policy;
//  4. a name with a secret word, or a word that ends in a secret stem
//     (pgpassword, xauthtoken, clientsecret, secretaccesskey), is secret;
//  5. a name with a secret pair of adjacent words (api key, access key,
//     private key, refresh tokens, ...) is secret;
//  6. any other name is not.
//
// The word lists below are the documented vocabulary (docs/EVENTS.md).

// secretWords are words that make a name secret wherever they stand
// (subject to rules 1 and 3).
var secretWords = []string{
	"password", "passwords", "passwd", "pwd", "pw", "pass", "passphrase", "passcode",
	"secret", "secrets", "token", "apikey", "apikeys", "credential", "credentials",
	"creds", "authorization", "cookie", "cookies", "otp",
}

// secretStems make a one-word name secret when it ends with one of them:
// concatenations that the splitter cannot take apart.
var secretStems = []string{
	"password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey",
	"secretkey", "privatekey", "privkey", "signingkey", "encryptionkey", "masterkey",
	"accountkey", "sessionkey", "sessionid", "authkey", "clientkey", "hmackey",
	"credential", "credentials", "cookie", "authorization",
}

// keyPairFirst are the words that make "<word> key(s)" secret.
var keyPairFirst = []string{
	"api", "access", "secret", "private", "priv", "signing", "encryption", "master",
	"account", "session", "auth", "client", "app", "shared", "storage", "admin",
	"root", "service", "hmac",
}

// tokensPairFirst are the words that make "<word> tokens" secret ("tokens"
// alone counts tokens: max_tokens, prompt_tokens).
var tokensPairFirst = []string{
	"access", "refresh", "auth", "api", "bearer", "session", "id", "oauth", "csrf",
	"xsrf", "client", "personal", "private",
}

// notSecretFirst are first words of names that are flags or figures.
var notSecretFirst = []string{"is", "has", "max", "min", "num", "total"}

// notSecretLast are last words of names that describe a secret without
// holding it.
var notSecretLast = []string{
	"id", "ids", "uuid", "arn", "type", "types", "kind", "count", "counts", "name",
	"names", "label", "length", "len", "size", "at", "on", "in", "time", "timestamp",
	"date", "ts", "expiry", "expires", "expire", "expired", "expiration", "ttl", "age",
	"hint", "last", "prefix", "suffix", "fingerprint", "version", "rotated",
	"rotation", "created", "updated", "changed", "enabled", "disabled", "required",
	"present", "exists", "set", "valid", "policy", "strength", "scope", "scopes",
	"url", "uri", "endpoint", "file", "path", "ref", "location", "provider",
	"source", "format", "algorithm", "alg", "status", "state", "mode", "method",
	"usage", "limit", "index",
}

// Word flags: what a word is in the lists above.
const (
	wfSecret = 1 << iota
	wfKeyPairFirst
	wfTokensPairFirst
	wfNotFirst
	wfNotLast
	wfStem // a secret stem itself
)

// wordFlags holds every listed word with its flags: one map look-up per
// word judges it.
var wordFlags = func() map[string]uint8 {
	m := map[string]uint8{}
	for _, l := range []struct {
		words []string
		flag  uint8
	}{
		{secretWords, wfSecret}, {keyPairFirst, wfKeyPairFirst}, {tokensPairFirst, wfTokensPairFirst},
		{notSecretFirst, wfNotFirst}, {notSecretLast, wfNotLast}, {secretStems, wfStem},
	} {
		for _, w := range l.words {
			m[w] |= l.flag
		}
	}
	return m
}()

// stemsByLast are secretStems by their last byte.
var stemsByLast = func() (t [256][]string) {
	for _, s := range secretStems {
		t[s[len(s)-1]] = append(t[s[len(s)-1]], s)
	}
	return t
}()

// secretAtoms are letter sequences at least one of which every secret
// name contains (each secret word, stem and pair holds one of them).
var secretAtoms = [...]string{"pw", "pass", "secret", "token", "key", "cred", "authorization", "cookie", "otp", "session"}

// atomMasks are the letter sets of secretAtoms: a name whose letters
// include none of these sets cannot be secret, which most names show in
// one pass over their bytes.
var atomMasks = func() (ms [len(secretAtoms)]uint32) {
	for i, a := range secretAtoms {
		ms[i] = letterMask(a)
	}
	return ms
}()

// rareLetters holds a letter of every atom but "session" (p, c, k, z), whose
// letters are sessionLetters: a name with none of them holds no atom.
var (
	rareLetters    = letterMask("pckz")
	sessionLetters = letterMask("session")
)

// letterBits maps each ASCII letter (either case) to its bit.
var letterBits = func() (t [256]uint32) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1 << (c - 'a')
		t[c-'a'+'A'] = 1 << (c - 'a')
	}
	return t
}()

// letterMask returns the set of ASCII letters in s, case folded, as bits.
func letterMask(s string) uint32 {
	var m uint32
	for i := 0; i < len(s); i++ {
		m |= letterBits[s[i]]
	}
	return m
}

// mayBeSecret reports whether name holds one of secretAtoms (ASCII case
// aside), which every secret name does: its words are parts of it. The
// letter sets rule most names out in one pass.
func mayBeSecret(name string) bool {
	m := letterMask(name)
	if m&rareLetters == 0 && m&sessionLetters != sessionLetters {
		return false // the usual name: one test
	}
	for i := range atomMasks {
		if am := atomMasks[i]; m&am == am && containsFold(name, secretAtoms[i]) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ASCII case aside.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && s[i+j]|0x20 == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// maxNameWords bounds the words looked at in one name; a name with more
// is judged by its first maxNameWords-1 words and its last one.
const maxNameWords = 24

// wordSpan is one word of a name: buf[start:end] of the lower-cased name.
type wordSpan struct{ start, end uint16 }

// maxSplitName is the longest name split in a buffer on the stack; a
// longer name is judged by its first and last maxSplitName/2 bytes.
const maxSplitName = 256

// byte classes for splitting names.
const (
	chSep = iota
	chLower
	chUpper
	chDigit
)

var nameClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = chLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = chUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = chDigit
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = chLower // non-ASCII letters stay inside their word
	}
	return t
}()

// splitWords lower-cases name into buf and returns its words: runs of
// letters and digits, split at any other byte, between a lower-case
// letter and an upper-case one (accessToken), before the last capital of
// a capital run followed by a lower-case letter (XAuthToken: x, auth,
// token; APIKey: api, key), and between letters and digits (oauth2Token:
// oauth, 2, token).
func splitWords(name string, buf []byte, words []wordSpan) ([]byte, []wordSpan) {
	buf = buf[:0]
	words = words[:0]
	start := -1
	prev := uint8(chSep)
	for i := 0; i < len(name); i++ {
		c := name[i]
		cl := nameClass[c]
		if cl == chSep {
			if start >= 0 {
				words = addWord(words, start, len(buf))
				start = -1
			}
			prev = chSep
			continue
		}
		boundary := start < 0
		if !boundary {
			switch {
			case cl == chUpper && prev == chLower,
				cl == chDigit && prev != chDigit,
				cl != chDigit && prev == chDigit:
				boundary = true
			case cl == chLower && prev == chUpper && len(buf)-start > 1:
				// "XAuth": the capital before this letter starts a word.
				words = addWord(words, start, len(buf)-1)
				start = len(buf) - 1
			}
		}
		if boundary {
			if start >= 0 {
				words = addWord(words, start, len(buf))
			}
			start = len(buf)
		}
		if cl == chUpper {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
		prev = cl
	}
	if start >= 0 {
		words = addWord(words, start, len(buf))
	}
	return buf, words
}

func addWord(words []wordSpan, start, end int) []wordSpan {
	if len(words) == maxNameWords {
		words[maxNameWords-1] = wordSpan{uint16(start), uint16(end)}
		return words
	}
	return append(words, wordSpan{uint16(start), uint16(end)})
}

func isDigits(b string) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func hasStem(w string) bool {
	if w == "" {
		return false
	}
	for _, s := range stemsByLast[w[len(w)-1]] {
		if strings.HasSuffix(w, s) {
			return true
		}
	}
	return false
}

// isSecretName reports whether a member named name holds a secret, by the
// rules at the top of this file.
func isSecretName(name string) bool {
	if len(name) < 2 || !mayBeSecret(name) {
		return false
	}
	if len(name) > maxSplitName {
		// Judge the head and the tail: a secret word at either end counts.
		return isSecretName(name[:maxSplitName/2]) || isSecretName(name[len(name)-maxSplitName/2:])
	}
	var bufArr [maxSplitName]byte
	var wordsArr [maxNameWords]wordSpan
	buf, words := splitWords(name, bufArr[:0], wordsArr[:0])
	return secretWordsRule(buf, words)
}

func secretWordsRule(buf []byte, words []wordSpan) bool {
	w := func(i int) string {
		b := buf[words[i].start:words[i].end]
		return unsafe.String(unsafe.SliceData(b), len(b)) // buf outlives the call
	}
	last := len(words) - 1
	for last >= 0 && isDigits(w(last)) {
		last--
	}
	if last < 0 {
		return false
	}
	var flags [maxNameWords]uint8
	for i := 0; i <= last; i++ {
		flags[i] = wordFlags[w(i)]
	}
	// 1. flags and figures
	if last > 0 && flags[0]&wfNotFirst != 0 {
		return false
	}
	// 2. session id / session key
	if last > 0 && w(last-1) == "session" {
		switch w(last) {
		case "id", "ids", "key", "keys":
			return true
		}
	}
	// 3. describes a secret without holding it
	if flags[last]&wfNotLast != 0 {
		return false
	}
	// 4. secret words and stems
	for i := 0; i <= last; i++ {
		if flags[i]&(wfSecret|wfStem) != 0 || hasStem(w(i)) {
			return true
		}
	}
	// 5. secret pairs
	for i := 1; i <= last; i++ {
		switch w(i) {
		case "key", "keys":
			if flags[i-1]&wfKeyPairFirst != 0 {
				return true
			}
		case "tokens":
			if flags[i-1]&wfTokensPairFirst != 0 {
				return true
			}
		}
	}
	return false
}

// foldName appends name lower-cased with '-' taken as '_': the form in
// which configured names (Options.RedactNames) are compared.
func foldName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}
