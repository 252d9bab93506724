package flow

import (
	"time"

	"handoff/internal/metrics"
)

// outcome is how a login ended, remembered for LOGIN_TTL so that polls after
// the end get a final answer (410) rather than "pending" (404).
type outcome struct {
	kind        outcomeKind
	code        string
	description string
	// tokensUntil is when tokens stored with a "ready" outcome expire.
	tokensUntil time.Time
}

type outcomeKind uint8

const (
	outcomeReady     outcomeKind = iota + 1 // tokens stored, waiting for the poll
	outcomeDelivered                        // the one poll took them
	outcomeFailed                           // no tokens: code says why
)

// PollOptions carries what the web layer knows about the request beyond the
// read key.
type PollOptions struct {
	// ReplayFailed is set when Fly's proxy could not reach the machine this
	// request was replayed to (the fly-replay-failed header).
	ReplayFailed bool
}

// Poll answers the plugin's poll: the provider's token response exactly once,
// or an *Error saying whether to keep polling (KindPending) or stop (KindGone).
func (b *Broker) Poll(key string, opts PollOptions) ([]byte, error) {
	if key == "" {
		return nil, errNoReadKey
	}
	rk, ok := b.openReadKey(key)
	if !ok {
		return nil, errForeignReadKey
	}
	if err := b.route(rk, opts.ReplayFailed); err != nil {
		return nil, err
	}
	if b.pollLimiter != nil && !b.pollLimiter.Allow(rk.id) {
		b.metrics.PollLimited()
		return nil, fail(KindSlowDown, "slow_down", "this readKey is polled too often; wait before polling again")
	}

	if tokens, done, err := b.take(rk.id); done {
		return tokens, err
	}

	now := b.now()
	if now.After(rk.expires) {
		b.loginExpired(rk.id)
		return nil, fail(KindGone, "expired_token", "this login has expired; start a new one")
	}
	if o, ok := b.outcomes.Peek(rk.id); ok {
		switch o.kind {
		case outcomeDelivered:
			return nil, errAlreadyDelivered
		case outcomeReady:
			// The redirect stores the tokens before this outcome: a poll
			// that missed them above but sees it raced the redirect.
			if tokens, done, err := b.take(rk.id); done {
				return tokens, err
			}
			if now.Before(o.tokensUntil) { // taken by a concurrent poll an instant ago
				return nil, errAlreadyDelivered
			}
			b.log.Info("tokens expired", "login", rk.id.logRef())
			return nil, fail(KindGone, "expired_token", "the tokens were not collected in time; start a new login")
		default:
			return nil, fail(KindGone, o.code, o.description)
		}
	}
	return nil, errPending
}

// The answers to the polls that come by the thousand (a login in progress,
// a liveness check without a key, a forged key) are allocated once: like
// every *Error, they are never modified.
var (
	errNoReadKey      = fail(KindInvalidRequest, "invalid_request", "readKey is required")
	errForeignReadKey = fail(KindInvalidRequest, "invalid_request", "readKey is not a key this server issued")
	errPending        = fail(KindPending, "authorization_pending", "the user has not finished logging in yet")
)

// take delivers the tokens of login id, if there are any, to the one caller
// whose Remove succeeds (the expirable LRU has no atomic take). done reports
// whether the poll is answered: with the tokens, or already_delivered for
// the callers that lost the race.
func (b *Broker) take(id loginID) (tokens []byte, done bool, err error) {
	w, ok := b.tokens.Peek(id)
	if !ok {
		return nil, false, nil
	}
	if b.betweenPeekAndRemove != nil {
		b.betweenPeekAndRemove()
	}
	// Under the login's lock, like record: a poll that takes the tokens
	// record has just stored waits for record's "ready" outcome, then
	// replaces it, rather than being overwritten by it. Only the hook
	// above runs outside it, so that racing polls can all reach it.
	// tokensGone, which Remove calls, takes no login lock.
	unlock := b.lock(id)
	w.taking.Store(true)
	if !b.tokens.Remove(id) {
		unlock()
		return nil, true, errAlreadyDelivered
	}
	b.outcomes.Add(id, outcome{kind: outcomeDelivered})
	unlock()
	b.metrics.LoginFinished(metrics.Delivered)
	b.log.Info("tokens delivered", "login", id.logRef(), "outcome", metrics.Delivered.String(),
		"waited", time.Since(w.stored).Round(time.Millisecond))
	return w.body, true, nil
}

var errAlreadyDelivered = fail(KindGone, "already_delivered", "the tokens for this login were already delivered")

// route says where a request for login rk must be served. Without a machine
// id every login is local.
func (b *Broker) route(rk readKey, replayFailed bool) error {
	if b.cfg.MachineID == "" || rk.machine == "" || rk.machine == b.cfg.MachineID {
		return nil
	}
	if replayFailed {
		b.metrics.FlyReplay(metrics.ReplayOwnerGone)
		return &Error{Kind: KindOwnerGone, Code: "expired_token",
			Description: "the server holding this login restarted; start the login again"}
	}
	b.metrics.FlyReplay(metrics.ReplaySent)
	return &Error{Kind: KindElsewhere, Code: "temporarily_unavailable",
		Description: "this login is held by another machine", Machine: rk.machine}
}
