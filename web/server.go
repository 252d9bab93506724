// Package web maps HTTP onto package flow: the routes of SPEC §1, CORS,
// limits, request logs, error responses and the HTML pages. It holds no OAuth
// logic of its own.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/valyala/fasthttp"

	"handoff/flow"
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
}

// Options configure the server.
type Options struct {
	Apps   []App
	Logger *slog.Logger
	// RateLimit turns on the per-client-IP limits of /authorize, /redirect
	// and /refresh (the per-read-key poll limit lives in flow).
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
}

// Limits of SPEC §5.5 and §5.8.
const (
	MaxBodyBytes   = 64 << 10
	MaxHeaderBytes = 8 << 10
	// IPLimit is how many requests per minute one client IP may send to
	// each of /authorize, /redirect and /refresh.
	IPLimit = 300
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
	// and its health checks (deploy/flytoml_test.go holds that).
	MaxConnsPerIP = 256
)

type server struct {
	opts      Options
	log       *slog.Logger
	apps      []App
	rootCORS  CORS // for routes outside every app
	requestID atomic.Uint64
	limiters  map[string]*ratelimit.Limiter[string]
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
		opts.MaxClients = 10000
	}
	s := &server{opts: opts, log: opts.Logger, apps: opts.Apps}
	// rootApp: the single app of SPEC §4, served at the root. With APPS
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
		for _, route := range []string{"authorize", "redirect", "refresh"} {
			s.limiters[route] = ratelimit.NewWindow(IPLimit, time.Minute, opts.MaxClients, ratelimit.StringShard)
		}
	}

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
		// A multipart body is parsed on demand (bodyOrQuery), not while
		// fasthttp reads the request: a parse failure there resets the
		// request, Origin included, and the error answer would carry
		// the wrong CORS origin.
		DisablePreParseMultipartForm: true,
	})
	app.Use(s.logRequests, takeBody)

	app.Get("/healthz", s.healthz)
	app.Options("/healthz", s.preflight)
	if opts.Demo != nil {
		app.All(opts.DemoPath+"/*", adaptor.HTTPHandler(opts.Demo))
	}
	for i := range opts.Apps {
		s.mount(app, &opts.Apps[i])
	}
	if !rootApp {
		app.Get("/", s.upNoApp)
		app.Options("/", s.preflight)
	}
	srv := app.Server()
	srv.MaxConnsPerIP = MaxConnsPerIP // fiber.Config has no field for it
	srv.HeaderReceived = headerReceived
	srv.Handler = s.refuseUnknownMethods(app, srv.Handler)
	return app
}

// refuseUnknownMethods answers a method Fiber does not know (FOO, PROPFIND)
// as Fiber answers a known one: 404 not_found on an unknown path, else 405
// method_not_allowed with the route's Allow header, through the error
// handler and with a request log line like any other request. Fiber itself
// would answer a bare 400 before any middleware or the error handler ran.
func (s *server) refuseUnknownMethods(app *fiber.App, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	known := map[string]bool{}
	for _, m := range fiber.DefaultMethods {
		known[m] = true
	}
	// allow: the Allow header of each route path (lower case, no trailing
	// slash: Fiber's default routing ignores case and a trailing slash),
	// methods in Fiber's order. wildcards: "/*" routes by their prefix.
	methods := map[string]map[string]bool{}
	routes := map[string]string{} // routeKey -> the route as registered, for the log
	type wildcard struct{ route, prefix string }
	var wildcards []wildcard
	for _, r := range app.GetRoutes(true) {
		if strings.HasSuffix(r.Path, "/*") {
			wildcards = append(wildcards, wildcard{r.Path, strings.ToLower(strings.TrimSuffix(r.Path, "*"))})
			continue
		}
		p := routeKey(r.Path)
		if methods[p] == nil {
			methods[p] = map[string]bool{}
		}
		methods[p][r.Method] = true
		routes[p] = r.Path
	}
	allow := map[string]string{}
	for p, ms := range methods {
		var list []string
		for _, m := range fiber.DefaultMethods {
			if ms[m] {
				list = append(list, m)
			}
		}
		allow[p] = strings.Join(list, ", ")
	}
	allMethods := strings.Join(fiber.DefaultMethods, ", ")
	return func(ctx *fasthttp.RequestCtx) {
		if known[string(ctx.Method())] { // no allocation: map lookup by converted bytes
			next(ctx)
			return
		}
		start, id := time.Now(), s.requestID.Add(1)
		c := app.AcquireCtx(ctx)
		defer app.ReleaseCtx(c)
		key := routeKey(string(ctx.URI().PathOriginal())) // what Fiber routes on
		route, methods := unmatchedRoute, ""
		if a, ok := allow[key]; ok {
			route, methods = routes[key], a
		} else {
			for _, w := range wildcards {
				if strings.HasPrefix(key, w.prefix) || key+"/" == w.prefix {
					route, methods = w.route, allMethods
					break
				}
			}
		}
		err := readBody(c.Request())
		if err == nil {
			err = fiber.ErrNotFound
			if methods != "" {
				c.Set(fiber.HeaderAllow, methods)
				err = fiber.ErrMethodNotAllowed
			}
		}
		s.logRequest(c, route, start, id, err)
	}
}

