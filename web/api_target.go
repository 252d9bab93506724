package web

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

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
// the whole raw query string, the form existing CORS proxies take
// (docs/protocol.md#api-passthrough).
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

func isHex(b byte) bool { return isDigit(b) || b|0x20 >= 'a' && b|0x20 <= 'f' }

func unhex(b byte) byte {
	if isDigit(b) {
		return b - '0'
	}
	return b | 0x20 - 'a' + 10
}
