package web

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
)

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
		attrs := [7]slog.Attr{
			slog.String("method", c.Method()),
			slog.String("route", route),
			slog.Int("status", c.Response().StatusCode()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", strconv.FormatUint(id, 36)),
		}
		n := 5
		if ref, ok := c.Locals(localsLogin).(string); ok {
			attrs[n], n = slog.String("login", ref), n+1
		}
		if up, ok := c.Locals(localsUpstream).(string); ok {
			// The API passthrough's upstream host (from the app's
			// API_ORIGINS, not from the request): never its path or
			// query, which may hold a token.
			attrs[n], n = slog.String("upstream", up), n+1
		}
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs[:n]...)
	}
}
