// Package flow is handoff's OAuth logic: it starts logins without storing
// anything, checks the sealed state when the provider redirects back,
// exchanges the code, and hands the provider's token response to the one
// poller holding the read key. It knows nothing of HTTP servers; package web
// maps requests and errors onto it.
package flow

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"handoff/crypto"
	"handoff/internal/metrics"
	"handoff/internal/ratelimit"
)

// Config is one app's configuration, already validated by the caller.
type Config struct {
	ClientID          string
	ClientSecret      string
	RedirectURI       string
	AuthorizeEndpoint string
	TokenEndpoint     string
	// RefreshEndpoint is where the refresh grant goes; empty means TokenEndpoint.
	RefreshEndpoint string
	// RevokeEndpoint is where /revoke goes; empty means the app has none
	// (501). It may hold {client_id}, as GitHub's does.
	RevokeEndpoint string
	RevokeStyle    RevokeStyle
	// Scope is sent as is (already joined with the provider's separator).
	Scope string
	// ScopeSeparator joins the scopes a login chooses; empty means " ".
	ScopeSeparator string
	// AllowedScopes are the scopes a login may choose
	// (docs/protocol.md#authorize); nil means Scope's words.
	AllowedScopes []string
	// Vars are the template variables the endpoints may hold as {name}
	// (the preset's), chosen per login.
	Vars []TemplateVar
	// AuthorizeParams are added to the authorize URL; they replace parameters
	// of the same name already in AuthorizeEndpoint.
	AuthorizeParams url.Values
	PKCE            bool
	AuthStyle       AuthStyle
	BodyFormat      BodyFormat
	// TokenParams are added to the code exchange's body (a preset's
	// TokenParams); they never replace handoff's own parameters.
	TokenParams url.Values
	// TokensAt and ErrorCodes are the preset's: where the login's tokens
	// sit when not at the top level, and the provider's error codes mapped
	// to RFC 6749 codes (docs/protocol.md#talking-to-the-provider).
	TokensAt   string
	ErrorCodes map[string]string
	// ProviderName names the provider in logs ("Notion"); empty without a
	// preset.
	ProviderName string

	LoginTTL        time.Duration
	TokenTTL        time.Duration
	ProviderTimeout time.Duration
	// ProviderConcurrency caps this app's calls to the provider in flight
	// (SECURITY.md, property 11), so one client cannot spend the quota of every user of
	// the client id; 0 means DefaultProviderConcurrency.
	ProviderConcurrency int
	// RefreshReplayTTL is how long a successful refresh answer is given
	// again for the same refresh token (docs/protocol.md#refresh); 0 means
	// DefaultRefreshReplayTTL.
	RefreshReplayTTL time.Duration
	// MaxPending caps each in-memory store.
	MaxPending int
	// PollLimit is how many polls per second one read key may make; 0 is
	// no limit.
	PollLimit int

	// MachineID names this machine when several serve one app (Fly.io).
	// Logins carry it so other machines can send requests here.
	MachineID string

	// Sealer seals states and read keys; its keys must be this app's own.
	Sealer *crypto.Sealer
	// HTTPClient talks to the provider; nil means a client made for it.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Metrics counts this app's logins and provider calls; nil counts
	// into nothing anyone reads.
	Metrics *metrics.App
}

// Broker runs the flow for one app. It is safe for concurrent use.
type Broker struct {
	cfg          Config
	client       *http.Client
	log          *slog.Logger
	authorizeURL string // everything but state and the PKCE challenge; "" when the endpoint needs a template variable
	shape        answerShape
	now          func() time.Time
	// betweenPeekAndRemove is nil but in tests, which set it to hold
	// polls between take's look at the tokens and its Remove, so that
	// racing polls meet there every time rather than by chance.
	betweenPeekAndRemove func()
	// betweenTokensAndOutcome is nil but in tests, which set it to run a
	// poll while record holds the login's lock between storing the tokens
	// and their "ready" outcome.
	betweenTokensAndOutcome func()

	// Per-login choices (choices.go) and template variables (templatevars.go).
	allowed      []string       // ALLOWED_SCOPES; index i is bit i of a scope mask
	allowedIndex map[string]int // word -> index in allowed
	vars         []templateVar
	// The endpoints, with their template variables.
	authorizeEndpoint, tokenEndpoint, refreshEndpoint, revokeEndpoint endpoint
	// loginNeeds are the variables a login must choose: those of the
	// authorize and token endpoints.
	loginNeeds []int

	// replays keep successful refresh answers for RefreshReplayTTL, keyed
	// by refreshKey; refreshing shares one provider call among concurrent
	// refreshes of one token (refresh.go).
	replays    *expirable.LRU[[32]byte, []byte]
	refreshing flights

	// tokens hold provider answers until their one poll (TOKEN_TTL).
	tokens *expirable.LRU[loginID, *waiting]
	// outcomes remember how each finished login ended, so polls get 410
	// instead of 404 once it is over (LOGIN_TTL).
	outcomes *expirable.LRU[loginID, outcome]
	// usedStates remembers spent states by nonce (LOGIN_TTL).
	usedStates *expirable.LRU[[crypto.NonceSize]byte, struct{}]
	// locks make check-then-set on the stores atomic per login, without one
	// lock for every login.
	locks [64]sync.Mutex

	pollLimiter *ratelimit.Limiter[loginID]
	// providerCalls counts the calls to the provider in flight, against
	// cfg.ProviderConcurrency (see acquireProvider).
	providerCalls atomic.Int64
	// busyLogged is when the cap was last logged (Unix nanoseconds), so a
	// flood at the cap writes a line now and then, not one per request.
	busyLogged atomic.Int64
	// basicRefused records that AuthAuto fell back to client_secret_post,
	// so later requests go straight there.
	basicRefused atomic.Bool

	metrics *metrics.App
	closed  atomic.Bool // set by Close, for the log of tokens it drops
}

