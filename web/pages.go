package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"strings"

	"handoff/internal/pagestyle"
)

//go:embed assets
var assets embed.FS

// Pages are parsed once at start-up. Their only style and script are inline
// and allowed by hash, so the Content-Security-Policy can forbid everything
// else: nothing is loaded from anywhere.
var (
	style      = pagestyle.CSS
	demoScript = mustRead("assets/demo.js")
	pageTmpl   = template.Must(template.ParseFS(assets, "assets/page.html", "assets/head.html"))
	demoTmpl   = template.Must(template.ParseFS(assets, "assets/demo.html", "assets/head.html"))

	pageCSP = "default-src 'none'; style-src '" + hash(style) + "'; img-src data:; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	demoCSP = "default-src 'none'; style-src '" + hash(style) + "'; script-src '" + hash(demoScript) + "'; " +
		"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// page is the data of one result page. Title says what happened, Message
// what to do next; each is said once.
type page struct {
	Outcome string // machine-readable, for tests and support
	OK      bool
	Title   string
	Message string
	// Code is an OAuth error code and Hint what it means for the app's
	// setup (from flow), shown when there is one.
	Code string
	Hint string
	// Detail is the provider's own description, shown once as escaped
	// text, introduced by DetailFrom ("Notion said:").
	Detail     string
	DetailFrom string
	Style      template.CSS
}

// appPages are the pages of one app's redirect route, worded with its
// plugin's name (PLUGIN_NAME) and its provider's (the preset's), or
// generically without them (docs/protocol.md#redirect).
type appPages struct {
	plugin, provider string

	authenticated, invalidLink, cancelled, refused, providerRejected, providerFailed,
	providerTimeout, ownerGone, busy, badRequest, slowDown page

	// rendered holds the HTML of the pages that carry nothing from the
	// request or the provider, rendered once when the app is mounted:
	// executing the template was an eighth of the server's time in a whole
	// login. Pages with a code or the provider's words are rendered each
	// time (they are rare, and a cache keyed by what a provider sends
	// would grow without bound). Read-only after newAppPages.
	rendered map[page][]byte
}

func newAppPages(plugin, provider string) *appPages {
	ps := &appPages{plugin: plugin, provider: provider}
	// The phrases each page is made of, named or generic.
	thePlugin, theProvider, TheProvider := "the plugin", "the provider", "The provider"
	notConnected, NotConnected := "nothing was connected", "Nothing was connected"
	if plugin != "" {
		// A name is written as given, even at the start of a sentence
		// ("iPhone Sync").
		thePlugin, notConnected = plugin, plugin+" is not connected"
		NotConnected = notConnected
	}
	if provider != "" {
		theProvider, TheProvider = provider, provider
	}
	startAgain := "Close this window and start the login again from " + thePlugin + "."

	ps.authenticated = page{Outcome: "authenticated", OK: true, Title: successTitle(plugin, provider),
		Message: "You can close this window and return to Framer."}
	ps.invalidLink = page{Outcome: "invalid", Title: "This login link is invalid or expired",
		Message: "It was used already or is too old, so " + notConnected + ". " + startAgain}
	ps.cancelled = page{Outcome: "cancelled", Title: "Login cancelled",
		Message: "The login was cancelled at " + theProvider + ", so " + notConnected +
			". Close this window; you can start again from " + thePlugin + "."}
	ps.refused = page{Outcome: "refused", Title: TheProvider + " refused the login",
		Message: NotConnected + ". Close this window and try again from " + thePlugin +
			"; if the same error comes back, send what this page says to the developer of " + thePlugin + "."}
	ps.providerRejected = page{Outcome: "provider_error", Title: "The login could not be completed",
		Message: TheProvider + " refused to complete the login, so " + notConnected + ". " + startAgain}
	ps.providerFailed = page{Outcome: "provider_error", Title: "The login could not be completed",
		Message: TheProvider + " had a problem completing the login, so " + notConnected + ". " + startAgain}
	ps.providerTimeout = page{Outcome: "provider_timeout", Title: TheProvider + " did not answer",
		Message: TheProvider + " took too long to answer, so " + notConnected + ". " + startAgain}
	ps.ownerGone = page{Outcome: "restarted", Title: "Please start the login again",
		Message: "The server handling this login restarted, so " + notConnected + ". " + startAgain}
	// busy: the login link is still unused (flow spends it only once a
	// call to the provider may start), so a reload completes the login.
	ps.busy = page{Outcome: "busy", Title: "Busy — reload in a moment",
		Message: "Too many logins are being completed right now. Reload this page in a moment to finish logging in."}
	ps.badRequest = page{Outcome: "bad_request", Title: "The login could not be completed",
		Message: TheProvider + " sent back no authorization code, so " + notConnected + ". " + startAgain}
	ps.slowDown = page{Outcome: "slow_down", Title: "Too many requests",
		Message: "Too many logins from this address, so " + notConnected + ". Wait a minute, then start the login again from " + thePlugin + "."}

	ps.rendered = map[page][]byte{}
	for _, p := range []*page{&ps.authenticated, &ps.invalidLink, &ps.cancelled, &ps.refused, &ps.providerRejected,
		&ps.providerFailed, &ps.providerTimeout, &ps.ownerGone, &ps.busy, &ps.badRequest, &ps.slowDown} {
		p.Style = asCSS(style)
		if p.DetailFrom == "" {
			p.DetailFrom = TheProvider + " said:"
		}
		if p == &ps.refused {
			continue // always carries the provider's code
		}
		var buf bytes.Buffer
		if err := pageTmpl.Execute(&buf, p); err != nil {
			panic(err) // the template and its data are the binary's own
		}
		ps.rendered[*p] = buf.Bytes()
	}
	return ps
}

// successTitle is the success page's title: "Acme Sync is now connected to
// Notion", with what is known of the two names.
func successTitle(plugin, provider string) string {
	switch {
	case plugin != "" && provider != "":
		return plugin + " is now connected to " + provider
	case plugin != "":
		return plugin + " is now connected"
	case provider != "":
		return "You're authenticated with " + provider
	}
	return "You're authenticated"
}

// html is p's page, rendered once if it can be.
func (ps *appPages) html(p page) ([]byte, error) {
	if b, ok := ps.rendered[p]; ok {
		return b, nil
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
