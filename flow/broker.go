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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"handoff/crypto"
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
	// Scope is sent as is (already joined with the provider's separator).
	Scope string
	// AuthorizeParams are added to the authorize URL; they replace parameters
	// of the same name already in AuthorizeEndpoint.
	AuthorizeParams url.Values
	PKCE            bool
	AuthStyle       AuthStyle
	BodyFormat      BodyFormat

	LoginTTL        time.Duration
	TokenTTL        time.Duration
	ProviderTimeout time.Duration
	// ProviderConcurrency caps this app's calls to the provider in flight
	// (SECURITY.md, property 11), so one client cannot spend the quota of every user of
	// the client id; 0 means DefaultProviderConcurrency.
	ProviderConcurrency int
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
}

// Broker runs the flow for one app. It is safe for concurrent use.
type Broker struct {
	cfg          Config
	client       *http.Client
	log          *slog.Logger
	authorizeURL string // everything but state and the PKCE challenge
	now          func() time.Time
	// betweenPeekAndRemove is nil but in tests, which set it to hold
	// polls between take's look at the tokens and its Remove, so that
	// racing polls meet there every time rather than by chance.
	betweenPeekAndRemove func()

	// tokens hold provider answers until their one poll (TOKEN_TTL).
	tokens *expirable.LRU[loginID, []byte]
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
	authorizeURL, err := buildAuthorizeURL(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.RefreshEndpoint == "" {
		cfg.RefreshEndpoint = cfg.TokenEndpoint
	}
	b := &Broker{
		cfg:          cfg,
		client:       cfg.HTTPClient,
		log:          cfg.Logger,
		authorizeURL: authorizeURL,
		now:          time.Now,
		tokens:       expirable.NewLRU[loginID, []byte](cfg.MaxPending, nil, cfg.TokenTTL),
		outcomes:     expirable.NewLRU[loginID, outcome](cfg.MaxPending, nil, cfg.LoginTTL),
		usedStates:   expirable.NewLRU[[crypto.NonceSize]byte, struct{}](cfg.MaxPending, nil, cfg.LoginTTL),
	}
	if b.client == nil {
		b.client = NewProviderClient(cfg.ProviderTimeout)
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if cfg.PollLimit > 0 {
		b.pollLimiter = ratelimit.NewBucket(cfg.PollLimit, time.Second, cfg.MaxPending, func(id loginID) uint8 { return id[0] })
	}
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

// buildAuthorizeURL precomputes the authorize URL up to the per-login
// parameters. Parameters already in the endpoint are kept.
func buildAuthorizeURL(cfg Config) (string, error) {
	u, err := url.Parse(cfg.AuthorizeEndpoint)
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
		switch k {
		case "state", "code_challenge", "code_challenge_method", "client_id", "redirect_uri", "response_type":
			return "", fmt.Errorf("flow: authorize parameter %q is set by handoff", k)
		}
		q[k] = vs
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
	b.tokens.Purge()
	b.outcomes.Purge()
	b.usedStates.Purge()
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