// DefaultProviderConcurrency is PROVIDER_CONCURRENCY's default: far more
// logins and refreshes at once than one plugin's users make, far fewer than
// a flood that gets a client id throttled.
const DefaultProviderConcurrency = 64

// DefaultMaxPending is MAX_PENDING's default, the capacity of each store:
// ten thousand logins waiting at once is far past one plugin's peak, and
// every store full stays within a few megabytes.
const DefaultMaxPending = 10000

// New checks cfg and returns a Broker ready to serve.
func New(cfg Config) (*Broker, error) {
	if cfg.Sealer == nil {
		return nil, errors.New("flow: no sealer")
	}
	if cfg.LoginTTL <= 0 || cfg.TokenTTL <= 0 || cfg.ProviderTimeout <= 0 || cfg.MaxPending <= 0 || cfg.ProviderConcurrency < 0 {
		return nil, errors.New("flow: TTLs, timeout and MaxPending must be positive, ProviderConcurrency not negative")
	}
	if cfg.ProviderConcurrency == 0 {
		cfg.ProviderConcurrency = DefaultProviderConcurrency
	}
	if cfg.RefreshReplayTTL < 0 {
		return nil, errors.New("flow: RefreshReplayTTL must not be negative")
	}
	if cfg.RefreshReplayTTL == 0 {
		cfg.RefreshReplayTTL = DefaultRefreshReplayTTL
	}
	if cfg.RefreshEndpoint == "" {
		cfg.RefreshEndpoint = cfg.TokenEndpoint
	}
	for k := range cfg.TokenParams {
		switch k {
		case "grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token":
			return nil, fmt.Errorf("flow: token parameter %q is set by handoff", k)
		}
	}
	for own, code := range cfg.ErrorCodes {
		if !ValidErrorCode(own) || !ValidErrorCode(code) {
			return nil, fmt.Errorf("flow: error code mapping %q -> %q is not of error codes", own, code)
		}
	}
	if cfg.ScopeSeparator == "" {
		cfg.ScopeSeparator = " "
	}
	b := &Broker{
		cfg:     cfg,
		client:  cfg.HTTPClient,
		log:     cfg.Logger,
		shape:   answerShape{tokensAt: cfg.TokensAt, errorCodes: cfg.ErrorCodes},
		now:     time.Now,
		metrics: cfg.Metrics,
	}
	if b.metrics == nil {
		b.metrics = metrics.Discard()
	}
	// Before the stores: their cleanup goroutines would outlive an error.
	if err := b.setChoices(); err != nil {
		return nil, err
	}
	b.tokens = expirable.NewLRU[loginID, *waiting](cfg.MaxPending, b.tokensGone, cfg.TokenTTL)
	b.outcomes = expirable.NewLRU[loginID, outcome](cfg.MaxPending, nil, cfg.LoginTTL)
	b.usedStates = expirable.NewLRU[[crypto.NonceSize]byte, struct{}](cfg.MaxPending, nil, cfg.LoginTTL)
	b.replays = expirable.NewLRU[[32]byte, []byte](cfg.MaxPending, nil, cfg.RefreshReplayTTL)
	if b.client == nil {
		b.client = NewProviderClient(cfg.ProviderTimeout)
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ProviderName != "" {
		b.log = b.log.With("provider", cfg.ProviderName)
	}
	if cfg.PollLimit > 0 {
		b.pollLimiter = ratelimit.NewBucket(cfg.PollLimit, time.Second, cfg.MaxPending, func(id loginID) uint8 { return id[0] })
	}
	b.registerGauges()
	return b, nil
}

// NewProviderClient returns the HTTP client handoff uses for token requests:
// connections are reused (one provider, many logins), redirects are not
// followed (a token endpoint that redirects would receive the client secret
// twice, possibly elsewhere), and every request is bounded by timeout.
func NewProviderClient(timeout time.Duration) *http.Client {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// DefaultRefreshReplayTTL is REFRESH_REPLAY_TTL's default: long enough for
// a plugin to retry a refresh whose answer it lost, short enough that an
// old refresh token soon stops being worth anything.
const DefaultRefreshReplayTTL = 30 * time.Second

// setChoices prepares what per-login choices need: the allowed scopes, the
// template variables and the endpoints that hold them. The authorize URL is
// precomputed unless its endpoint needs a variable.
func (b *Broker) setChoices() error {
	cfg := &b.cfg
	words := cfg.AllowedScopes
	if words == nil {
		words = strings.Split(cfg.Scope, cfg.ScopeSeparator)
	}
	b.allowedIndex = make(map[string]int, len(words))
	for _, w := range words {
		if _, dup := b.allowedIndex[w]; w != "" && !dup {
			b.allowedIndex[w] = len(b.allowed)
			b.allowed = append(b.allowed, w)
		}
	}
	if len(b.allowed) > MaxAllowedScopes {
		return fmt.Errorf("flow: more than %d allowed scopes", MaxAllowedScopes)
	}
	var err error
	if b.vars, err = compileVars(cfg.Vars, cfg.AuthorizeEndpoint); err != nil {
		return err
	}
	b.authorizeEndpoint = newEndpoint(cfg.AuthorizeEndpoint, b.vars)
	b.tokenEndpoint = newEndpoint(cfg.TokenEndpoint, b.vars)
	b.refreshEndpoint = newEndpoint(cfg.RefreshEndpoint, b.vars)
	// GitHub's revocation URL names the client.
	b.revokeEndpoint = newEndpoint(strings.ReplaceAll(cfg.RevokeEndpoint, "{client_id}", url.PathEscape(cfg.ClientID)), b.vars)
	for _, e := range []endpoint{b.authorizeEndpoint, b.tokenEndpoint} {
		for _, i := range e.needs {
			if !slices.Contains(b.loginNeeds, i) {
				b.loginNeeds = append(b.loginNeeds, i)
			}
		}
	}
	for _, e := range []endpoint{b.tokenEndpoint, b.refreshEndpoint, b.revokeEndpoint} {
		if e.raw == "" {
			continue
		}
		if _, err := url.Parse(e.sample(b.vars)); err != nil {
			// Without the URL, whose query may hold a key.
			return fmt.Errorf("flow: endpoint: %w", redactURLError(err))
		}
	}
	// Checked with a sample when it needs a variable; precomputed when not.
	s, err := buildAuthorizeURL(*cfg, b.authorizeEndpoint.sample(b.vars), nil)
	if err != nil {
		return err
	}
	if len(b.authorizeEndpoint.needs) == 0 {
		b.authorizeURL = s
	}
	return nil
}

// buildAuthorizeURL makes the authorize URL up to the per-login parameters
// (state, PKCE challenge): the endpoint's own query kept, then handoff's
// parameters, AUTHORIZE_PARAMS and what choose sets.
func buildAuthorizeURL(cfg Config, endpoint string, choose func(url.Values)) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("flow: authorize endpoint: %w", err)
	}
	q := u.Query()
	q.Set("client_id", cfg.ClientID)
	q.Set("redirect_uri", cfg.RedirectURI)
	q.Set("response_type", "code")
	if cfg.Scope != "" {
		q.Set("scope", cfg.Scope)
	}
	for k, vs := range cfg.AuthorizeParams {
		if isReservedParam(k) {
			return "", fmt.Errorf("flow: authorize parameter %q is set by handoff", k)
		}
		q[k] = vs
	}
	if choose != nil {
		choose(q)
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	s := u.String()
	if !strings.HasSuffix(s, "?") {
		s += "&"
	}
	return s, nil
}

// Close stops nothing the garbage collector cannot: the expirable LRUs'
// cleanup goroutines run for the life of the process (golang-lru v2.0.7 has
// no way to stop them). It purges the stores so tokens do not outlive the
// Broker's use.
func (b *Broker) Close() {
	b.closed.Store(true)
	b.tokens.Purge()
	b.outcomes.Purge()
	b.usedStates.Purge()
	b.replays.Purge()
}

// acquireProvider takes a slot for one call to the provider (a code
// exchange, a refresh, a revocation), or fails at once with KindBusy when
// the app's slots are all taken: a queue would hold the client's connection
// and still let a flood spend the provider quota. A nil error must be
// followed by releaseProvider when the call is over.
func (b *Broker) acquireProvider() error {
	if b.providerCalls.Add(1) <= int64(b.cfg.ProviderConcurrency) {
		return nil
	}
	b.providerCalls.Add(-1)
	now := b.now().UnixNano()
	if last := b.busyLogged.Load(); now-last >= int64(10*time.Second) && b.busyLogged.CompareAndSwap(last, now) {
		b.log.Warn("calls to the provider at their cap; refusing more until some finish",
			"provider_concurrency", b.cfg.ProviderConcurrency)
	}
	return fail(KindBusy, "temporarily_unavailable", "too many requests to the provider are in flight; try again in a moment")
}

func (b *Broker) releaseProvider() { b.providerCalls.Add(-1) }
