// Package web maps HTTP onto package flow: the routes of docs/protocol.md, CORS,
// limits, request logs, error responses and the HTML pages. It holds no OAuth
// logic of its own.
package web

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"handoff/flow"
	"handoff/internal/metrics"
	"handoff/internal/ratelimit"
)

// App is one plugin's routes.
type App struct {
	// Name is empty for the single app at the root; otherwise its routes
	// are under /Name/.
	Name         string
	Broker       *flow.Broker
	RedirectPath string
	CORS         CORS
	// PluginName (PLUGIN_NAME) and ProviderName (the preset's) name the
	// plugin and the provider on the redirect route's pages; empty, the
	// pages say "the plugin" and "the provider".
	PluginName   string
	ProviderName string
	// APIOrigins are the origins the API passthrough may call for this
	// app, each as APIOrigin returns it; none turns the passthrough off
	// (docs/protocol.md#api-passthrough).
	APIOrigins []string
}

// Options configure the server.
type Options struct {
	Apps   []App
	Logger *slog.Logger
	// RateLimit turns on the per-client-IP limits of /authorize, /redirect,
	// /refresh and /revoke (the per-read-key poll limit lives in flow).
	RateLimit bool
	// MaxClients caps the memory of the per-IP limiters.
	MaxClients int
	// TrustFlyClientIP takes the client IP from Fly-Client-IP, which Fly's
	// proxy sets; anywhere else a client could forge it.
	TrustFlyClientIP bool
	// Demo, when set, is the mock provider, served under DemoPath, and the
	// root page becomes the demo page.
	Demo     http.Handler
	DemoPath string
	// Timeouts on the listener's connections.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Metrics counts rate-limited requests and the limiters' sizes; nil
	// counts into nothing anyone reads. It is served elsewhere
	// (METRICS_ADDR), never by this server.
	Metrics *metrics.Registry
	// API configures the passthrough of the apps that have APIOrigins.
	API APIOptions
}

// APIOptions are the server-wide settings of the API passthrough
// (docs/protocol.md#api-passthrough). They are not per app: the /?<URL>
// form belongs to no single app, and the body limit is decided from the
// request line, before any handler runs.
type APIOptions struct {
	// MaxBody caps a forwarded request body (API_MAX_BODY); 0 means
	// DefaultAPIMaxBody.
	MaxBody int64
	// Timeout bounds a whole call to the upstream (API_TIMEOUT); 0 means
	// DefaultAPITimeout.
	Timeout time.Duration
}

// Limits of docs/protocol.md#limits (SECURITY.md properties 5 and 8).
const (
	MaxBodyBytes   = 64 << 10
	MaxHeaderBytes = 8 << 10
	// IPLimit is how many requests per minute one client IP may send to
	// each of /authorize, /redirect, /refresh and /revoke.
	IPLimit = 300
	// APIIPLimit is how many API passthrough requests per minute one
	// client IP may send: a plugin's API calls come in bursts (a page of
	// results after another), far more than its logins.
	APIIPLimit = 1200
	// MaxConns caps open connections, idle ones included. Each holds
	// 15-25 KB (its read buffer, goroutine and the part of a body read
	// so far), so all of them stay near 25 MB, and a 256 MB machine with
	// full stores keeps room. Past it fasthttp answers 503 and closes.
	MaxConns = 1024
	// MaxConnsPerIP caps open connections from one client address, so
	// that one address cannot take all of MaxConns (past it: 429 and
	// close). On Fly.io every connection comes from Fly's proxy, one
	// address, so there this is a cap on everything: fly.toml's
	// http_service.concurrency hard_limit (requests in flight) must stay
	// well below it, leaving room for the proxy's idle pooled connections
	// and its health checks (test/deploy/flytoml_test.go holds that).
	MaxConnsPerIP = 256
)

type server struct {
	opts      Options
	log       *slog.Logger
	apps      []App
	rootCORS  CORS // for routes outside every app
	requestID atomic.Uint64
	limiters  map[string]*ratelimit.Limiter[string]
	api       *passthrough // nil when no app has API origins
	// redirectKeys are the routeKeys of the apps' redirect routes, whose
	// 405s leave HEAD out of Allow (redirectAllow).
	redirectKeys map[string]bool
}

// New returns the Fiber app serving opts.Apps. main and the tests share it.
func New(opts Options) *fiber.App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 75 * time.Second
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = flow.DefaultMaxPending
	}
	s := &server{opts: opts, log: opts.Logger, apps: opts.Apps, redirectKeys: map[string]bool{}}
	// rootApp: the single app of docs/protocol.md#configuration, served at the root. With APPS
	// (named apps, however many) the root belongs to no app.
	rootApp := len(opts.Apps) == 1 && opts.Apps[0].Name == ""
	if rootApp {
		s.rootCORS = opts.Apps[0].CORS
	} else if len(opts.Apps) > 0 {
		// Outside any app's path (healthz, unknown paths), loopback only,
		// plus nothing: no app's plugin is favoured.
		s.rootCORS = CORS{ParentDomain: opts.Apps[0].CORS.ParentDomain, LoopbackOnly: true}
	}
	if opts.RateLimit {
		s.limiters = map[string]*ratelimit.Limiter[string]{}
		for _, route := range []string{routeAuthorize, routeRedirect, routeRefresh, routeRevoke} {
			s.limiters[route] = ratelimit.NewWindow(IPLimit, time.Minute, opts.MaxClients, ratelimit.StringShard)
		}
		s.limiters[routeAPI] = ratelimit.NewWindow(APIIPLimit, time.Minute, opts.MaxClients, ratelimit.StringShard)
	}
	s.registerMetrics()
	s.api = newPassthrough(s.opts)

	app := fiber.New(fiber.Config{
		AppName:               "handoff",
		DisableStartupMessage: true,
		Network:               "tcp", // IPv4 and IPv6: plugins may call [::1]
		// In streaming mode BodyLimit is only how much of a body fasthttp
		// reads before the handler runs; readBody enforces MaxBodyBytes.
		StreamRequestBody: true,
		BodyLimit:         readAheadBytes,
		Concurrency:       MaxConns,
		ReadBufferSize:    MaxHeaderBytes,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ErrorHandler:      s.errorHandler,
		// A multipart body is parsed on demand (requestParams), not while
		// fasthttp reads the request: a parse failure there resets the
		// request, Origin included, and the error answer would carry
		// the wrong CORS origin.
		DisablePreParseMultipartForm: true,
	})
	app.Use(s.logRequests, s.takeBody)

	app.Get(healthPath, s.healthz)
	app.Options(healthPath, s.preflight)
	if opts.Demo != nil {
		app.All(opts.DemoPath+"/*", adaptor.HTTPHandler(opts.Demo))
	}
	for i := range opts.Apps {
		s.mount(app, &opts.Apps[i])
	}
	if !rootApp {
		root := &appHandlers{server: s, app: &App{CORS: s.rootCORS}}
		if s.api != nil {
			root.scopes = s.api.all
		}
		s.mountRoot(app, "/", root, s.upNoApp)
	}
	srv := app.Server()
	srv.MaxConnsPerIP = MaxConnsPerIP // fiber.Config has no field for it
	srv.HeaderReceived = s.headerReceived
	srv.Handler = s.refuseUnknownMethods(app, srv.Handler)
	return app
}

// page -> []byte
