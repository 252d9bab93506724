package flow

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The providers issues #5 and #14 ask for; more may be added, none removed.
var requiredPresets = []string{
	"airtable", "dropbox", "figma", "github", "google", "hubspot",
	"linear", "microsoft", "notion", "slack", "spotify",
	"shopify", "atlassian", "salesforce", "zendesk", "x", "linkedin", "canva",
	"miro", "zoom", "discord", "twitch", "asana", "gitlab", "box", "pinterest",
	"typeform", "mailchimp", "calendly", "webflow", "intercom", "reddit", "stripe",
}

// Parameters handoff itself puts on the authorize URL; a preset must not set
// them through AuthorizeParams.
var reservedAuthorizeParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state",
	"code_challenge", "code_challenge_method",
}

// ... nor these in TokenParams.
var reservedTokenParams = []string{
	"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token",
}

// The codes a preset may map a provider's own to: RFC 6749 §5.2's.
var rfc6749Codes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope",
}

// Placeholders a preset's URLs may hold that are not its Vars: internal/
// config's per-app TENANT, and the client id of GitHub's revocation URL.
var placeholdersOutsideVars = map[string]bool{"tenant": true, "client_id": true}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

func checkHTTPSURL(t *testing.T, what, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Errorf("%s %q does not parse: %v", what, raw, err)
		return
	}
	if u.Scheme != "https" || u.Host == "" {
		t.Errorf("%s %q is not an absolute https URL", what, raw)
	}
	if u.User != nil || u.Fragment != "" {
		t.Errorf("%s %q carries user info or a fragment", what, raw)
	}
}

func TestPresetsWellFormed(t *testing.T) {
	for name, p := range presets {
		t.Run(name, func(t *testing.T) {
			if name != strings.ToLower(strings.TrimSpace(name)) || name == "" {
				t.Errorf("preset name %q is not lowercase and trimmed", name)
			}
			if p.Name == "" || strings.TrimSpace(p.Name) != p.Name {
				t.Errorf("Name %q", p.Name)
			}
			vars := map[string]bool{}
			for _, v := range p.Vars {
				if !regexp.MustCompile(`^[a-z][a-z_]*$`).MatchString(v.Name) || vars[v.Name] || placeholdersOutsideVars[v.Name] {
					t.Errorf("Vars: name %q", v.Name)
				}
				vars[v.Name] = true
				if _, err := regexp.Compile("^(?:" + v.Pattern + ")$"); err != nil || v.Pattern == "" {
					t.Errorf("Vars: %s's pattern %q: %v", v.Name, v.Pattern, err)
				}
			}
			used := map[string]bool{}
			for what, e := range map[string]string{"AuthorizeEndpoint": p.AuthorizeEndpoint, "TokenEndpoint": p.TokenEndpoint,
				"RefreshEndpoint": p.RefreshEndpoint, "RevokeEndpoint": p.RevokeEndpoint} {
				if e == "" {
					if what == "AuthorizeEndpoint" || what == "TokenEndpoint" {
						t.Errorf("%s is empty", what)
					}
					continue
				}
				for _, m := range placeholder.FindAllStringSubmatch(e, -1) {
					used[m[1]] = true
					switch {
					case vars[m[1]]:
					case m[1] == "client_id" && what == "RevokeEndpoint" && p.Revoke == RevokeGitHubGrant:
					case m[1] == "tenant" && what != "RevokeEndpoint":
					default:
						t.Errorf("%s %q: {%s} is not a declared template variable", what, e, m[1])
					}
				}
				// A value matching a Vars pattern makes a host label or a
				// path segment: the URL must parse once filled.
				checkHTTPSURL(t, what, placeholder.ReplaceAllString(e, "x"))
			}
			for name := range vars {
				if !used[name] {
					t.Errorf("Vars declares %s, which no URL uses", name)
				}
			}
			if p.RevokeEndpoint == "" && p.Revoke != RevokeRFC7009 {
				t.Error("a revocation style without a revocation endpoint")
			}
			switch p.Revoke {
			case RevokeRFC7009:
			case RevokeGitHubGrant:
				if !strings.Contains(p.RevokeEndpoint, "{client_id}") {
					t.Errorf("RevokeGitHubGrant with %q, which has no {client_id}", p.RevokeEndpoint)
				}
			default:
				t.Errorf("Revoke %d is unknown", p.Revoke)
			}
			checkParams(t, "TokenParams", p.TokenParams, reservedTokenParams)
			if p.TokensAt != "" && !regexp.MustCompile(`^[a-z_]+$`).MatchString(p.TokensAt) {
				t.Errorf("TokensAt %q is not a member name", p.TokensAt)
			}
			for own, code := range p.ErrorCodes {
				if !ValidErrorCode(own) || !slices.Contains(rfc6749Codes, code) {
					t.Errorf("ErrorCodes maps %q to %q, not an RFC 6749 code", own, code)
				}
			}
			for _, o := range p.APIOrigins {
				u, err := url.Parse(o)
				if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
					t.Errorf("APIOrigins: %q is not an https origin", o)
				}
			}
			if p.Docs == "" {
				t.Error("Docs is empty")
			} else {
				checkHTTPSURL(t, "Docs", p.Docs)
			}
			checkParams(t, "AuthorizeParams", p.AuthorizeParams, reservedAuthorizeParams)
			if p.ScopeSeparator != "" && p.ScopeSeparator != "," && p.ScopeSeparator != " " {
				t.Errorf("ScopeSeparator %q is neither space nor comma", p.ScopeSeparator)
			}
			switch p.AuthStyle {
			case AuthPost, AuthBasic, AuthAuto:
			default:
				t.Errorf("AuthStyle %d is unknown", p.AuthStyle)
			}
			switch p.BodyFormat {
			case BodyForm, BodyJSON:
			default:
				t.Errorf("BodyFormat %d is unknown", p.BodyFormat)
			}
		})
	}
}