// routeKey is a route path as Fiber's default (case-insensitive,
// non-strict) routing compares it.
func routeKey(p string) string {
	p = strings.ToLower(p)
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func (s *server) mount(app *fiber.App, a *App) {
	base := "/"
	if a.Name != "" {
		base = "/" + a.Name + "/"
	}
	h := &appHandlers{server: s, app: a}
	app.Post(base+"authorize", h.cors, h.authorize)
	app.Post(base+"poll", h.cors, h.poll)
	app.Post(base+"refresh", h.cors, h.refresh)
	app.Get(a.RedirectPath, h.cors, h.redirect)
	if s.opts.Demo != nil {
		app.Get(base, h.cors, h.demoPage)
	} else {
		app.Get(base, h.cors, h.up)
	}
	for _, p := range []string{base + "authorize", base + "poll", base + "refresh", a.RedirectPath, base} {
		app.Options(p, h.cors, s.preflight)
	}
}

// appHandlers serves one app's routes.
type appHandlers struct {
	*server
	app *App
}

func (h *appHandlers) cors(c *fiber.Ctx) error {
	setCORS(c, h.app.CORS)
	return c.Next()
}

func setCORS(c *fiber.Ctx, rules CORS) {
	c.Set(fiber.HeaderVary, fiber.HeaderOrigin)
	if o := rules.AllowOrigin(c.Get(fiber.HeaderOrigin)); o != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, o)
	}
}

// corsFor finds the CORS rules for a path outside the app routes (errors
// raised before routing, unknown paths).
func (s *server) corsFor(path string) CORS {
	for _, a := range s.apps {
		if a.Name != "" && (path == "/"+a.Name || strings.HasPrefix(path, "/"+a.Name+"/")) {
			return a.CORS
		}
	}
	return s.rootCORS
}

func (s *server) preflight(c *fiber.Ctx) error {
	if len(c.Response().Header.Peek(fiber.HeaderVary)) == 0 {
		setCORS(c, s.corsFor(c.Path()))
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, OPTIONS")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type, Authorization")
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) healthz(c *fiber.Ctx) error {
	setCORS(c, s.rootCORS)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.SendString(`{"status":"ok"}`)
}

func (s *server) upNoApp(c *fiber.Ctx) error {
	setCORS(c, s.rootCORS)
	return c.SendString("handoff is up and running.")
}

func (h *appHandlers) up(c *fiber.Ctx) error {
	return c.SendString("handoff is up and running.")
}

func (h *appHandlers) authorize(c *fiber.Ctx) error {
	if !h.allow(c, "authorize") {
		return errSlowDown
	}
	login := h.app.Broker.Authorize()
	var arr [1024]byte // on the stack: sendJSON copies it into the response
	buf := append(arr[:0], `{"url":`...)
	buf = appendJSONString(buf, login.URL)
	buf = append(buf, `,"readKey":`...)
	buf = appendJSONString(buf, login.ReadKey)
	buf = append(buf, '}')
	return sendJSON(c, fiber.StatusOK, buf)
}

func (h *appHandlers) poll(c *fiber.Ctx) error {
	key := bodyOrQuery(c, "readKey", "readKey")
	tokens, err := h.app.Broker.Poll(key, flow.PollOptions{ReplayFailed: replayFailed(c)})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, fiber.StatusOK, tokens)
}

