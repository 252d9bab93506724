package web

import "handoff/internal/metrics"

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