func TestPresetsRequiredPresent(t *testing.T) {
	for _, name := range requiredPresets {
		if _, ok := presets[name]; !ok {
			t.Errorf("preset %q is missing", name)
		}
	}
}

// Decisions the fakes cannot pin, because the provider's documentation is
// silent and the fake takes either (see the comments in presets.go), and
// facts of issue 14 that must not come back.
func TestPresetDecisions(t *testing.T) {
	figma := presets["figma"]
	if figma.RefreshEndpoint != "" || !figma.PKCE || figma.ScopeSeparator != "," {
		t.Errorf("figma: refresh %q, PKCE %v, separator %q; decided: the token endpoint, on, comma",
			figma.RefreshEndpoint, figma.PKCE, figma.ScopeSeparator)
	}
	if strings.Contains(figma.TokenEndpoint, "www.figma.com") {
		t.Errorf("figma uses the retired token URL %q", figma.TokenEndpoint)
	}
	for _, e := range []string{presets["microsoft"].AuthorizeEndpoint, presets["microsoft"].TokenEndpoint} {
		if !strings.Contains(e, "/{tenant}/") {
			t.Errorf("microsoft endpoint %q has no {tenant}", e)
		}
	}
	if !strings.Contains(presets["spotify"].LocalRedirect, "http://127.0.0.1:") {
		t.Errorf("spotify's local redirect note %q does not say 127.0.0.1", presets["spotify"].LocalRedirect)
	}
	if presets["slack"].TokensAt != "authed_user" {
		t.Errorf("slack: TokensAt %q", presets["slack"].TokensAt)
	}
	if v := presets["shopify"].Vars; len(v) != 1 || v[0].Name != "shop" || v[0].Pattern != `[a-z0-9][a-z0-9-]{0,59}` {
		t.Errorf("shopify: Vars %v", v)
	}
	for name, origin := range map[string]string{"hubspot": "https://api.hubapi.com", "notion": "https://api.notion.com"} {
		if !slices.Contains(presets[name].APIOrigins, origin) {
			t.Errorf("%s: APIOrigins %v lacks %s", name, presets[name].APIOrigins, origin)
		}
	}
	// Presets whose docs are silent on PKCE send none (the fakes take both).
	for _, name := range []string{"notion", "shopify", "atlassian", "miro", "twitch", "box", "pinterest", "typeform", "mailchimp", "webflow", "intercom"} {
		if presets[name].PKCE {
			t.Errorf("%s sends PKCE, which its documentation does not describe", name)
		}
	}
}

