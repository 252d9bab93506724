package main

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// runStats are the figures of one run.
type runStats struct {
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	P999ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	Rate       float64 `json:"target_rate,omitempty"`
	Conns      int     `json:"connections"`
	ServerCPU  float64 `json:"server_cpu_cores,omitempty"`
	HarnessCPU float64 `json:"harness_cpu_cores"`
	OtherCPU   float64 `json:"other_cpu_cores"`
	// SendLagP99ms is how late the fixed-rate loop started its ops against
	// their schedule (the harness's own delay, included in the latencies).
	SendLagP99ms float64 `json:"send_lag_p99_ms,omitempty"`
	PeakRSS      int64   `json:"peak_rss_bytes,omitempty"`
	// ProviderConns is how many connections were opened to the fake
	// provider during the run (by handoff's token client and by the
	// harness playing the browser).
	ProviderConns int64  `json:"provider_conns_opened,omitempty"`
	FirstError    string `json:"first_error,omitempty"`
}

type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     atomic.Int64
	firstErr atomic.Pointer[string]
}

func (r *recorder) fail(err error) {
	if r.errs.Add(1) == 1 {
		s := err.Error()
		r.firstErr.Store(&s)
	}
}

func (r *recorder) add(l []time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, l...)
	r.mu.Unlock()
}

func (r *recorder) stats(elapsed time.Duration) runStats {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	s := runStats{Ops: int64(len(r.lat)), Errors: r.errs.Load(), Seconds: elapsed.Seconds()}
	s.PerSec = float64(s.Ops) / elapsed.Seconds()
	s.P50ms = ms(quantile(r.lat, 0.50))
	s.P99ms = ms(quantile(r.lat, 0.99))
	s.P999ms = ms(quantile(r.lat, 0.999))
	if len(r.lat) > 0 {
		s.MaxMs = ms(r.lat[len(r.lat)-1])
	}
	if p := r.firstErr.Load(); p != nil {
		s.FirstError = *p
	}
	return s
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
