package web

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"handoff/internal/metrics"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// The API passthrough (docs/protocol.md#api-passthrough): a plugin calls a
// provider API that sends no CORS headers (HubSpot, Notion) through handoff,
// with its own token. handoff forwards to the app's API_ORIGINS only, adds no
// credential of its own, and streams bodies both ways.
//
// The client is fasthttp's HostClient, one per origin, because:
//   - handoff serves on fasthttp, so the plugin's request body (a
//     fasthttp request stream) and the upstream's answer (a fasthttp body
//     stream, StreamResponseBody) pass from one to the other as they
//     arrive, without an adapter; net/http's ReverseProxy behind Fiber's
//     adaptor would buffer both whole, and a 100 MB answer would cost
//     100 MB;
//   - Fiber's proxy middleware forwards the incoming request as it is
//     (cookies, Origin, X-Forwarded-*, hop-by-hop headers but Connection)
//     and buffers the answer: filtering and streaming would be written
//     around it anyway;
//   - a HostClient per origin means the address to call is fixed when the
//     server starts: no request can name another one, and its DialTimeout
//     is where the addresses a name resolves to are checked.

// Defaults of APIOptions (docs/protocol.md#configuration).
const (
	DefaultAPIMaxBody = 10 << 20
	DefaultAPITimeout = 30 * time.Second
)

// Limits of each upstream's client.
const (
	// apiMaxConns caps connections to one upstream, in flight and idle.
	// Each costs about 40 KB with TLS, so a full pool stays near 5 MB; past
	// it a call waits up to API_TIMEOUT for one, then 503.
	apiMaxConns = 128
	// apiReadBuffer bounds an upstream answer's status line and headers.
	apiReadBuffer = 16 << 10
	// apiMaxConnAge makes long-lived pooled connections dial again, so a
	// change of the upstream's DNS is picked up.
	apiMaxConnAge = 5 * time.Minute
)

// apiMethods are the methods the passthrough forwards, GET first (HEAD
// comes with it). OPTIONS is always a preflight handoff answers itself; CONNECT and
// TRACE are never forwarded (a tunnel, and an echo of the plugin's
// Authorization).
var apiMethods = []string{fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete}

// localsUpstream names the upstream host of a passthrough request, for the
// request log line.
const localsUpstream = "handoff.upstream"

// upstream is one API origin handoff may call.
type upstream struct {
	origin string // canonical, as APIOrigin returns it
	https  bool
	// host is the origin's host[:port]: the Host header, and <host> in
	// /api/<host>/.
	host string
	// loopback: the host is localhost or a loopback address, and only
	// loopback addresses are dialled; any other host dials public
	// addresses only (publicAddr).
	loopback bool
	hc       *fasthttp.HostClient
}

// apiScope is what one mount of the passthrough may call, and the CORS
// rules of its answers: one app's, or at the root with APPS, each app's.
type apiScope struct {
	cors      CORS
	upstreams []*upstream
	// calls counts the calls to each upstream for this app
	// (handoff_api_requests_total), made once here, not per call.
	calls map[*upstream]*metrics.API
}

// passthrough holds the upstreams of every app and what headerReceived
// needs to tell a passthrough request from its request line alone.
type passthrough struct {
	maxBody  int64
	timeout  time.Duration
	byOrigin map[string]*upstream
	// all is one scope per app with origins: the root's /?<URL> form with
	// APPS, which takes the union of the apps' origins.
	all []apiScope
	// prefixes are "<base>api" of each app with origins; bases are where
	// the /?<URL> form is served. Both lower case, as Fiber routes.
	prefixes [][]byte
	bases    [][]byte
}

