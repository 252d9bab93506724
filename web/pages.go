package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"strings"
)

//go:embed assets
var assets embed.FS

// Pages are parsed once at start-up. Their only style and script are inline
// and allowed by hash, so the Content-Security-Policy can forbid everything
// else: nothing is loaded from anywhere.
var (
	style      = mustRead("assets/style.css")
	demoScript = mustRead("assets/demo.js")
	pageTmpl   = template.Must(template.ParseFS(assets, "assets/page.html"))
	demoTmpl   = template.Must(template.ParseFS(assets, "assets/demo.html"))

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

// page is the data of one result page.
type page struct {
	Outcome string // machine-readable, for tests and support
	OK      bool
	Title   string
	Message string
	Detail  string // shown as text, escaped
	Style   template.CSS
}

var (
	pageAuthenticated = page{Outcome: "authenticated", OK: true, Title: "You're authenticated",
		Message: "You're authenticated — you can close this window and return to Framer."}
	pageInvalidLink = page{Outcome: "invalid", Title: "This login link is invalid or expired",
		Message: "This login link is invalid or has expired. Close this window and start the login again from the plugin."}
	pageCancelled = page{Outcome: "cancelled", Title: "Login cancelled",
		Message: "The login was cancelled or refused at the provider. Close this window and try again from the plugin if you want to log in."}
	pageProviderFailed = page{Outcome: "provider_error", Title: "The login could not be completed",
		Message: "The provider did not accept the login. Close this window and start the login again from the plugin."}
	pageProviderTimeout = page{Outcome: "provider_timeout", Title: "The provider did not answer",
		Message: "The provider took too long to answer. Close this window and start the login again from the plugin."}
	pageOwnerGone = page{Outcome: "restarted", Title: "Please start the login again",
		Message: "The server handling this login restarted. Close this window and start the login again from the plugin."}
	// pageBusy: the login link is still unused (flow spends it only once a
	// call to the provider may start), so a reload completes the login.
	pageBusy = page{Outcome: "busy", Title: "Busy — reload in a moment",
		Message: "Too many logins are being completed right now. Reload this page in a moment to finish logging in."}
	pageBadRequest = page{Outcome: "bad_request", Title: "The login could not be completed",
		Message: "The provider sent back an incomplete answer. Close this window and start the login again from the plugin."}
)