func (h *appHandlers) refresh(c *fiber.Ctx) error {
	if !h.allow(c, "refresh") {
		return errSlowDown
	}
	var token string
	if q := c.Request().URI().QueryArgs().Peek("code"); len(q) > 0 {
		// Plugins that put the token in the query unencoded turn its '+'
		// into a space; refresh tokens have no spaces, so undo it.
		token = strings.ReplaceAll(string(q), " ", "+")
	} else {
		token = bodyOrQuery(c, "refresh_token", "refresh_token")
	}
	tokens, err := h.app.Broker.Refresh(context.Background(), token)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, fiber.StatusOK, tokens)
}

func (h *appHandlers) redirect(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodHead {
		// Fiber answers HEAD on GET routes; a link scanner's HEAD must not
		// spend the state and the code that the user's GET needs.
		c.Set(fiber.HeaderAllow, "GET, OPTIONS")
		return fiber.ErrMethodNotAllowed
	}
	c.Locals(localsPage, true) // errors from here on render as pages
	if !h.allow(c, "redirect") {
		return errSlowDown
	}
	q := c.Request().URI().QueryArgs()
	err := h.app.Broker.Redirect(context.Background(), flow.Callback{
		State:            string(q.Peek("state")), // string() copies: the request's memory is reused
		Code:             string(q.Peek("code")),
		Error:            string(q.Peek("error")),
		ErrorDescription: string(q.Peek("error_description")),
		ReplayFailed:     replayFailed(c),
	})
	if err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageAuthenticated)
}

func (h *appHandlers) demoPage(c *fiber.Ctx) error {
	setPageHeaders(c, demoCSP)
	var buf bytes.Buffer
	if err := demoTmpl.Execute(&buf, map[string]any{"Style": asCSS(style), "Script": asJS(demoScript)}); err != nil {
		return err
	}
	return c.Send(buf.Bytes())
}

// allow applies the per-client-IP limit of a route.
func (s *server) allow(c *fiber.Ctx, route string) bool {
	l := s.limiters[route]
	return l == nil || l.Allow(s.clientIP(c))
}

func (s *server) clientIP(c *fiber.Ctx) string {
	ip := ""
	if s.opts.TrustFlyClientIP {
		ip = c.Get("Fly-Client-IP")
	}
	if ip == "" {
		ip = c.IP()
	}
	return limitKey(ip)
}

// limitKey is the per-client key of an IP address: the address itself for
// IPv4, its /64 for IPv6, since one client usually holds a whole /64 and
// could otherwise take a fresh budget from each of its addresses. The result
// never shares memory with the request (c.Get and c.IP return views of
// fasthttp's reused buffers; the limiter keeps its keys).
func limitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return strings.Clone(ip)
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.Prefix(64) // 64 bits always fit an IPv6 address
		return prefix.String()
	}
	return addr.String()
}

func replayFailed(c *fiber.Ctx) bool {
	return len(c.Request().Header.Peek("Fly-Replay-Failed")) > 0
}

// bodyOrQuery reads a parameter from the query, or else from a form
// (urlencoded or multipart) or JSON body. The query wins, as the worker's clients send it there. The result is
// a copy, safe to keep after the handler returns.
func bodyOrQuery(c *fiber.Ctx, queryName, bodyName string) string {
	if v := c.Request().URI().QueryArgs().Peek(queryName); len(v) > 0 {
		return string(v)
	}
	body := c.Request().Body() // as sent: c.Body() would decompress it (readBody refused that anyway)
	if len(body) == 0 {
		return ""
	}
	ct := string(c.Request().Header.ContentType())
	if strings.HasPrefix(ct, fiber.MIMEApplicationJSON) || body[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			var s string
			if json.Unmarshal(m[bodyName], &s) == nil {
				return s
			}
		}
		return ""
	}
	if len(ct) >= len(fiber.MIMEMultipartForm) && strings.EqualFold(ct[:len(fiber.MIMEMultipartForm)], fiber.MIMEMultipartForm) {
		// A FormData body, as fetch sends it (a CORS simple request too).
		if f, err := c.Request().MultipartForm(); err == nil {
			if v := f.Value[bodyName]; len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	return string(c.Request().PostArgs().Peek(bodyName))
}

// sendJSON copies body into the response's own (pooled) buffer, so callers
// may build it on the stack.
func sendJSON(c *fiber.Ctx, status int, body []byte) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Status(status).Response().SetBody(body)
	return nil
}