// newPassthrough builds the upstream clients of opts' apps; nil when no app
// has API origins, which leaves every passthrough route unmounted.
func newPassthrough(opts Options) *passthrough {
	p := &passthrough{maxBody: opts.API.MaxBody, timeout: opts.API.Timeout, byOrigin: map[string]*upstream{}}
	if p.maxBody <= 0 {
		p.maxBody = DefaultAPIMaxBody
	}
	if p.timeout <= 0 {
		p.timeout = DefaultAPITimeout
	}
	rootApp := len(opts.Apps) == 1 && opts.Apps[0].Name == ""
	for _, a := range opts.Apps {
		if len(a.APIOrigins) == 0 {
			continue
		}
		var ups []*upstream
		for _, o := range a.APIOrigins {
			u := p.byOrigin[o]
			if u == nil {
				var err error
				if u, err = p.newUpstream(o); err != nil {
					// config checks every origin with APIOrigin first.
					panic(fmt.Sprintf("web: API origin of app %q: %v", a.Name, err))
				}
				p.byOrigin[o] = u
			}
			ups = append(ups, u)
		}
		p.all = append(p.all, newAPIScope(opts.Metrics, &a, ups))
		base := basePath(a.Name)
		p.prefixes = append(p.prefixes, []byte(base+routeAPI))
		p.bases = append(p.bases, []byte(base))
	}
	if len(p.all) == 0 {
		return nil
	}
	if !rootApp {
		p.bases = append(p.bases, []byte("/"))
	}
	return p
}

// newAPIScope is app a's scope over ups, with its counters.
func newAPIScope(reg *metrics.Registry, a *App, ups []*upstream) apiScope {
	sc := apiScope{cors: a.CORS, upstreams: ups, calls: map[*upstream]*metrics.API{}}
	m := reg.App(a.Name)
	for _, u := range ups {
		sc.calls[u] = m.API(u.host)
	}
	return sc
}

// upstreamsOf returns the upstreams of app a (nil-safe).
func (p *passthrough) upstreamsOf(a *App) []*upstream {
	if p == nil {
		return nil
	}
	var ups []*upstream
	for _, o := range a.APIOrigins {
		ups = append(ups, p.byOrigin[o])
	}
	return ups
}

func (p *passthrough) newUpstream(origin string) (*upstream, error) {
	canon, err := APIOrigin(origin)
	if err != nil {
		return nil, err
	}
	if canon != origin {
		return nil, errors.New("not in canonical form (APIOrigin)")
	}
	u := &upstream{origin: origin}
	rest := origin
	if r, ok := cutPrefixFold(rest, "https://"); ok {
		u.https, rest = true, r
	} else {
		rest = rest[len("http://"):]
	}
	u.host = rest
	hostname, _ := splitHostPort(rest)
	u.loopback = isLoopbackHost(hostname)
	addr := rest
	if _, port := splitHostPort(rest); port == "" {
		if u.https {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	u.hc = &fasthttp.HostClient{
		Addr:  addr,
		IsTLS: u.https,
		TLSConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
		},
		DialTimeout:        u.dial,
		MaxConns:           apiMaxConns,
		MaxConnWaitTimeout: p.timeout,
		MaxConnDuration:    apiMaxConnAge,
		ReadBufferSize:     apiReadBuffer,
		ReadTimeout:        p.timeout,
		WriteTimeout:       p.timeout,
		// Bodies stream: MaxResponseBodySize does not apply to them,
		// and nothing of an answer is held but the read buffer.
		StreamResponseBody: true,
		// One attempt, but for a GET or HEAD on a pooled connection the
		// upstream had closed (retryStale).
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                retryStale,
		// The path goes out as the plugin wrote it (checkAPIPath
		// admitted it): no decoding, no re-encoding.
		DisablePathNormalizing: true,
		// The plugin's User-Agent passes; handoff adds none of its own.
		NoDefaultUserAgentHeader: true,
		// fasthttp's errors would otherwise quote the answer's bytes,
		// and errorHandler logs them.
		SecureErrorLogMessage: true,
	}
	return u, nil
}

// retryStale sends a body-less GET or HEAD again, once, when a pooled
// connection turned out to be closed by the upstream before any byte of the
// answer came: the upstream never saw the request. Nothing else is sent
// twice.
func retryStale(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	if (!req.Header.IsGet() && !req.Header.IsHead()) || req.IsBodyStream() {
		return false, false
	}
	return false, errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF)
}

