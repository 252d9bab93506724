package web

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"handoff/internal/metrics"
	"io"
	"net"
	"os"
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

// splitRequestTarget splits a raw request target (origin form, or absolute
// form as proxies send it) into its path and query.
func splitRequestTarget(uri []byte) (path, query []byte) {
	if len(uri) > 0 && uri[0] != '/' {
		if i := bytes.Index(uri, []byte("://")); i >= 0 {
			uri = uri[i+3:]
			if j := bytes.IndexAny(uri, "/?"); j >= 0 {
				uri = uri[j:]
			} else {
				uri = nil
			}
		}
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, nil
}

// urlForm reports whether a query is the /?<URL> form of the passthrough:
// it starts with a URI scheme and ':' (https:, but ftp: too, to be
// refused), with '//', or with a scheme and a percent-encoded ':'. Any other
// query on / (a cache-buster) leaves / as it always was.
func urlForm(q []byte) bool {
	if bytes.HasPrefix(q, []byte("//")) {
		return true
	}
	i := 0
	for i < len(q) && (isAlpha(q[i]) || i > 0 && (isDigit(q[i]) || q[i] == '+' || q[i] == '-' || q[i] == '.')) {
		i++
	}
	if i == 0 || i == len(q) {
		return false
	}
	return q[i] == ':' || q[i] == '%' && len(q) > i+2 && q[i+1] == '3' && q[i+2]|0x20 == 'a'
}

// apiTarget is a checked passthrough target. path and query are views of
// the request's memory: valid only while the handler runs.
type apiTarget struct {
	up    *upstream
	scope *apiScope
	path  []byte // begins with '/'
	query []byte
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

// apiPreflight answers OPTIONS <base>api/<host>/<path> itself: nothing is
// ever sent upstream. A target the call would refuse is let through here,
// so that the plugin can read the call's 403 and its reason (a failed
// preflight reads as a bare network error).
func (h *appHandlers) apiPreflight(c *fiber.Ctx) error {
	return apiPreflightAnswer(c)
}

// rootOr serves <base>: the /?<URL> form of the passthrough when the query
// is a URL, else up (nil: 405, for the methods only that form has).
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

// pathTarget reads the target of <base>api/<host>/<path>?<query> from the
// raw path (never the decoded one: an encoded '/' or '.' must not become
// structure).
func (h *appHandlers) pathTarget(c *fiber.Ctx) (apiTarget, error) {
	raw := c.Request().URI().PathOriginal()
	prefix := basePath(h.app.Name) + routeAPI + "/"
	if len(raw) < len(prefix) || !bytes.EqualFold(raw[:len(prefix)], []byte(prefix)) || hasFragment(c) {
		return apiTarget{}, errAPITarget
	}
	rest := raw[len(prefix):]
	host, path := rest, []byte("/")
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	scope := &h.scopes[0]
	for _, u := range scope.upstreams {
		if bytes.EqualFold(host, []byte(u.host)) {
			return checkTarget(apiTarget{up: u, scope: scope, path: path, query: c.Request().URI().QueryString()})
		}
	}
	return apiTarget{}, errAPITarget
}

// urlTarget reads the target of <base>?<scheme>://<host>/<path>?<query>:
// the whole raw query string, as Framer's cors-proxy worker takes it.
// Among the scopes listing the origin, the first whose CORS rules admit the
// request's Origin answers.
func (h *appHandlers) urlTarget(c *fiber.Ctx, q []byte) (apiTarget, error) {
	fail := func(err error) (apiTarget, error) {
		if len(h.scopes) > 1 {
			// At the root with APPS: the refusal is readable by a
			// plugin of any app.
			origin := c.Get(fiber.HeaderOrigin)
			for i := range h.scopes {
				if o := h.scopes[i].cors.AllowOrigin(origin); o != "" && o == origin {
					setCORS(c, h.scopes[i].cors)
					break
				}
			}
		}
		return apiTarget{}, err
	}
	i := bytes.Index(q, []byte("://"))
	if i < 0 {
		if bytes.Contains(bytes.ToLower(q[:min(len(q), 12)]), []byte("%3a")) {
			return fail(errAPIEncoded)
		}
		return fail(errAPITarget)
	}
	scheme, rest := q[:i], q[i+3:]
	var https bool
	switch {
	case bytes.EqualFold(scheme, []byte("https")):
		https = true
	case bytes.EqualFold(scheme, []byte("http")):
	default:
		return fail(errAPITarget)
	}
	if hasFragment(c) {
		return fail(errAPITarget)
	}
	end := len(rest)
	if j := bytes.IndexAny(rest, "/?"); j >= 0 {
		end = j
	}
	host, tail := rest[:end], rest[end:]
	path, query := tail, []byte(nil)
	if j := bytes.IndexByte(tail, '?'); j >= 0 {
		path, query = tail[:j], tail[j+1:]
	}
	if len(path) == 0 {
		path = []byte("/")
	}
	u, scope := h.pick(https, host, c.Get(fiber.HeaderOrigin))
	if u == nil {
		return fail(errAPITarget)
	}
	t, err := checkTarget(apiTarget{up: u, scope: scope, path: path, query: query})
	if err != nil {
		return fail(err)
	}
	setCORS(c, t.scope.cors)
	return t, nil
}

// pick finds the upstream of scheme and host among h's scopes: in the first
// scope that lists it and whose CORS rules admit origin, else in the first
// that lists it.
func (h *appHandlers) pick(https bool, host []byte, origin string) (*upstream, *apiScope) {
	var fu *upstream
	var fs *apiScope
	for si := range h.scopes {
		scope := &h.scopes[si]
		for _, u := range scope.upstreams {
			if u.https != https || !bytes.EqualFold(host, []byte(u.host)) {
				continue
			}
			if origin != "" && scope.cors.AllowOrigin(origin) == origin {
				return u, scope
			}
			if fu == nil {
				fu, fs = u, scope
			}
		}
	}
	return fu, fs
}

// hasFragment reports a '#' in the request target, which fasthttp would
// cut off: nothing of a target is silently dropped.
func hasFragment(c *fiber.Ctx) bool {
	return bytes.IndexByte(c.Request().Header.RequestURI(), '#') >= 0
}

// checkTarget refuses a path that could climb out of the origin's root or
// mean something else to another parser, and a query with bytes a URL
// does not hold.
func checkTarget(t apiTarget) (apiTarget, error) {
	if !checkAPIPath(t.path) || !checkAPIQuery(t.query) {
		return apiTarget{}, errAPIPath
	}
	return t, nil
}

// checkAPIPath admits a path of RFC 3986 segments (unreserved characters,
// sub-delimiters, ':', '@' and percent-encodings) and refuses: "." and ".."
// segments, empty segments but a trailing one, a percent-encoded '/', '\',
// '.' or control character (%2F, %5C, %2E: each means structure to some
// parser), a raw backslash, and anything outside ASCII.
func checkAPIPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if len(seg) == 0 && i < len(p) || string(seg) == "." || string(seg) == ".." {
				return false
			}
			segStart = i + 1
			continue
		}
		switch b := p[i]; {
		case b == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if d == '/' || d == '\\' || d == '.' || d < 0x20 || d == 0x7f {
				return false
			}
			i += 2
		case isAlpha(b) || isDigit(b):
		case bytes.IndexByte([]byte("-._~!$&'()*+,;=:@"), b) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkAPIQuery admits printable ASCII but '\' and '#'; the query is
// otherwise the upstream's business and goes out as it came.
func checkAPIQuery(q []byte) bool {
	for _, b := range q {
		if b <= ' ' || b >= 0x7f || b == '\\' || b == '#' {
			return false
		}
	}
	return true
}

// forward sends the request to t and streams the answer back.
func (h *appHandlers) forward(c *fiber.Ctx, t apiTarget) error {
	p := h.server.api
	c.Locals(localsUpstream, t.up.host)
	in := c.Request()
	if viaHandoff(&in.Header) {
		return errAPILoop
	}
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)

	uri := make([]byte, 0, 8+len(t.up.host)+len(t.path)+1+len(t.query))
	uri = append(append(uri, t.up.origin...), t.path...)
	if len(t.query) > 0 {
		uri = append(append(uri, '?'), t.query...)
	}
	out.SetRequestURIBytes(uri)
	out.Header.SetMethodBytes(in.Header.Method())
	out.Header.SetNoDefaultContentType(true)
	copyRequestHeaders(&out.Header, &in.Header)
	// RFC 9110 §7.6.3; it names no deployment, and viaHandoff stops a
	// call that comes back to a handoff (one listing its own origin, or
	// another's).
	out.Header.Set(fiber.HeaderVia, viaValue)
	var body *limitedBody
	if n := in.Header.ContentLength(); n > 0 || n == -1 {
		if stream := in.BodyStream(); stream != nil {
			body = &limitedBody{r: stream, left: p.maxBody, short: int64(n)}
			out.SetBodyStream(body, n)
		} else {
			out.SetBodyRaw(in.Body()) // never reached: takeBody leaves passthrough bodies streamed
		}
	}

	resp := fasthttp.AcquireResponse()
	resp.Header.SetNoDefaultContentType(true) // no Content-Type the upstream did not send
	calls := t.scope.calls[t.up]
	if err := t.up.hc.DoTimeout(out, resp, p.timeout); err != nil {
		fasthttp.ReleaseResponse(resp)
		calls.Failed()
		return callError(t.up, body, err)
	}
	calls.Answered(resp.StatusCode())
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// Upgrade was not forwarded; an upstream switching anyway is broken.
		fasthttp.ReleaseResponse(resp)
		return fmt.Errorf("API call to %s: %w: 101 Switching Protocols", t.up.host, errAPIUnreachable)
	}

	c.Status(resp.StatusCode())
	c.Response().Header.SetNoDefaultContentType(true)
	expose := copyResponseHeaders(&c.Response().Header, &resp.Header)
	if len(expose) > 0 {
		c.Response().Header.SetBytesV(fiber.HeaderAccessControlExposeHeaders, expose)
	}
	// The answer is served from handoff's origin: opened as a page, it
	// must not run there (an API may answer HTML), nor be sniffed into
	// something else. fetch() ignores both.
	c.Response().Header.Add(fiber.HeaderContentSecurityPolicy, "sandbox; default-src 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")

	if stream := resp.BodyStream(); stream != nil {
		n := resp.Header.ContentLength()
		if n < 0 {
			n = -1 // chunked, or to the connection's end: chunked to the plugin
		}
		c.Response().SetBodyStream(&upstreamBody{resp: resp, r: stream}, n)
		return nil
	}
	// HEAD, 204, 304: no body came, and the connection is back in the
	// pool. (A body fasthttp read whole, which StreamResponseBody never
	// leaves, would be copied.)
	if b := resp.Body(); len(b) > 0 {
		c.Response().SetBody(b) // a copy: resp goes back to its pool
	}
	if in.Header.IsHead() && resp.Header.ContentLength() >= 0 {
		c.Response().Header.SetContentLength(resp.Header.ContentLength())
		c.Response().SkipBody = true
	}
	fasthttp.ReleaseResponse(resp)
	return nil
}