// appendJSONString appends s as a JSON string, escaping only what JSON
// requires (URLs keep their '&', as the worker sends them).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] needs no escaping: appended in one go
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 0x20 && ch != '"' && ch != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		if ch < 0x20 {
			dst = append(dst, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		} else {
			dst = append(dst, '\\', ch)
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var errSlowDown = &flow.Error{Kind: flow.KindSlowDown, Code: "slow_down",
	Description: "too many requests; wait a moment and try again"}

const localsPage = "handoff.page"

// errorHandler is the one place errors become HTTP responses: JSON for the
// API, an HTML page for the redirect route.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	if len(c.Response().Header.Peek(fiber.HeaderVary)) == 0 {
		setCORS(c, s.corsFor(c.Path()))
	}
	if ferr, ok := asFlowError(err); ok {
		if ferr.Kind == flow.KindElsewhere {
			// Fly's proxy replays the request on the owner and drops
			// this answer, which has no body (SPEC §9; SendStatus would
			// add the status text).
			c.Set("Fly-Replay", "instance="+ferr.Machine+";timeout=2s;fallback=force_self")
			return c.Status(fiber.StatusServiceUnavailable).Send(nil)
		}
		if ferr.Kind == flow.KindSlowDown {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		if isPage, _ := c.Locals(localsPage).(bool); isPage {
			status, p := pageFor(ferr)
			return renderPage(c, status, p)
		}
		if ferr.Body != nil && ferr.Kind == flow.KindProviderRejected {
			// The provider's own error JSON, so the plugin sees what
			// the provider said (invalid_grant: log in again).
			return sendJSON(c, refusedStatus(ferr.Status), ferr.Body)
		}
		return sendError(c, apiStatus(ferr), ferr.Code, ferr.Description)
	}
	fe, ok := asFiberError(err)
	if !ok {
		s.log.Error("request failed", "route", c.Route().Path, "err", err)
		fe = fiber.ErrInternalServerError
	}
	code, desc := "server_error", "internal error"
	switch fe.Code {
	case fiber.StatusNotFound:
		code, desc = "not_found", "no such route"
	case fiber.StatusMethodNotAllowed:
		code, desc = "method_not_allowed", "method not allowed on this route"
	case fiber.StatusRequestEntityTooLarge:
		code, desc = "invalid_request", "the request body is over 64 KiB"
	case fiber.StatusUnsupportedMediaType:
		code, desc = "invalid_request", "a request body must not be compressed: send it without Content-Encoding"
	case fiber.StatusRequestHeaderFieldsTooLarge, fiber.StatusRequestURITooLong:
		code, desc = "invalid_request", "the request headers or URL are too large"
	case fiber.StatusRequestTimeout:
		code, desc = "invalid_request", "the request took too long to arrive"
	case fiber.StatusBadRequest:
		code, desc = "invalid_request", "malformed request"
	}
	return sendError(c, fe.Code, code, desc)
}

// asFlowError is errors.As for *flow.Error, without its allocation when err
// is one itself (every error flow returns).
func asFlowError(err error) (*flow.Error, bool) {
	if e, ok := err.(*flow.Error); ok {
		return e, true
	}
	var e *flow.Error
	ok := errors.As(err, &e)
	return e, ok
}

// asFiberError is errors.As for *fiber.Error, likewise (404 and 405 from
// the router).
func asFiberError(err error) (*fiber.Error, bool) {
	if e, ok := err.(*fiber.Error); ok {
		return e, true
	}
	var e *fiber.Error
	ok := errors.As(err, &e)
	return e, ok
}

func sendError(c *fiber.Ctx, status int, code, desc string) error {
	var arr [256]byte // on the stack: sendJSON copies it
	buf := append(arr[:0], `{"error":`...)
	buf = appendJSONString(buf, code)
	buf = append(buf, `,"error_description":`...)
	buf = appendJSONString(buf, desc)
	buf = append(buf, '}')
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, status, buf)
}

