package flow

import "strings"

// redirectError reads the error a provider sent the user back with
// (docs/protocol.md#redirect). access_denied is a cancellation: the user
// declined. Any other code is the provider refusing the login, and is never
// described as a cancellation: a scope the provider does not allow must not
// tell the user they cancelled. The provider's error_description is kept,
// bounded, once: in ProviderSaid for the page, and at the end of the
// description /poll reports.
func redirectError(code, said string) *Error {
	said = truncate(strings.TrimSpace(said), 300)
	if code == "access_denied" {
		desc := said
		if desc == "" {
			desc = "the login was cancelled at the provider"
		}
		return &Error{Kind: KindCancelled, Code: code, Description: desc, ProviderSaid: said}
	}
	var desc string
	if ValidErrorCode(code) {
		desc = "the provider refused the login (" + code + ")"
	} else {
		// Not a code that can be passed on (quotes, control characters,
		// a page of text): the provider failed, as in errorCode.
		code = "server_error"
		desc = "the provider refused the login with an error code that is not an OAuth error code"
	}
	hint := redirectHints[code]
	if hint != "" {
		desc += ": " + hint
	}
	if said != "" {
		desc += "; the provider said: " + said
	}
	return &Error{Kind: KindRefused, Code: code, Description: desc, Hint: hint, ProviderSaid: said}
}

// redirectHints say what a provider's error code at the redirect means,
// for whoever set up the app (RFC 6749 §4.1.2.1, OpenID Connect Core
// §3.1.2.6). The first four mean the app is misconfigured; the user cannot
// fix them.
var redirectHints = map[string]string{
	"invalid_scope":             "the app asks for a scope the provider does not allow: check SCOPE, and the scopes enabled for the app in the provider's console",
	"unauthorized_client":       "the app is not allowed to log users in this way (the authorization code grant): check the app's settings in the provider's console",
	"invalid_request":           "the login request was malformed: check CLIENT_ID, and that REDIRECT_URI is registered at the provider exactly as set",
	"unsupported_response_type": "the provider does not give this app authorization codes: check the app's settings in the provider's console",
	"server_error":              "the provider had an error of its own: try again in a moment",
	"temporarily_unavailable":   "the provider is overloaded or down for maintenance: try again in a moment",
	"login_required":            "the provider needs the user to log in, which prompt=none forbids: start the login again without it",
	"consent_required":          "the provider needs the user's consent, which prompt=none forbids: start the login again without it",
	"interaction_required":      "the provider needs the user to act, which prompt=none forbids: start the login again without it",
}

// exchangeHint says what the provider's refusal of a code exchange means for
// the app's setup, when it says something: a refused client is a wrong
// secret, not the user's doing.
func exchangeHint(code string) string {
	switch code {
	case "invalid_client":
		return "the provider refused the app's credentials: check CLIENT_ID, CLIENT_SECRET and TOKEN_AUTH_STYLE"
	case "unauthorized_client":
		return "the app is not allowed the authorization code grant: check the app's settings in the provider's console"
	case "unsupported_grant_type", "invalid_request":
		return "the provider refused the token request: check TOKEN_ENDPOINT (or PROVIDER) and TOKEN_AUTH_STYLE"
	}
	return ""
}
