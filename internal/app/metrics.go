package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"handoff/internal/config"
	"handoff/internal/metrics"
)

// serveMetrics starts the METRICS_ADDR listener, if there is one, and
// returns what stops it. It is a listener of its own so that the public port
// never serves the metrics (docs/protocol.md#metrics). It stops after the
// public server has drained, so a scrape during the drain still answers.
func serveMetrics(cfg *config.Config, s *Server, log *slog.Logger) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ms, err := metrics.Serve(cfg.MetricsAddr, s.Metrics)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	log.Info("metrics listening", "addr", ms.Addr().String(), "path", metrics.Path)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := ms.Shutdown(ctx); err != nil {
			log.Warn("metrics listener did not stop cleanly", "err", err)
		}
	}, nil
}