// apiStatus maps flow's error kinds to statuses of the JSON API (SPEC §1).
func apiStatus(e *flow.Error) int {
	switch e.Kind {
	case flow.KindInvalidRequest, flow.KindInvalidState:
		return fiber.StatusBadRequest
	case flow.KindPending:
		return fiber.StatusNotFound // what the worker answers, and clients rely on
	case flow.KindGone, flow.KindOwnerGone, flow.KindCancelled:
		return fiber.StatusGone
	case flow.KindSlowDown:
		return fiber.StatusTooManyRequests
	case flow.KindProviderRejected:
		return refusedStatus(e.Status)
	case flow.KindProviderTimeout:
		return fiber.StatusGatewayTimeout
	default:
		return fiber.StatusBadGateway
	}
}

// refusedStatus passes on the provider's 4xx; a 200 that carried an error
// becomes 400.
func refusedStatus(status int) int {
	if status >= 400 && status < 500 {
		return status
	}
	return fiber.StatusBadRequest
}

// pageFor maps flow's error kinds to the redirect route's pages.
func pageFor(e *flow.Error) (int, page) {
	switch e.Kind {
	case flow.KindInvalidState:
		return fiber.StatusBadRequest, pageInvalidLink
	case flow.KindCancelled:
		p := pageCancelled
		p.Detail = e.Description
		return fiber.StatusOK, p
	case flow.KindInvalidRequest:
		return fiber.StatusBadRequest, pageBadRequest
	case flow.KindProviderTimeout:
		return fiber.StatusGatewayTimeout, pageProviderTimeout
	case flow.KindOwnerGone:
		return fiber.StatusServiceUnavailable, pageOwnerGone
	case flow.KindSlowDown:
		p := pageProviderFailed
		p.Outcome, p.Title, p.Message = "slow_down", "Too many requests", "Too many logins from this address. Wait a minute and start the login again from the plugin."
		return fiber.StatusTooManyRequests, p
	default:
		return fiber.StatusBadGateway, pageProviderFailed
	}
}

// renderedPages holds the HTML of pages without a Detail, which depend only
// on constants (the keys are the page values of pages.go and pageFor), so
// each is rendered once: executing the template was an eighth of the
// server's time in a whole login.
var renderedPages sync.Map // page -> []byte

func renderPage(c *fiber.Ctx, status int, p page) error {
	p.Style = asCSS(style)
	var body []byte
	if p.Detail == "" {
		if b, ok := renderedPages.Load(p); ok {
			body = b.([]byte)
		}
	}
	if body == nil {
		var buf bytes.Buffer
		if err := pageTmpl.Execute(&buf, p); err != nil {
			return err
		}
		body = buf.Bytes()
		if p.Detail == "" {
			renderedPages.Store(p, body)
		}
	}
	setPageHeaders(c, pageCSP)
	c.Status(status).Response().SetBody(body) // a copy: the cached bytes stay as they are
	return nil
}

func setPageHeaders(c *fiber.Ctx, csp string) {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// unmatchedRoute is what the request log says for a request no route
// matched (an unknown path, or one refused before routing): the path itself
// may carry a code, a state or a key.
const unmatchedRoute = "(unmatched)"

// logRequests serves every routed request, as the first middleware, and
// logs it.
func (s *server) logRequests(c *fiber.Ctx) error {
	start, id := time.Now(), s.requestID.Add(1)
	s.logRequest(c, "", start, id, c.Next())
	return nil
}

// logRequest turns err, if any, into the answer through the error handler,
// and writes one line: method, route pattern, status, duration and a request
// id. Never the query string or the raw path: both can carry codes, states,
// read keys or refresh tokens. route is the pattern when the caller knows it,
// "" to take the one Fiber matched.
func (s *server) logRequest(c *fiber.Ctx, route string, start time.Time, id uint64, err error) {
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		if route == "" {
			// Only the middleware's "/" matched: an unknown path, or a
			// request refused before routing (takeBody).
			if route = c.Route().Path; route == "/" && c.Path() != "/" {
				route = unmatchedRoute
			}
		}
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", c.Method()),
			slog.String("route", route),
			slog.Int("status", c.Response().StatusCode()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", strconv.FormatUint(id, 36)),
		)
	}
}
