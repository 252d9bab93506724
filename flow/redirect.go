package flow

import (
	"context"
	"errors"
	"net/url"
	"time"

	"handoff/internal/metrics"
)

// Callback is what the provider sent back to the redirect URI.
type Callback struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	// ReplayFailed: see PollOptions.
	ReplayFailed bool
}

// Redirect finishes a login. The state is checked before anything else, and
// a state that does not open, has expired or was used before never causes a
// request to the provider. On success the tokens wait for the poll; every
// other end is recorded so the poll reports it. A nil error means tokens are
// stored; an *Error's Kind says what the user should be shown.
func (b *Broker) Redirect(ctx context.Context, cb Callback) error {
	return b.RedirectWith(ctx, cb, nil)
}

// RedirectWith is Redirect with the redirect's other query parameters: a
// provider may send back a template variable's value (Shopify's shop),
// which must match the sealed one (docs/protocol.md#authorize). p is only
// read during the call.
func (b *Broker) RedirectWith(ctx context.Context, cb Callback, p Params) error {
	if cb.State == "" {
		return fail(KindInvalidState, "invalid_request", "the login link has no state")
	}
	st, ok := b.openState(cb.State)
	if !ok {
		b.log.Debug("redirect refused", "reason", "state does not open")
		return fail(KindInvalidState, "invalid_request", "the login link is invalid")
	}
	if b.now().After(st.expires) {
		b.log.Debug("redirect refused", "login", st.id.logRef(), "reason", "state expired")
		b.loginExpired(st.id)
		return fail(KindInvalidState, "expired_token", "the login link has expired")
	}
	if err := b.route(st.readKey, cb.ReplayFailed); err != nil {
		return err
	}
	if err := b.checkEcho(&st, p); err != nil {
		return err
	}
	if cb.Error == "" && cb.Code != "" {
		// The slot is taken before the state is spent: a user sent the
		// busy page reloads it, and the same state and code still work.
		if err := b.acquireProvider(); err != nil {
			return err
		}
		defer b.releaseProvider()
	}
	if !b.spendState(st) {
		b.log.Info("redirect refused", "login", st.id.logRef(), "reason", "state already used")
		return fail(KindInvalidState, "invalid_request", "the login link was already used")
	}
	ref := st.id.logRef()

	if cb.Error != "" {
		e := redirectError(cb.Error, cb.ErrorDescription)
		finished := metrics.Cancelled
		if e.Kind != KindCancelled {
			finished = metrics.ProviderRefused
		}
		if b.record(st.id, outcome{kind: outcomeFailed, code: e.Code, description: e.Description}, nil) {
			b.metrics.LoginFinished(finished)
		}
		if e.Kind == KindCancelled {
			b.log.Info("login cancelled", "login", ref, "outcome", finished.String(), "error", e.Code)
		} else {
			b.log.Info("login refused by the provider", "login", ref, "outcome", finished.String(), "error", e.Code)
		}
		return e
	}
	if cb.Code == "" {
		if b.record(st.id, outcome{kind: outcomeFailed, code: "invalid_request",
			description: "the provider sent no authorization code"}, nil) {
			b.metrics.LoginFinished(metrics.ProviderFailed)
		}
		b.log.Info("login failed", "login", ref, "outcome", metrics.ProviderFailed.String(), "error", "invalid_request", "reason", "no code")
		return fail(KindInvalidRequest, "invalid_request", "the provider sent no authorization code")
	}

	params := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {cb.Code},
		"redirect_uri": {b.cfg.RedirectURI},
	}
	if st.verifier != "" {
		params.Set("code_verifier", st.verifier)
	}
	for k, vs := range b.cfg.TokenParams { // New refused handoff's own names
		params[k] = vs
	}
	// The sealed choices only: nothing on this request picks the tenant.
	endpoint, missing := b.tokenEndpoint.fill(b.vars, st.vars)
	var tokens []byte
	var err error
	start := time.Now()
	if missing != "" {
		// A state sealed by a build whose endpoints needed fewer variables.
		err = &Error{Kind: KindProviderFailed, Code: "server_error", Description: "the login does not name its " + missing}
	} else {
		tokens, err = b.tokenRequest(ctx, endpoint, params)
	}
	took := b.providerCall(metrics.Exchange, start).Round(time.Millisecond)
	if err != nil {
		var ferr *Error
		if !errors.As(err, &ferr) {
			ferr = &Error{Kind: KindProviderFailed, Code: "server_error", Description: "the token exchange failed", Err: err}
		}
		if h := exchangeHint(ferr.Code); h != "" && ferr.Kind == KindProviderRejected {
			withHint := *ferr // a copy: tokenRequest's errors are its own
			withHint.Hint = h
			ferr = &withHint
		}
		o := failedOutcome(ferr)
		if b.record(st.id, outcome{kind: outcomeFailed, code: ferr.Code, description: ferr.Description}, nil) {
			b.metrics.LoginFinished(o)
		}
		b.log.Warn("login failed", append([]any{"login", ref, "outcome", o.String(), "provider_latency", took}, ferr.logAttrs()...)...)
		return ferr
	}
	if !b.record(st.id, outcome{kind: outcomeReady, tokensUntil: b.now().Add(b.cfg.TokenTTL)}, tokens) {
		// Only a replay after the used-state store evicted this state can
		// get here; the first result stands.
		return fail(KindInvalidState, "invalid_request", "the login link was already used")
	}
	b.log.Info("login completed", "login", ref, "provider_latency", took)
	return nil
}

// spendState marks a state used and reports whether it was unused. The
// states are keyed by nonce: strict decoding gives each state one nonce.
func (b *Broker) spendState(st state) bool {
	unlock := b.lock(st.id)
	defer unlock()
	if b.usedStates.Contains(st.nonce) {
		return false
	}
	b.usedStates.Add(st.nonce, struct{}{})
	return true
}

// record stores how a login ended, and its tokens, unless an outcome or
// tokens are already recorded: nothing overwrites or removes tokens waiting
// for a poll. Both are checked because the stores evict independently: a
// flood of cancelled logins evicts outcomes (and used states) while the
// tokens they do not add still wait.
func (b *Broker) record(id loginID, o outcome, tokens []byte) bool {
	unlock := b.lock(id)
	defer unlock()
	if b.outcomes.Contains(id) || b.tokens.Contains(id) {
		return false
	}
	if tokens != nil {
		b.tokens.Add(id, &waiting{body: tokens, stored: time.Now()})
		if b.betweenTokensAndOutcome != nil {
			b.betweenTokensAndOutcome()
		}
	}
	b.outcomes.Add(id, o)
	return true
}
