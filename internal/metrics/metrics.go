// Package metrics counts what handoff does and writes it in Prometheus text
// format for the METRICS_ADDR listener (docs/protocol.md#metrics). The format
// is written by github.com/VictoriaMetrics/metrics: a quarter of a megabyte
// on the binary, where prometheus/client_golang adds about three and protobuf.
//
// Every series is created once, when a Registry or an App is made, and the
// request paths only increment what they were handed: no name is formatted
// and no map is searched per request. Creating them up front also makes
// every series appear at 0 from the start, so a rate() in Grafana has a
// starting point.
//
// The label naming one of APPS is handoff_app, not app: Fly's scraper sets
// app, region, host and instance on every series it stores, overwriting a
// label of the same name, so an app label would read as the Fly app's name.
package metrics

import (
	"io"
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Outcome is how a login ended: the outcome label of
// handoff_logins_finished_total.
type Outcome uint8

const (
	// Delivered: the plugin's poll took the tokens.
	Delivered Outcome = iota
	// Cancelled: the user declined (access_denied at the redirect).
	Cancelled
	// ProviderRefused: the provider refused the login (another error at
	// the redirect) or the token endpoint refused the code.
	ProviderRefused
	// ProviderFailed: the token endpoint failed, timed out or could not
	// be reached, or the redirect carried no code.
	ProviderFailed
	// Expired: the login outlived LOGIN_TTL before the provider sent the
	// user back.
	Expired
	// NotCollected: tokens waited TOKEN_TTL (or were pushed out of a full
	// store) and no poll took them.
	NotCollected
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"delivered", "cancelled", "provider_refused", "provider_failed", "expired", "not_collected"}

func (o Outcome) String() string { return outcomeNames[o] }

// Result is how a refresh or a revocation ended: the result label of
// handoff_refresh_total and handoff_revoke_total.
type Result uint8

const (
	// OK: the provider answered with success.
	OK Result = iota
	// Replayed: the answer of an earlier identical refresh was given again
	// without a provider call (REFRESH_REPLAY_TTL).
	Replayed
	// Refused: the provider answered with an OAuth error (4xx).
	Refused
	// Failed: the provider failed (5xx, unreachable, unreadable).
	Failed
	// Timeout: the provider did not answer within PROVIDER_TIMEOUT.
	Timeout
	// Busy: PROVIDER_CONCURRENCY was reached; nothing was sent.
	Busy
	// Invalid: the request itself was refused (no token); nothing was sent.
	Invalid
	// Unsupported: the app has no revocation endpoint.
	Unsupported
	numResults
)

var resultNames = [numResults]string{"ok", "replayed", "refused", "failed", "timeout", "busy", "invalid", "unsupported"}

func (r Result) String() string { return resultNames[r] }

// Call is a kind of call to the provider: the call label of
// handoff_provider_seconds.
type Call uint8

const (
	Exchange Call = iota
	Refresh
	Revoke
	numCalls
)

var callNames = [numCalls]string{"exchange", "refresh", "revoke"}

func (c Call) String() string { return callNames[c] }

// providerBuckets are the upper bounds of handoff_provider_seconds: a token
// endpoint answers in tens to hundreds of milliseconds, and PROVIDER_TIMEOUT
// (10 s by default) ends the slowest.
var providerBuckets = []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Replay is what became of a request for a login held by another machine:
// the result label of handoff_fly_replays_total.
type Replay uint8

const (
	// ReplaySent: answered with fly-replay, so Fly's proxy sends it to
	// the owner.
	ReplaySent Replay = iota
	// ReplayOwnerGone: it came back with fly-replay-failed: the owner is
	// gone, and the login with it.
	ReplayOwnerGone
	numReplays
)

var replayNames = [numReplays]string{"sent", "owner_gone"}

// RateLimitedRoutes are the route label values of
// handoff_rate_limited_total: the per-IP limits of web, and poll for the
// per-read-key limit of flow.
var RateLimitedRoutes = []string{"authorize", "poll", "redirect", "refresh", "revoke", "api"}

// Registry holds one server's series. Each server has its own, so tests that
// run several servers in one process count apart.
type Registry struct {
	set         *vm.Set
	rateLimited map[string]*vm.Counter
	replays     [numReplays]*vm.Counter
}

// New returns a Registry with its process-wide series created.
func New() *Registry {
	r := &Registry{set: vm.NewSet(), rateLimited: map[string]*vm.Counter{}}
	for _, route := range RateLimitedRoutes {
		r.rateLimited[route] = r.set.NewCounter(`handoff_rate_limited_total{route="` + route + `"}`)
	}
	for i := range r.replays {
		r.replays[i] = r.set.NewCounter(`handoff_fly_replays_total{result="` + replayNames[i] + `"}`)
	}
	return r
}

// WritePrometheus writes every series, then the Go runtime's and the
// process's (RSS against the machine's 256 MB, open files, GC).
func (r *Registry) WritePrometheus(w io.Writer) {
	r.set.WritePrometheus(w)
	vm.WriteProcessMetrics(w)
}

// RateLimited returns the counter of requests to route refused by a rate
// limit. route must be one of RateLimitedRoutes; look it up once.
func (r *Registry) RateLimited(route string) *vm.Counter {
	c, ok := r.rateLimited[route]
	if !ok {
		panic("metrics: unknown rate-limited route " + route)
	}
	return c
}

// FlyReplay counts one request for a login held by another machine.
func (r *Registry) FlyReplay(result Replay) { r.replays[result].Inc() }

// Pending reports the size of one in-memory store, read when metrics are
// scraped. app is empty for the single app, and for stores that serve every
// app (the per-IP limits).
func (r *Registry) Pending(app, store string, size func() int) {
	r.set.GetOrCreateGauge(`handoff_pending{handoff_app="`+label(app)+`",store="`+label(store)+`"}`,
		func() float64 { return float64(size()) })
}

// MaxPending reports MAX_PENDING, the capacity of each store, so a dashboard
// can draw the stores' sizes against it.
func (r *Registry) MaxPending(n int) {
	r.set.GetOrCreateGauge(`handoff_max_pending`, func() float64 { return float64(n) })
}

// App returns the series of one app (name "" for the single app: the
// handoff_app label is then empty). Call it
// once per app, when its broker is made.
func (r *Registry) App(name string) *App {
	a := &App{reg: r, name: label(name)}
	l := `handoff_app="` + a.name + `"`
	a.started = r.set.GetOrCreateCounter(`handoff_logins_started_total{` + l + `}`)
	for o := range a.finished {
		a.finished[o] = r.set.GetOrCreateCounter(`handoff_logins_finished_total{` + l + `,outcome="` + outcomeNames[o] + `"}`)
	}
	for i := range a.refresh {
		if Result(i) == Unsupported {
			continue // a refresh always has an endpoint
		}
		a.refresh[i] = r.set.GetOrCreateCounter(`handoff_refresh_total{` + l + `,result="` + resultNames[i] + `"}`)
	}
	for i := range a.revoke {
		if Result(i) == Replayed {
			continue // revocations are not replayed
		}
		a.revoke[i] = r.set.GetOrCreateCounter(`handoff_revoke_total{` + l + `,result="` + resultNames[i] + `"}`)
	}
	for c := range a.provider {
		a.provider[c] = r.set.GetOrCreatePrometheusHistogramExt(`handoff_provider_seconds{`+l+`,call="`+callNames[c]+`"}`, providerBuckets)
	}
	a.pollLimited = r.RateLimited("poll")
	return a
}

// App is one app's series, all created by Registry.App. Its methods only
// increment: they are safe on the request paths.
type App struct {
	reg         *Registry
	name        string
	started     *vm.Counter
	finished    [numOutcomes]*vm.Counter
	refresh     [numResults]*vm.Counter
	revoke      [numResults]*vm.Counter
	provider    [numCalls]*vm.PrometheusHistogram
	pollLimited *vm.Counter
}

// Discard returns an App whose counts nobody reads, for a broker made
// without metrics (tests, examples).
func Discard() *App { return New().App("") }

// Registry is where the App's series live (for the app's store gauges).
func (a *App) Registry() *Registry { return a.reg }

// Name is the app label.
func (a *App) Name() string { return a.name }

// LoginStarted counts one /authorize.
func (a *App) LoginStarted() { a.started.Inc() }

// LoginFinished counts one login's end.
func (a *App) LoginFinished(o Outcome) { a.finished[o].Inc() }

// Refreshed counts one /refresh by its result.
func (a *App) Refreshed(r Result) {
	if c := a.refresh[r]; c != nil {
		c.Inc()
	}
}

// Revoked counts one /revoke by its result.
func (a *App) Revoked(r Result) {
	if c := a.revoke[r]; c != nil {
		c.Inc()
	}
}

// ProviderCall records how long one call to the provider took, failures
// and timeouts included.
func (a *App) ProviderCall(c Call, d time.Duration) { a.provider[c].Update(d.Seconds()) }

// FlyReplay counts one request for a login held by another machine.
func (a *App) FlyReplay(r Replay) { a.reg.FlyReplay(r) }

// PollLimited counts one poll refused by the per-read-key limit.
func (a *App) PollLimited() { a.pollLimited.Inc() }

// API returns the counters of API passthrough calls to one upstream
// (host[:port] of an API_ORIGINS origin). Call it once per origin when the
// app's routes are set up, not per request: it formats the series' names.
func (a *App) API(upstream string) *API {
	api := &API{}
	l := `handoff_api_requests_total{handoff_app="` + a.name + `",upstream="` + label(upstream) + `",class="`
	for i := range api.classes {
		api.classes[i] = a.reg.set.GetOrCreateCounter(l + apiClassNames[i] + `"}`)
	}
	return api
}

// API counts passthrough calls to one upstream by the class of the
// upstream's status, or "error" when there was no answer (timeout,
// unreachable, refused before sending).
type API struct {
	classes [len(apiClassNames)]*vm.Counter
}

var apiClassNames = [...]string{"error", "2xx", "3xx", "4xx", "5xx"}

// Answered counts one call by the upstream's status; a status outside
// 200-599 is no answer a plugin can use, and counts as an error.
func (api *API) Answered(status int) {
	if status < 200 || status > 599 {
		api.classes[0].Inc()
		return
	}
	api.classes[status/100-1].Inc()
}

// Failed counts one call that got no answer from the upstream.
func (api *API) Failed() { api.classes[0].Inc() }

// label keeps a label value within the text format's quoting. App names,
// store names and hosts never hold these characters; this is a guard.
func label(s string) string {
	if !strings.ContainsAny(s, "\"\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
