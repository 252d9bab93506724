package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

func scrape(t *testing.T, r *Registry) map[string]float64 {
	t.Helper()
	var buf bytes.Buffer
	r.WritePrometheus(&buf)
	m, err := testkit.ParseMetrics(buf.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return m
}

// Every series of an app is served from the start at 0, so a dashboard's
// rate() has a first point, and counting moves only its own series.
func TestSeriesStartAtZero(t *testing.T) {
	r := New()
	a := r.App("sheets")
	a.LoginStarted()
	a.LoginFinished(NotCollected)
	a.Refreshed(Replayed)
	a.Revoked(Unsupported)
	a.ProviderCall(Exchange, 300*time.Millisecond)
	m := scrape(t, r)
	want := map[string]float64{
		`handoff_logins_started_total{handoff_app="sheets"}`:                              1,
		`handoff_logins_finished_total{handoff_app="sheets",outcome="not_collected"}`:     1,
		`handoff_logins_finished_total{handoff_app="sheets",outcome="delivered"}`:         0,
		`handoff_refresh_total{handoff_app="sheets",result="replayed"}`:                   1,
		`handoff_revoke_total{handoff_app="sheets",result="unsupported"}`:                 1,
		`handoff_provider_seconds_count{handoff_app="sheets",call="exchange"}`:            1,
		`handoff_provider_seconds_bucket{handoff_app="sheets",call="exchange",le="0.25"}`: 0,
		`handoff_provider_seconds_bucket{handoff_app="sheets",call="exchange",le="0.5"}`:  1,
		`handoff_provider_seconds_count{handoff_app="sheets",call="revoke"}`:              0,
		`handoff_rate_limited_total{route="authorize"}`:                                   0,
		`handoff_fly_replays_total{result="sent"}`:                                        0,
	}
	for series, v := range want {
		if got, ok := m[series]; !ok || got != v {
			t.Errorf("%s = %v (served: %v), want %v", series, got, ok, v)
		}
	}
	// Results that cannot happen are not served as if they could.
	for _, series := range []string{`handoff_refresh_total{handoff_app="sheets",result="unsupported"}`, `handoff_revoke_total{handoff_app="sheets",result="replayed"}`} {
		if _, ok := m[series]; ok {
			t.Errorf("%s is served", series)
		}
	}
}

func TestAPIClasses(t *testing.T) {
	r := New()
	api := r.App("").API("api.hubapi.com")
	for _, status := range []int{200, 204, 301, 404, 429, 503, 0, 600} {
		api.Answered(status)
	}
	api.Failed()
	m := scrape(t, r)
	for class, want := range map[string]float64{"2xx": 2, "3xx": 1, "4xx": 2, "5xx": 1, "error": 3} {
		series := `handoff_api_requests_total{handoff_app="",upstream="api.hubapi.com",class="` + class + `"}`
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
}

func TestLabelQuoting(t *testing.T) {
	r := New()
	r.App("").API(`a"b\c`).Failed()
	if _, ok := scrape(t, r)[`handoff_api_requests_total{handoff_app="",upstream="a\"b\\c",class="error"}`]; !ok {
		t.Error("a quote in a label value is not escaped")
	}
}

func TestPendingGauge(t *testing.T) {
	r := New()
	n := 3
	r.Pending("", "tokens", func() int { return n })
	r.MaxPending(10000)
	n = 5 // read at scrape time
	m := scrape(t, r)
	if m[`handoff_pending{handoff_app="",store="tokens"}`] != 5 || m[`handoff_max_pending`] != 10000 {
		t.Errorf("gauges: %v", m)
	}
}

// The listener serves /metrics and nothing else.
func TestServe(t *testing.T) {
	r := New()
	r.App("").LoginStarted()
	s, err := Serve("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("GET", "/metrics"); code != 200 || !strings.Contains(body, `handoff_logins_started_total{handoff_app=""} 1`) ||
		!strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	if code, _ := get("GET", "/"); code != 404 {
		t.Errorf("GET /: %d, want 404", code)
	}
	if code, _ := get("POST", "/metrics"); code != 405 {
		t.Errorf("POST /metrics: %d, want 405", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Get(base + "/metrics"); err == nil {
		t.Error("still serving after Shutdown")
	}
}