// matches reports whether a request is for the passthrough, from its
// request line alone (headerReceived runs before routing), as Fiber routes
// it: <base>api and below, or <base> with a /?<URL> query, ignoring case and
// a trailing slash.
func (p *passthrough) matches(h *fasthttp.RequestHeader) bool {
	if p == nil {
		return false
	}
	path, query := splitRequestTarget(h.RequestURI())
	for _, pre := range p.prefixes {
		if len(path) >= len(pre) && bytes.EqualFold(path[:len(pre)], pre) && (len(path) == len(pre) || path[len(pre)] == '/') {
			return true
		}
	}
	if !urlForm(query) {
		return false
	}
	for _, b := range p.bases {
		if bytes.EqualFold(path, b) || len(b) > 1 && bytes.EqualFold(path, b[:len(b)-1]) {
			return true
		}
	}
	return false
}

// apiCall serves <base>api/<host>/<path>?<query>.
func (h *appHandlers) apiCall(c *fiber.Ctx) error {
	if !h.allow(c, routeAPI) {
		return errSlowDown
	}
	t, err := h.pathTarget(c)
	if err != nil {
		return err
	}
	return h.forward(c, t)
}

// rootAllow is the Allow header of a 405 from <base> without the /?<URL>
// query: GET (HEAD with it, as Fiber answers HEAD on GET routes) and
// OPTIONS.
const rootAllow = "GET, HEAD, OPTIONS"

// apiPreflight answers OPTIONS <base>api/<host>/<path> itself: nothing is
// ever sent upstream. A target the call would refuse is let through here,
// so that the plugin can read the call's 403 and its reason (a failed
// preflight reads as a bare network error).
func (h *appHandlers) apiPreflight(c *fiber.Ctx) error {
	return apiPreflightAnswer(c)
}

// rootOr serves <base>: the /?<URL> form of the passthrough when the query
// is a URL, else up (nil: 405, for the methods only that form has, with
// the methods <base> answers without it in Allow).
func (h *appHandlers) rootOr(up fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if q := c.Request().URI().QueryString(); urlForm(q) {
			if h.scopes == nil {
				return errAPIOff
			}
			if !h.allow(c, routeAPI) {
				return errSlowDown
			}
			t, err := h.urlTarget(c, q)
			if err != nil {
				return err
			}
			return h.forward(c, t)
		}
		if up == nil {
			c.Set(fiber.HeaderAllow, rootAllow)
			return fiber.ErrMethodNotAllowed
		}
		return up(c)
	}
}

// rootPreflight answers OPTIONS <base>: the passthrough's preflight for
// the /?<URL> form (with the CORS rules of the app the target belongs to,
// as apiPreflight, whether or not the call will be refused), else the
// routes' own.
func (h *appHandlers) rootPreflight(c *fiber.Ctx) error {
	if q := c.Request().URI().QueryString(); h.scopes != nil && urlForm(q) {
		h.urlTarget(c, q) //nolint:errcheck // only for its choice of CORS rules
		return apiPreflightAnswer(c)
	}
	return h.preflight(c)
}

// apiPreflightAnswer allows the methods the passthrough forwards and the
// headers the plugin asks for (Notion-Version, say), which handoff passes
// on as they are.
func apiPreflightAnswer(c *fiber.Ctx) error {
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, PUT, PATCH, DELETE")
	if hs := c.Request().Header.Peek(fiber.HeaderAccessControlRequestHeaders); isTokenList(hs) {
		c.Response().Header.SetBytesV(fiber.HeaderAccessControlAllowHeaders, hs)
	}
	c.Response().Header.Add(fiber.HeaderVary, fiber.HeaderAccessControlRequestHeaders)
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}
