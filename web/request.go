package web

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// allow applies the per-client-IP limit of a route.
func (s *server) allow(c *fiber.Ctx, route string) bool {
	l := s.limiters[route]
	if l == nil || l.Allow(s.clientIP(c)) {
		return true
	}
	s.opts.Metrics.RateLimited(route).Inc()
	return false
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

// bodyOrQuery reads a parameter from the query, or else from a form
// (urlencoded or multipart) or JSON body (requestParams.bodyOrQuery). The
// query wins, as existing clients send it there (docs/protocol.md#refresh).
// The result is a copy, safe to keep after the handler returns. The
// requestParams stays on the stack: /poll allocates nothing more for it.
func bodyOrQuery(c *fiber.Ctx, name string) string {
	p := requestParams{c: c}
	return p.bodyOrQuery(name)
}