func TestLookupPreset(t *testing.T) {
	for _, name := range []string{"google", "Google", "GOOGLE", " google ", "gOoGlE"} {
		p, ok := LookupPreset(name)
		if !ok || p.TokenEndpoint != presets["google"].TokenEndpoint {
			t.Errorf("LookupPreset(%q) = %v, %v", name, p.TokenEndpoint, ok)
		}
	}
	for _, name := range []string{"", "nope", "goog", "google2"} {
		if _, ok := LookupPreset(name); ok {
			t.Errorf("LookupPreset(%q) found a preset", name)
		}
	}
}

// A caller cannot change the presets through what LookupPreset returns.
func TestLookupPresetCopies(t *testing.T) {
	p, _ := LookupPreset("github")
	p.ErrorCodes["bad_verification_code"] = "x"
	q, _ := LookupPreset("shopify")
	q.Vars[0].Pattern = "."
	if presets["github"].ErrorCodes["bad_verification_code"] != "invalid_grant" || presets["shopify"].Vars[0].Pattern == "." {
		t.Error("LookupPreset returns shared maps or slices")
	}
}

func TestPresetNames(t *testing.T) {
	names := PresetNames()
	if len(names) != len(presets) {
		t.Fatalf("PresetNames has %d names, presets has %d", len(names), len(presets))
	}
	if !slices.IsSorted(names) {
		t.Errorf("PresetNames not sorted: %v", names)
	}
	for _, n := range names {
		if _, ok := presets[n]; !ok {
			t.Errorf("PresetNames lists unknown %q", n)
		}
	}
	// The caller may not alter the presets through the slice.
	names[0] = "zzz"
	if PresetNames()[0] == "zzz" {
		t.Error("PresetNames returns shared storage")
	}
}

// docs/providers.md has a row for every preset in each of its tables, and
// its endpoint table says what the code does.
func TestPresetsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "providers.md"))
	if err != nil {
		t.Fatal(err)
	}
	endpoints := map[string][]string{} // name | authorize | token | refresh | revoke | auth | body | PKCE | params
	setup := map[string][]string{}     // name | console | redirect URI | scopes for a refresh token | quirks
	docs := map[string]string{}        // name | documentation
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		name := cells[0]
		if _, ok := presets[name]; !ok {
			if name != "name" {
				t.Errorf("docs/providers.md lists %q, which is not a preset", name)
			}
			continue
		}
		table := map[int]map[string][]string{9: endpoints, 5: setup}[len(cells)]
		switch {
		case table != nil && table[name] == nil:
			table[name] = cells
		case len(cells) == 2 && docs[name] == "":
			docs[name] = cells[1]
		default:
			t.Errorf("docs/providers.md: a row of %d cells for %q, or a second one", len(cells), name)
		}
	}
	auth := map[AuthStyle]string{AuthPost: "post", AuthBasic: "basic", AuthAuto: "auto"}
	body := map[BodyFormat]string{BodyForm: "form", BodyJSON: "json"}
	for name, p := range presets {
		c, ok := endpoints[name]
		if !ok {
			t.Errorf("docs/providers.md has no endpoint row for %q", name)
			continue
		}
		pkce := map[bool]string{true: "yes", false: "no"}[p.PKCE]
		want := []string{p.AuthorizeEndpoint, p.TokenEndpoint, or(p.RefreshEndpoint, "token"), or(p.RevokeEndpoint, "-"),
			auth[p.AuthStyle], body[p.BodyFormat], pkce, p.AuthorizeParams}
		got := []string{c[1], c[2], c[3], c[4], c[5], c[6], strings.Fields(c[7] + " x")[0], c[8]}
		if !slices.Equal(got, want) {
			t.Errorf("docs/providers.md row for %q:\n got %q\nwant %q", name, got, want)
		}
		if c, ok := setup[name]; !ok || c[1] == "" || c[2] == "" || c[3] == "" {
			t.Errorf("docs/providers.md's setup table has no full row for %q", name)
		}
		if docs[name] != p.Docs {
			t.Errorf("docs/providers.md gives %q as %q's documentation, the preset %q", docs[name], name, p.Docs)
		}
	}
}

// checkParams checks a preset's parameters (field names them): a query
// string that sets none of the reserved parameters, which handoff sets
// itself.
func checkParams(t *testing.T, field, raw string, reserved []string) {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Errorf("%s %q: %v", field, raw, err)
	}
	for _, k := range reserved {
		if q.Has(k) {
			t.Errorf("%s sets %q, which handoff sets itself", field, k)
		}
	}
}
