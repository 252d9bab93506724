package app

import (
	"fmt"
	"io"
	"strings"

	"handoff/flow"
	"handoff/internal/config"
)

// PrintProviders writes the provider presets for -providers: for each, a
// line with its name, then its URLs, how handoff talks to it, the variables
// it needs and its local redirect note, indented. docs/providers.md has the
// same presets with their setup notes.
func PrintProviders(w io.Writer) {
	auth := map[flow.AuthStyle]string{flow.AuthPost: "post", flow.AuthBasic: "basic", flow.AuthAuto: "auto"}
	body := map[flow.BodyFormat]string{flow.BodyForm: "form", flow.BodyJSON: "json"}
	for i, name := range flow.PresetNames() {
		p, _ := flow.LookupPreset(name)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s)\n", name, p.Name)
		line := func(key, value string) {
			if value != "" {
				fmt.Fprintf(w, "    %-10s %s\n", key, value)
			}
		}
		line("authorize", p.AuthorizeEndpoint)
		line("token", p.TokenEndpoint)
		line("refresh", or(p.RefreshEndpoint, "(the token endpoint)"))
		line("revoke", or(p.RevokeEndpoint, "(none)"))
		pkce := map[bool]string{true: "S256", false: "off"}[p.PKCE]
		scopes := map[string]string{"": "space", " ": "space", ",": "comma"}[p.ScopeSeparator]
		line("client", fmt.Sprintf("auth=%s body=%s pkce=%s scopes=%s-separated", auth[p.AuthStyle], body[p.BodyFormat], pkce, scopes))
		line("params", p.AuthorizeParams)
		line("token+", p.TokenParams)
		for _, v := range p.Vars {
			line("per login", fmt.Sprintf("%s, matching %s: POST /authorize?%s=…", v.Name, v.Pattern, v.Name))
		}
		if strings.Contains(p.AuthorizeEndpoint+p.TokenEndpoint+p.RefreshEndpoint, config.TenantPlaceholder) {
			line("per app", fmt.Sprintf("TENANT fills %s (default %s); a single-tenant app must set it",
				config.TenantPlaceholder, config.TenantDefault))
		}
		line("tokens at", p.TokensAt)
		line("api", strings.Join(p.APIOrigins, " "))
		line("local", p.LocalRedirect)
		line("docs", p.Docs)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
