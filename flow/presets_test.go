package flow

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The providers issue #5 asks for; more may be added, none removed.
var requiredPresets = []string{
	"airtable", "dropbox", "figma", "github", "google", "hubspot",
	"linear", "microsoft", "notion", "slack", "spotify",
}

// Parameters handoff itself puts on the authorize URL; a preset must not set
// them through AuthorizeParams.
var reservedAuthorizeParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state",
	"code_challenge", "code_challenge_method",
}

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
			checkHTTPSURL(t, "AuthorizeEndpoint", p.AuthorizeEndpoint)
			checkHTTPSURL(t, "TokenEndpoint", p.TokenEndpoint)
			if p.RefreshEndpoint != "" {
				checkHTTPSURL(t, "RefreshEndpoint", p.RefreshEndpoint)
			}
			if p.Docs == "" {
				t.Error("Docs is empty")
			} else {
				checkHTTPSURL(t, "Docs", p.Docs)
			}
			q, err := url.ParseQuery(p.AuthorizeParams)
			if err != nil {
				t.Errorf("AuthorizeParams %q: %v", p.AuthorizeParams, err)
			}
			for _, k := range reservedAuthorizeParams {
				if q.Has(k) {
					t.Errorf("AuthorizeParams sets %q, which handoff sets itself", k)
				}
			}
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

// The quirks each provider documents (docs/protocol.md#talking-to-the-provider). A change here must
// come with a change to docs/providers.md and a look at the provider's docs.
func TestPresetQuirks(t *testing.T) {
	type want struct {
		auth    AuthStyle
		body    BodyFormat
		pkce    bool
		sep     string
		params  string
		refresh string
		host    string // host of TokenEndpoint
	}
	cases := map[string]want{
		"google":    {AuthPost, BodyForm, true, "", "access_type=offline&prompt=consent", "", "oauth2.googleapis.com"},
		"github":    {AuthPost, BodyForm, true, "", "", "", "github.com"},
		"notion":    {AuthBasic, BodyJSON, false, "", "owner=user", "", "api.notion.com"},
		"hubspot":   {AuthPost, BodyForm, true, "", "", "", "api.hubapi.com"},
		"airtable":  {AuthBasic, BodyForm, true, "", "", "", "airtable.com"},
		"dropbox":   {AuthBasic, BodyForm, true, "", "token_access_type=offline", "", "api.dropboxapi.com"},
		"slack":     {AuthBasic, BodyForm, false, ",", "", "", "slack.com"},
		"microsoft": {AuthPost, BodyForm, true, "", "", "", "login.microsoftonline.com"},
		"linear":    {AuthPost, BodyForm, true, ",", "", "", "api.linear.app"},
		"figma":     {AuthBasic, BodyForm, false, "", "", "https://api.figma.com/v1/oauth/refresh", "api.figma.com"},
		"spotify":   {AuthBasic, BodyForm, false, "", "", "", "accounts.spotify.com"},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			p, ok := presets[name]
			if !ok {
				t.Fatalf("preset %q is missing", name)
			}
			if p.AuthStyle != w.auth {
				t.Errorf("AuthStyle = %d, want %d", p.AuthStyle, w.auth)
			}
			if p.BodyFormat != w.body {
				t.Errorf("BodyFormat = %d, want %d", p.BodyFormat, w.body)
			}
			if p.PKCE != w.pkce {
				t.Errorf("PKCE = %v, want %v", p.PKCE, w.pkce)
			}
			if p.ScopeSeparator != w.sep {
				t.Errorf("ScopeSeparator = %q, want %q", p.ScopeSeparator, w.sep)
			}
			if p.AuthorizeParams != w.params {
				t.Errorf("AuthorizeParams = %q, want %q", p.AuthorizeParams, w.params)
			}
			if p.RefreshEndpoint != w.refresh {
				t.Errorf("RefreshEndpoint = %q, want %q", p.RefreshEndpoint, w.refresh)
			}
			if u, _ := url.Parse(p.TokenEndpoint); u == nil || u.Host != w.host {
				t.Errorf("TokenEndpoint %q, want host %q", p.TokenEndpoint, w.host)
			}
		})
	}
	// Microsoft's preset is multi-tenant.
	for _, e := range []string{presets["microsoft"].AuthorizeEndpoint, presets["microsoft"].TokenEndpoint} {
		if !strings.Contains(e, "/common/") {
			t.Errorf("microsoft endpoint %q lacks the common tenant", e)
		}
	}
	// Figma's retired token URL must not come back.
	if strings.Contains(presets["figma"].TokenEndpoint, "www.figma.com") {
		t.Errorf("figma uses the retired token URL %q", presets["figma"].TokenEndpoint)
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

// docs/providers.md is the table of presets (the README links it); it must
// say what the code does.
func TestPresetsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "providers.md"))
	if err != nil {
		t.Fatal(err)
	}
	checkPresetTable(t, "docs/providers.md", string(b), true)
}

func checkPresetTable(t *testing.T, file, b string, withDocs bool) {
	t.Helper()
	rows := map[string][]string{} // main table: name -> cells
	docs := map[string]string{}   // documentation table: name -> URL
	for _, line := range strings.Split(b, "\n") {
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
				t.Errorf("%s lists %q, which is not a preset", file, name)
			}
			continue
		}
		switch len(cells) {
		case 9:
			rows[name] = cells
		case 2:
			docs[name] = cells[1]
		default:
			t.Errorf("%s row for %q has %d cells", file, name, len(cells))
		}
	}
	auth := map[AuthStyle]string{AuthPost: "post", AuthBasic: "basic", AuthAuto: "auto"}
	body := map[BodyFormat]string{BodyForm: "form", BodyJSON: "json"}
	for name, p := range presets {
		c, ok := rows[name]
		if !ok {
			t.Errorf("%s has no row for %q", file, name)
			continue
		}
		refresh := "token"
		if p.RefreshEndpoint != "" {
			refresh = p.RefreshEndpoint
		}
		pkce := "no"
		if p.PKCE {
			pkce = "yes"
		}
		got := []string{c[1], c[2], c[3], c[4], c[5], strings.Fields(c[6] + " x")[0], c[7]}
		want := []string{p.AuthorizeEndpoint, p.TokenEndpoint, refresh, auth[p.AuthStyle], body[p.BodyFormat], pkce, p.AuthorizeParams}
		if !slices.Equal(got, want) {
			t.Errorf("%s row for %q:\n got %q\nwant %q", file, name, got, want)
		}
		if withDocs && docs[name] != p.Docs {
			t.Errorf("docs/providers.md gives %q as %q's documentation, the preset %q", docs[name], name, p.Docs)
		}
	}
}
