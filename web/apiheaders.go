package web

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Which headers the API passthrough passes on (docs/protocol.md#api-passthrough).
// Names are compared ignoring case and without allocating: each request
// goes through these for every header it has.

// hopByHop are the headers of one connection (RFC 9110 §7.6.1), never
// passed on in either direction, with Proxy-* and the names Connection
// lists.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("TE"), []byte("Trailer"),
	[]byte("Transfer-Encoding"), []byte("Upgrade"),
}

// requestOnly are request headers that describe the plugin's page, the
// plugin's cookies for handoff, or handoff's deployment, not the API call:
// Host is the upstream's own; Content-Length comes from the body as it
// streams; Expect was answered by handoff; Forwarded and Via carry what
// X-Forwarded-* and Fly-* do.
var requestOnly = [][]byte{
	[]byte("Host"), []byte("Cookie"), []byte("Origin"), []byte("Referer"),
	[]byte("Content-Length"), []byte("Expect"), []byte("Forwarded"), []byte("Via"),
	[]byte(refusedHeader),
}

// requestPrefixes are the header families of handoff's hosting (Fly's
// proxy sets Fly-Client-IP, Fly-Region, …) and of the proxies in front of
// it.
var requestPrefixes = [][]byte{[]byte("Proxy-"), []byte("Fly-"), []byte("X-Forwarded-")}

// responseOnly are answer headers that would act on handoff's origin, not
// the API's: cookies for handoff's host, HSTS for it, an alternative
// service for it, and CORS headers, which are handoff's own. Content-Length
// comes from the body as it streams.
var responseOnly = [][]byte{
	[]byte("Set-Cookie"), []byte("Set-Cookie2"), []byte("Content-Length"),
	[]byte("Strict-Transport-Security"), []byte("Alt-Svc"),
}

var responsePrefixes = [][]byte{[]byte("Proxy-"), []byte("Access-Control-")}

// copyRequestHeaders adds to dst the plugin's request headers that the
// upstream is to see: Authorization, Content-Type, Accept, Notion-Version
// and the like, as the plugin sent them.
func copyRequestHeaders(dst, src *fasthttp.RequestHeader) {
	conn := src.Peek(fasthttp.HeaderConnection)
	for k, v := range src.All() {
		if inList(k, hopByHop) || inList(k, requestOnly) || hasPrefix(k, requestPrefixes) || namedIn(conn, k) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// copyResponseHeaders adds to dst the upstream's answer headers that the
// plugin is to see, and returns the Access-Control-Expose-Headers value
// that lets it read the rate-limit ones among them: Retry-After and every
// name holding "RateLimit" (X-RateLimit-*, RateLimit-*, HubSpot's
// X-HubSpot-RateLimit-*), each once.
func copyResponseHeaders(dst, src *fasthttp.ResponseHeader) (expose []byte) {
	conn := src.Peek(fasthttp.HeaderConnection)
	for k, v := range src.All() {
		if inList(k, hopByHop) || inList(k, responseOnly) || hasPrefix(k, responsePrefixes) || namedIn(conn, k) {
			continue
		}
		dst.AddBytesKV(k, v)
		if (bytes.EqualFold(k, []byte("Retry-After")) || containsFold(k, []byte("ratelimit"))) && !namedIn(expose, k) {
			if len(expose) > 0 {
				expose = append(expose, ", "...)
			}
			expose = append(expose, k...)
		}
	}
	return expose
}

func inList(k []byte, list [][]byte) bool {
	for _, n := range list {
		if bytes.EqualFold(k, n) {
			return true
		}
	}
	return false
}

func hasPrefix(k []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if len(k) >= len(p) && bytes.EqualFold(k[:len(p)], p) {
			return true
		}
	}
	return false
}

// namedIn reports whether the comma-separated list (a Connection value)
// names k.
func namedIn(list, k []byte) bool {
	for item := range bytes.SplitSeq(list, []byte(",")) {
		if bytes.EqualFold(bytes.Trim(item, " \t"), k) {
			return true
		}
	}
	return false
}

// containsFold is bytes.Contains ignoring ASCII case; sub is lower case.
func containsFold(s, sub []byte) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
