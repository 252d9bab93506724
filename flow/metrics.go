package flow

import (
	"errors"
	"sync/atomic"
	"time"

	"handoff/internal/metrics"
)

// waiting is a provider's token answer in the token store, until its poll.
type waiting struct {
	body   []byte
	stored time.Time // for the log: how long the tokens waited
	// taking is set by a poll just before its Remove, so that the store's
	// eviction callback, which Remove calls too, does not count a delivery
	// as tokens not collected.
	taking atomic.Bool
}

// tokensGone is the token store's eviction callback: it runs, under the
// store's lock, for every entry that leaves it, whether a poll took it
// (Remove), it waited TOKEN_TTL (the store's cleanup), a full store pushed
// it out (Add), or Close purged it. All but the first are tokens that no
// poll collected: the number that shows a plugin that stopped polling, or
// a machine stopped under a login.
//
// A poll that sets taking in the instant its entry expires, and then loses
// its Remove to the cleanup, leaves that login counted as neither: the
// window is the time between two calls in take.
func (b *Broker) tokensGone(id loginID, w *waiting) {
	if w.taking.Load() {
		return
	}
	b.metrics.LoginFinished(metrics.NotCollected)
	waited := time.Since(w.stored)
	reason := "expired"
	switch {
	case b.closed.Load():
		reason = "server stopping"
	case waited < b.cfg.TokenTTL:
		reason = "store full (MAX_PENDING)"
	}
	b.log.Warn("tokens not collected", "login", id.logRef(), "outcome", metrics.NotCollected.String(),
		"reason", reason, "waited", waited.Round(time.Millisecond))
}

// registerGauges reports the size of each store of the broker.
func (b *Broker) registerGauges() {
	reg, app := b.metrics.Registry(), b.metrics.Name()
	reg.Pending(app, "tokens", b.tokens.Len)
	reg.Pending(app, "outcomes", b.outcomes.Len)
	reg.Pending(app, "used_states", b.usedStates.Len)
	reg.Pending(app, "refresh_replays", b.replays.Len)
	if b.pollLimiter != nil {
		reg.Pending(app, "poll_limits", b.pollLimiter.Len)
	}
}

// loginExpired ends a login that outlived LOGIN_TTL with no answer from the
// provider: counted and logged once, however often its read key or state
// comes back (the outcome recorded here is what says it was).
func (b *Broker) loginExpired(id loginID) {
	if b.record(id, outcome{kind: outcomeFailed, code: "expired_token", description: "this login has expired; start a new one"}, nil) {
		b.metrics.LoginFinished(metrics.Expired)
		b.log.Info("login expired", "login", id.logRef(), "outcome", metrics.Expired.String())
	}
}

// failedOutcome is the outcome of a token exchange that did not give tokens.
func failedOutcome(err *Error) metrics.Outcome {
	if err.Kind == KindProviderRejected {
		return metrics.ProviderRefused
	}
	return metrics.ProviderFailed
}

// providerCall records the latency of one call to the provider that
// started at start, and returns it for the log.
func (b *Broker) providerCall(call metrics.Call, start time.Time) time.Duration {
	d := time.Since(start)
	b.metrics.ProviderCall(call, d)
	return d
}

// resultOf is the result label of a refresh or revocation that returned err.
func resultOf(err error) metrics.Result {
	if err == nil {
		return metrics.OK
	}
	var e *Error
	if !errors.As(err, &e) {
		return metrics.Failed
	}
	switch e.Kind {
	case KindInvalidRequest:
		return metrics.Invalid
	case KindBusy:
		return metrics.Busy
	case KindProviderRejected:
		return metrics.Refused
	case KindProviderTimeout:
		return metrics.Timeout
	default:
		return metrics.Failed
	}
}

// countRevoke counts one POST /revoke (docs/protocol.md#revoke) by the error
// it ends with; an app without a revocation endpoint counts
// metrics.Unsupported instead.
func (b *Broker) countRevoke(err error) { b.metrics.Revoked(resultOf(err)) }
