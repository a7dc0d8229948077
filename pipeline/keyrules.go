package pipeline

import (
	"regexp"
	"strings"
)

// keyRule is one well-known credential format: a literal prefix (which
// the scanner looks for at the start of a word) and the RE2 pattern of the
// whole credential, prefix included, matched at that position.
type keyRule struct {
	id      string
	prefix  string
	pattern string
	// fold makes the prefix match ASCII case-insensitively (the pattern
	// says so itself with (?i)).
	fold bool
}

// keyRules are the credential formats redacted wherever they appear. They
// are a curated subset of the rules of gitleaks v8.30.1
// (github.com/zricethezav/gitleaks, config/gitleaks.toml, MIT licence):
// the rules that a fixed prefix identifies, without the keyword context,
// entropy and allow lists that a code scanner needs and that would make
// every string pay. Exact lengths are kept where the format has them;
// a few are loosened to a minimum length (noted), since a redacted
// look-alike costs little and a missed key costs much. The rule ids are
// gitleaks' own, so an update can be checked against its file.
var keyRules = []keyRule{
	{id: "aws-access-token", prefix: "AKIA", pattern: `AKIA[A-Z2-7]{16}`},
	{id: "aws-access-token", prefix: "ASIA", pattern: `ASIA[A-Z2-7]{16}`},
	{id: "aws-access-token", prefix: "ABIA", pattern: `ABIA[A-Z2-7]{16}`},
	{id: "aws-access-token", prefix: "ACCA", pattern: `ACCA[A-Z2-7]{16}`},
	{id: "aws-access-token", prefix: "A3T", pattern: `A3T[A-Z0-9][A-Z2-7]{16}`},
	{id: "github-pat", prefix: "ghp_", pattern: `ghp_[0-9a-zA-Z]{36}`},
	{id: "github-oauth", prefix: "gho_", pattern: `gho_[0-9a-zA-Z]{36}`},
	{id: "github-app-token", prefix: "ghu_", pattern: `ghu_[0-9a-zA-Z]{36}`},
	{id: "github-app-token", prefix: "ghs_", pattern: `ghs_[0-9a-zA-Z]{36}`},
	{id: "github-refresh-token", prefix: "ghr_", pattern: `ghr_[0-9a-zA-Z]{36}`},
	{id: "github-fine-grained-pat", prefix: "github_pat_", pattern: `github_pat_\w{82}`},
	{id: "gitlab-pat", prefix: "glpat-", pattern: `glpat-[\w-]{20}`},
	{id: "gitlab-ptt", prefix: "glptt-", pattern: `glptt-[0-9a-f]{40}`},
	{id: "gitlab-runner-authentication-token", prefix: "glrt-", pattern: `glrt-[0-9a-zA-Z_\-]{20}`},
	{id: "gitlab-deploy-token", prefix: "gldt-", pattern: `gldt-[0-9a-zA-Z_\-]{20}`},
	{id: "slack-bot-token", prefix: "xoxb-", pattern: `xoxb-[0-9]{8,14}-[a-zA-Z0-9-]{10,}`},   // loosened
	{id: "slack-user-token", prefix: "xoxp-", pattern: `xoxp-[0-9]{10,13}-[a-zA-Z0-9-]{10,}`}, // loosened
	{id: "slack-legacy-workspace-token", prefix: "xoxa-", pattern: `xoxa-(?:\d-)?[0-9a-zA-Z]{8,48}`},
	{id: "slack-legacy-workspace-token", prefix: "xoxr-", pattern: `xoxr-(?:\d-)?[0-9a-zA-Z]{8,48}`},
	{id: "slack-legacy-token", prefix: "xoxo-", pattern: `xoxo-\d+-\d+-\d+-[a-fA-F\d]+`},
	{id: "slack-legacy-token", prefix: "xoxs-", pattern: `xoxs-\d+-\d+-\d+-[a-fA-F\d]+`},
	{id: "slack-config-refresh-token", prefix: "xoxe", pattern: `(?i)xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{140,}`, fold: true}, // loosened
	{id: "slack-app-token", prefix: "xapp-", pattern: `(?i)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`, fold: true},
	{id: "slack-webhook-url", prefix: "hooks.slack.com/", pattern: `hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`},
	{id: "gcp-api-key", prefix: "AIza", pattern: `AIza[\w-]{35}`},
	{id: "stripe-access-token", prefix: "sk_", pattern: `sk_(?:test|live|prod)_[a-zA-Z0-9]{10,99}`},
	{id: "stripe-access-token", prefix: "rk_", pattern: `rk_(?:test|live|prod)_[a-zA-Z0-9]{10,99}`},
	{id: "jwt", prefix: "eyJ", pattern: `ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9/\\_-]{17,}\.(?:[a-zA-Z0-9/\\_-]{10,}={0,2})?`},
	{id: "openai-api-key", prefix: "sk-proj-", pattern: `sk-proj-[A-Za-z0-9_-]{20,}`},       // loosened
	{id: "openai-api-key", prefix: "sk-svcacct-", pattern: `sk-svcacct-[A-Za-z0-9_-]{20,}`}, // loosened
	{id: "openai-api-key", prefix: "sk-admin-", pattern: `sk-admin-[A-Za-z0-9_-]{20,}`},     // loosened
	{id: "openai-api-key", prefix: "sk-", pattern: `sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}`},
	{id: "anthropic-api-key", prefix: "sk-ant-", pattern: `sk-ant-(?:api|admin)\d\d-[a-zA-Z0-9_\-]{20,}`}, // loosened
	{id: "huggingface-access-token", prefix: "hf_", pattern: `hf_[a-zA-Z]{34}`},
	{id: "huggingface-organization-api-token", prefix: "api_org_", pattern: `api_org_[a-zA-Z]{34}`},
	{id: "npm-access-token", prefix: "npm_", pattern: `(?i)npm_[a-z0-9]{36}`, fold: true},
	{id: "pypi-upload-token", prefix: "pypi-AgEIcHlwaS5vcmc", pattern: `pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}`},
	{id: "sendgrid-api-token", prefix: "SG.", pattern: `(?i)SG\.[a-z0-9=_\-\.]{66}`},
	{id: "twilio-api-key", prefix: "SK", pattern: `SK[0-9a-fA-F]{32}`},
	{id: "digitalocean-pat", prefix: "dop_v1_", pattern: `dop_v1_[a-f0-9]{64}`},
	{id: "digitalocean-access-token", prefix: "doo_v1_", pattern: `doo_v1_[a-f0-9]{64}`},
	{id: "digitalocean-refresh-token", prefix: "dor_v1_", pattern: `dor_v1_[a-f0-9]{64}`},
	{id: "databricks-api-token", prefix: "dapi", pattern: `dapi[a-f0-9]{32}(?:-\d)?`},
	{id: "doppler-api-token", prefix: "dp.pt.", pattern: `(?i)dp\.pt\.[a-z0-9]{43}`},
	{id: "shopify-access-token", prefix: "shpat_", pattern: `shpat_[a-fA-F0-9]{32}`},
	{id: "shopify-custom-access-token", prefix: "shpca_", pattern: `shpca_[a-fA-F0-9]{32}`},
	{id: "shopify-private-app-access-token", prefix: "shppa_", pattern: `shppa_[a-fA-F0-9]{32}`},
	{id: "shopify-shared-secret", prefix: "shpss_", pattern: `shpss_[a-fA-F0-9]{32}`},
	{id: "vault-service-token", prefix: "hvs.", pattern: `hvs\.[\w-]{90,120}`},
	{id: "vault-batch-token", prefix: "hvb.", pattern: `hvb\.[\w-]{138,300}`},
	{id: "grafana-cloud-api-token", prefix: "glc_", pattern: `glc_[A-Za-z0-9+/]{32,400}={0,3}`},
	{id: "grafana-service-account-token", prefix: "glsa_", pattern: `glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}`},
	{id: "age-secret-key", prefix: "AGE-SECRET-KEY-1", pattern: `AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`},
	{id: "linear-api-key", prefix: "lin_api_", pattern: `(?i)lin_api_[a-z0-9]{40}`},
	{id: "postman-api-token", prefix: "PMAK-", pattern: `(?i)PMAK-[a-f0-9]{24}-[a-f0-9]{34}`},
	{id: "pulumi-api-token", prefix: "pul-", pattern: `pul-[a-f0-9]{40}`},
	{id: "planetscale-api-token", prefix: "pscale_tkn_", pattern: `pscale_tkn_[\w=\.-]{32,64}`},
	{id: "planetscale-oauth-token", prefix: "pscale_oauth_", pattern: `pscale_oauth_[\w=\.-]{32,64}`},
	{id: "planetscale-password", prefix: "pscale_pw_", pattern: `pscale_pw_[\w=\.-]{32,64}`},
	{id: "rubygems-api-token", prefix: "rubygems_", pattern: `rubygems_[a-f0-9]{48}`},
	{id: "sentry-user-token", prefix: "sntryu_", pattern: `sntryu_[a-f0-9]{64}`},
	{id: "sentry-org-token", prefix: "sntrys_", pattern: `sntrys_eyJpYXQiO[a-zA-Z0-9+/]{10,}={0,2}_[a-zA-Z0-9+/]{43}`}, // loosened
	{id: "perplexity-api-key", prefix: "pplx-", pattern: `pplx-[a-zA-Z0-9]{48}`},
	{id: "notion-api-token", prefix: "ntn_", pattern: `ntn_[0-9]{11}[A-Za-z0-9]{35}`},
	{id: "alibaba-access-key-id", prefix: "LTAI", pattern: `(?i)LTAI[a-z0-9]{20}`},
	{id: "square-access-token", prefix: "EAAA", pattern: `EAAA[\w-]{22,60}`},
	{id: "square-access-token", prefix: "sq0atp-", pattern: `sq0atp-[\w-]{22,60}`},
	{id: "facebook-page-access-token", prefix: "EAAM", pattern: `(?i)EAAM[a-z0-9]{100,}`},
	{id: "facebook-page-access-token", prefix: "EAAC", pattern: `(?i)EAAC[a-z0-9]{100,}`},
	{id: "easypost-api-token", prefix: "EZAK", pattern: `(?i)EZAK[a-z0-9]{54}`},
	{id: "easypost-test-api-token", prefix: "EZTK", pattern: `(?i)EZTK[a-z0-9]{54}`},
	{id: "heroku-api-key-v2", prefix: "HRKU-AA", pattern: `HRKU-AA[0-9a-zA-Z_-]{58}`},
	{id: "artifactory-api-key", prefix: "AKCp", pattern: `AKCp[A-Za-z0-9]{69}`},
	{id: "1password-service-account-token", prefix: "ops_eyJ", pattern: `ops_eyJ[a-zA-Z0-9+/]{250,}={0,3}`},
	{id: "flyio-access-token", prefix: "fo1_", pattern: `fo1_[\w-]{43}`},
	{id: "sendinblue-api-token", prefix: "xkeysib-", pattern: `(?i)xkeysib-[a-f0-9]{64}-[a-z0-9]{16}`},
	{id: "infracost-api-token", prefix: "ico-", pattern: `ico-[a-zA-Z0-9]{32}`},
	{id: "prefect-api-token", prefix: "pnu_", pattern: `pnu_[a-zA-Z0-9]{36}`},
	{id: "readme-api-token", prefix: "rdme_", pattern: `rdme_[a-z0-9]{70}`},
}

