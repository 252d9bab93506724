package flow

import "fmt"

// Kind classifies why a step of the flow did not succeed. The web layer maps
// each Kind to one HTTP status, in one place.
type Kind int

const (
	// KindInvalidRequest: a parameter is missing or is not something this
	// server issued (a forged read key, a missing refresh token).
	KindInvalidRequest Kind = iota + 1
	// KindInvalidState: the state at the redirect is missing, forged,
	// expired or already used. Nothing was sent to the provider.
	KindInvalidState
	// KindPending: the login has not finished yet; poll again.
	KindPending
	// KindGone: the login is over without tokens for this caller; stop
	// polling. Code says why.
	KindGone
	// KindSlowDown: this read key is polled too often.
	KindSlowDown
	// KindCancelled: the provider sent the user back with access_denied:
	// the user declined (or the provider denied the request).
	KindCancelled
	// KindProviderRejected: the provider answered the token request with an
	// OAuth error (4xx, or a 200 that carries one).
	KindProviderRejected
	// KindProviderFailed: the provider failed (5xx, unreachable, an answer
	// that is not a token response, or too large).
	KindProviderFailed
	// KindProviderTimeout: the provider did not answer in time.
	KindProviderTimeout
	// KindElsewhere: another machine owns this login; replay the request there.
	KindElsewhere
	// KindOwnerGone: another machine owned this login and cannot be reached.
	KindOwnerGone
	// KindBusy: the app's calls to the provider in flight are at their cap
	// (PROVIDER_CONCURRENCY). Nothing was sent and nothing was spent: the
	// same request may be tried again in a moment.
	KindBusy
	// KindRefused: the provider sent the user back with an error other than
	// access_denied (invalid_scope, server_error, …): it refused the login.
	// Hint says what the code means for the app's setup, when it says
	// something.
	KindRefused
	// KindUnsupported: the app cannot do what was asked (a revocation
	// without a revocation endpoint).
	KindUnsupported
)

// Error is what the flow reports to the web layer; Code and Description are
// what the request that failed is answered with. handoff itself puts no
// secret, token, code, state or read key in them, but a Description can
// carry the provider's own text (the error_description of a redirect that
// came back with an error, or of a refused token request): nothing stops a
// provider from quoting there the code or token it refused, so logAttrs
// leaves such a Description out of the logs.
type Error struct {
	Kind        Kind
	Code        string // OAuth error code, e.g. invalid_grant
	Description string
	// Status and Body are the provider's own answer to a refused token
	// request, when it was JSON, so /refresh can pass it on.
	Status int
	Body   []byte
	// Machine is the owner of the login, for KindElsewhere.
	Machine string
	// Hint says what Code means for the app's setup, for whoever runs it
	// ("the app asks for a scope the provider does not allow: check
	// SCOPE"); empty when the code says nothing about the setup.
	Hint string
	// ProviderSaid is the error_description the provider sent the user
	// back with (bounded), for KindCancelled and KindRefused. It is the
	// provider's text: show it escaped, never log it.
	ProviderSaid string
	// Err is the underlying cause, for logs. It never holds a secret.
	Err error
	// codeFromStatus: the provider's refusal carried no code of its own,
	// and Code is what its HTTP status means. Such a code says nothing
	// about how the client authenticated (refusedClient).
	codeFromStatus bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func fail(kind Kind, code, description string) *Error {
	return &Error{Kind: kind, Code: code, Description: description}
}

// logAttrs describes the error for a log line: code, reason, the provider's
// status and the cause when there are any. A description the provider wrote
// is left out: nothing stops a provider from quoting the code or token it
// refused.
func (e *Error) logAttrs() []any {
	attrs := []any{"error", e.Code}
	if e.Body == nil && e.Kind != KindCancelled && e.Kind != KindRefused {
		attrs = append(attrs, "reason", e.Description)
	}
	if e.Status != 0 {
		attrs = append(attrs, "status", e.Status)
	}
	if e.Err != nil {
		attrs = append(attrs, "cause", e.Err.Error())
	}
	return attrs
}
