package app

import (
	"fmt"
	"io"

	"handoff/flow"
)

// PrintProviders writes the provider presets, one a line, for -providers.
func PrintProviders(w io.Writer) {
	for _, name := range flow.PresetNames() {
		p, _ := flow.LookupPreset(name)
		refresh := p.RefreshEndpoint
		if refresh == "" {
			refresh = "-"
		}
		auth := map[flow.AuthStyle]string{flow.AuthPost: "post", flow.AuthBasic: "basic", flow.AuthAuto: "auto"}[p.AuthStyle]
		body := map[flow.BodyFormat]string{flow.BodyForm: "form", flow.BodyJSON: "json"}[p.BodyFormat]
		fmt.Fprintf(w, "%-10s authorize=%s token=%s refresh=%s auth=%s body=%s pkce=%t params=%s\n",
			name, p.AuthorizeEndpoint, p.TokenEndpoint, refresh, auth, body, p.PKCE, p.AuthorizeParams)
	}
}
