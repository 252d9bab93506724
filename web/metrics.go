package web

import (
	"context"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
	"handoff/internal/metrics"
)

// registerMetrics reports the size of the per-IP limiters' memory: like the
// flow's stores, each holds at most MAX_PENDING clients.
func (s *server) registerMetrics() {
	if s.opts.Metrics == nil {
		s.opts.Metrics = metrics.New()
	}
	for route, l := range s.limiters {
		s.opts.Metrics.Pending("", "ip_limits_"+route, l.Len)
	}
}

// localsLogin holds the login /authorize started, for its request line.
const localsLogin = "handoff.login"

// noteLogin puts the login's short id on /authorize's request line: that
// line is the one that says a login started, and the login's later lines
// (login completed, tokens delivered, ...) carry the same id. A line of its
// own would double what /authorize writes at info for what one attribute
// says (docs/deploy.md#following-a-login).
func (s *server) noteLogin(c *fiber.Ctx, l flow.Login) {
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		c.Locals(localsLogin, l.LogRef())
	}
}