// viaValue is the Via entry handoff adds to each call.
const viaValue = "1.1 handoff"

// viaHandoff reports whether a request already went through a handoff's
// passthrough: its Via names handoff. Without this, a deployment whose
// API_ORIGINS lists its own origin would forward /api/<self>/api/<self>/…
// to itself once per segment, each hop holding a connection.
func viaHandoff(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll(fiber.HeaderVia) {
		for len(v) > 0 {
			entry := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				entry, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			fields := bytes.Fields(entry)
			if len(fields) >= 2 && bytes.EqualFold(fields[1], []byte("handoff")) {
				return true
			}
		}
	}
	return false
}

// callError says why a call failed: the plugin's body (over API_MAX_BODY,
// too slow, cut short) or the upstream (too slow, busy, unreachable).
func callError(u *upstream, body *limitedBody, err error) error {
	switch {
	case body != nil && body.over:
		return errAPIBodyLarge
	case body != nil && body.err != nil:
		if isTimeout(body.err) {
			return errBodyTooSlow
		}
		return errBadBody
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPIBusy, err)
	case isTimeout(err):
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPITimeout, err)
	default:
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPIUnreachable, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, fasthttp.ErrDialTimeout) || errors.As(err, &ne) && ne.Timeout()
}

// limitedBody is the plugin's request body on its way upstream: it fails
// past max bytes, and remembers why it failed, so that a failed call can be
// told apart from a failed upload.
type limitedBody struct {
	r    io.Reader
	left int64
	// short is how many bytes of a declared length are still due.
	short int64
	over  bool  // more than API_MAX_BODY came (a chunked body)
	err   error // reading the plugin's body failed, or it ended short
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		b.over = true
		return 0, errAPIBodyLarge
	}
	b.left -= int64(n)
	b.short -= int64(n)
	if err == io.EOF && b.short > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// upstreamBody is an upstream answer's body as handoff's answer streams it.
// fasthttp closes it once the answer is written or the plugin has gone;
// Close then gives the connection back to the pool (or closes it, if the
// body was not read to its end) and the Response to fasthttp's pool.
type upstreamBody struct {
	resp   *fasthttp.Response
	r      io.Reader
	closed bool
}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *upstreamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

// isTokenList admits an Access-Control-Request-Headers value: header names
// separated by commas and spaces.
func isTokenList(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, b := range v {
		if !(isAlpha(b) || isDigit(b) || b == ',' || b == ' ' || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), b) >= 0) {
			return false
		}
	}
	return true
}

func isAlpha(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isHex(b byte) bool   { return isDigit(b) || b|0x20 >= 'a' && b|0x20 <= 'f' }

func unhex(b byte) byte {
	if isDigit(b) {
		return b - '0'
	}
	return b | 0x20 - 'a' + 10
}
