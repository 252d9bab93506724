package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

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
			// Keyed by the route as registered, which no request
			// path's routeKey can equal.
			if methods[r.Path] == nil {
				methods[r.Path] = map[string]bool{}
				wildcards = append(wildcards, wildcard{r.Path, strings.ToLower(strings.TrimSuffix(r.Path, "*"))})
			}
			methods[r.Path][r.Method] = true
			continue
		}
		p := routeKey(r.Path)
		if methods[p] == nil {
			methods[p] = map[string]bool{}
		}
		methods[p][r.Method] = true
		routes[p] = r.Path
	}
	// HEAD on a redirect route is registered (Fiber answers HEAD on GET
	// routes) but refused (redirect): its Allow leaves HEAD out.
	for k := range s.redirectKeys {
		delete(methods[k], fiber.MethodHead)
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
					route, methods = w.route, allow[w.route]
					break
				}
			}
		}
		err := s.readBody(c.Request())
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

// The routes of one app, below its base path ("/", or "/<app>/" with
// several apps): docs/protocol.md#routes. The redirect route is the path of
// the app's REDIRECT_URI.
const (
	routeAuthorize = "authorize"
	routePoll      = "poll"
	routeRefresh   = "refresh"
	routeRevoke    = "revoke"
	// routeRedirect names the redirect route for its rate limit and
	// metrics; its path is the app's RedirectPath.
	routeRedirect = "redirect"
	// routeAPI is the API passthrough: <base>api/<host>/<path>.
	routeAPI   = "api"
	healthPath = "/healthz"
)

// appRoutes are the POST routes of an app, each also answering OPTIONS.
var appRoutes = []string{routeAuthorize, routePoll, routeRefresh, routeRevoke}

// basePath is where an app's routes live.
func basePath(appName string) string {
	if appName == "" {
		return "/"
	}
	return "/" + appName + "/"
}

// ReservedPath reports whether path reaches one of handoff's own routes for
// the app called appName (or /healthz), as the router compares paths: then
// it cannot be the app's redirect route. Paths under <base>api/ are the
// API passthrough's, whether or not the app has API origins.
func ReservedPath(appName, path string) bool {
	key, base := routeKey(path), basePath(appName)
	if key == healthPath || key == routeKey(base) {
		return true
	}
	if key == base+routeAPI || strings.HasPrefix(key, base+routeAPI+"/") {
		return true
	}
	for _, r := range appRoutes {
		if key == base+r {
			return true
		}
	}
	return false
}

func (s *server) mount(app *fiber.App, a *App) {
	base := basePath(a.Name)
	h := &appHandlers{server: s, app: a, pages: newAppPages(a.PluginName, a.ProviderName)}
	handlers := map[string]fiber.Handler{routeAuthorize: h.authorize, routePoll: h.poll, routeRefresh: h.refresh, routeRevoke: h.revoke}
	for _, r := range appRoutes {
		app.Post(base+r, h.cors, handlers[r])
		app.Options(base+r, h.cors, s.preflight)
	}
	app.Get(a.RedirectPath, h.cors, h.redirect)
	s.redirectKeys[routeKey(a.RedirectPath)] = true
	app.Options(a.RedirectPath, h.cors, s.preflight)
	if ups := s.api.upstreamsOf(a); len(ups) > 0 {
		h.scopes = []apiScope{newAPIScope(s.opts.Metrics, a, ups)}
		app.Get(base+routeAPI+"/*", h.cors, h.apiCall) // and HEAD
		for _, m := range apiMethods[1:] {
			app.Add(m, base+routeAPI+"/*", h.cors, h.apiCall)
		}
		app.Options(base+routeAPI+"/*", h.cors, h.apiPreflight)
	}
	up := h.up
	if s.opts.Demo != nil {
		up = h.demoPage
	}
	s.mountRoot(app, base, h, up)
}

// mountRoot serves base ("/" or "/<app>/"): the "up" line, or the demo
// page, and, where h has API origins, the /?<URL> form of the passthrough
// with the methods it forwards. GET base without such a query answers
// exactly as it did before the passthrough existed.
func (s *server) mountRoot(app *fiber.App, base string, h *appHandlers, up fiber.Handler) {
	app.Get(base, h.cors, h.rootOr(up))
	app.Options(base, h.cors, h.rootPreflight)
	if h.scopes != nil {
		for _, m := range apiMethods[1:] {
			app.Add(m, base, h.cors, h.rootOr(nil))
		}
	}
}

// setCORS sets the CORS headers of rules, replacing any set before (the
// /?<URL> form picks its rules once it knows the target).
func setCORS(c *fiber.Ctx, rules CORS) {
	c.Set(fiber.HeaderVary, fiber.HeaderOrigin)
	if o := rules.AllowOrigin(c.Get(fiber.HeaderOrigin)); o != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, o)
	} else {
		c.Response().Header.Del(fiber.HeaderAccessControlAllowOrigin)
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