// compiledKeyRule is a keyRule ready to match at a candidate position.
type compiledKeyRule struct {
	prefix string
	fold   bool
	re     *regexp.Regexp
}

// keyIndex finds the rules whose prefix can start at a position, by the
// position's first two bytes, so that the scanner pays one bit test per
// word start and runs a pattern only where a known prefix stands.
type keyIndex struct {
	pairs [256 * 4]uint64 // bit (b1, b2) set when some rule starts with b1 b2
	first [256][]int      // rules by the first byte of their prefix
	rules []compiledKeyRule
}

func (x *keyIndex) set(b1, b2 byte) { x.pairs[int(b1)<<2|int(b2>>6)] |= 1 << (b2 & 63) }

func (x *keyIndex) maybe(b1, b2 byte) bool {
	return x.pairs[(int(b1)<<2|int(b2>>6))&(len(x.pairs)-1)]&(1<<(b2&63)) != 0
}

// addStart marks a two-byte start that the scanner handles itself
// (Bearer, Basic, PEM), in every letter case for letters.
func (x *keyIndex) addStart(s string, fold bool) {
	for _, a := range cases(s[0], fold) {
		for _, b := range cases(s[1], fold) {
			x.set(a, b)
		}
	}
}

func cases(c byte, fold bool) []byte {
	if !fold {
		return []byte{c}
	}
	switch {
	case c >= 'a' && c <= 'z':
		return []byte{c, c - 'a' + 'A'}
	case c >= 'A' && c <= 'Z':
		return []byte{c, c - 'A' + 'a'}
	}
	return []byte{c}
}

var keys = func() *keyIndex {
	x := &keyIndex{}
	for _, r := range keyRules {
		i := len(x.rules)
		x.rules = append(x.rules, compiledKeyRule{prefix: r.prefix, fold: r.fold, re: regexp.MustCompile(`^(?:` + r.pattern + `)`)})
		x.addStart(r.prefix, r.fold)
		for _, c := range cases(r.prefix[0], r.fold) {
			x.first[c] = append(x.first[c], i)
		}
	}
	x.addStart("be", true) // Bearer
	x.addStart("ba", true) // Basic
	x.addStart("--", false)
	return x
}()

// match returns the end of the credential that starts at s[i:], or -1.
func (x *keyIndex) match(s string, i int) int {
	for _, ri := range x.first[s[i]] {
		r := &x.rules[ri]
		if len(s)-i < len(r.prefix) {
			continue
		}
		p := s[i : i+len(r.prefix)]
		if p != r.prefix && (!r.fold || !strings.EqualFold(p, r.prefix)) {
			continue
		}
		if loc := r.re.FindStringIndex(s[i:]); loc != nil {
			return i + loc[1]
		}
	}
	return -1
}
