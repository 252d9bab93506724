// Package metrics tests METRICS_ADDR from outside (docs/protocol.md#metrics):
// the built binary serves three apps against an in-process mock provider,
// logins end in each way a test can cause, and the counters read from the
// metrics listener must say what happened; the public port must not serve
// them. The log must let one follow each login at info, without a secret.
package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

const (
	clientID     = "metrics-client"
	clientSecret = "mt-Zq8vN3xR7pL2wK9sT4yB"
)

// Three apps, so the app label is checked too: main keeps the default TTLs,
// drop's tokens wait one second, late's logins last one second.
var apps = []string{"main", "drop", "late"}

var sealKeys = map[string]string{
	"main": "5c1f8e2a9b7d4c3e6f0a1b2c8d9e7f4a3b6c5d2e1f0a9b8c7d6e5f4a3b2c1d0e",
	"drop": "8e7d6c5b4a392817f6e5d4c3b2a19081726354a5b6c7d8e9f0a1b2c3d4e5f607",
	"late": "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff01",
}

type server struct {
	proc    *testkit.Proc
	metrics string // http://127.0.0.1:PORT of METRICS_ADDR
	secrets *testkit.Secrets
}

func start(t *testing.T) *server {
	t.Helper()
	mp := mockprovider.New(mockprovider.Options{ClientID: clientID, ClientSecret: clientSecret, AutoApprove: true})
	prov := httptest.NewServer(mp)
	t.Cleanup(prov.Close)

	metricsPort := testkit.FreePort(t)
	s := &server{metrics: fmt.Sprintf("http://127.0.0.1:%d", metricsPort), secrets: &testkit.Secrets{}}
	s.secrets.Add(clientSecret)
	s.proc = testkit.Start(t, testkit.Options{Race: true, Env: func(port int) map[string]string {
		env := map[string]string{
			"APPS":           strings.Join(apps, ","),
			"METRICS_ADDR":   fmt.Sprintf("127.0.0.1:%d", metricsPort),
			"LOG_LEVEL":      "info",
			"DROP_TOKEN_TTL": "1s",
			"LATE_LOGIN_TTL": "1s",
		}
		for _, a := range apps {
			p := strings.ToUpper(a) + "_"
			env[p+"CLIENT_ID"] = clientID
			env[p+"CLIENT_SECRET"] = clientSecret
			env[p+"SEAL_KEY"] = sealKeys[a]
			env[p+"REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/%s/redirect", port, a)
			env[p+"AUTHORIZE_ENDPOINT"] = prov.URL + "/authorize"
			env[p+"TOKEN_ENDPOINT"] = prov.URL + "/token"
		}
		return env
	}})
	for _, k := range sealKeys {
		s.secrets.Add(k)
	}
	return s
}

// do sends one request of the test's own (not the plugin's).
func (s *server) do(t *testing.T, method, u string) (int, string, http.Header) {
	t.Helper()
	r, err := (&testkit.Plugin{}).Do(method, u, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, string(r.Body), r.Header
}

// login is a login started by app's plugin, whose read keys, states, codes
// and tokens are the server's secrets.
type login struct {
	*testkit.Plugin
	testkit.Login
}

func (s *server) authorize(t *testing.T, app string) login {
	t.Helper()
	p := &testkit.Plugin{Base: s.proc.URL + "/" + app, Secrets: s.secrets}
	l, err := p.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	return login{p, l}
}

// consent has the mock provider approve and follows its redirect back to
// handoff, which exchanges the code.
func (s *server) consent(t *testing.T, l login) {
	t.Helper()
	back, err := l.Consent(l.Login, true)
	if err != nil {
		t.Fatal(err)
	}
	if page, err := l.Visit(back); err != nil || page.Status != http.StatusOK {
		t.Fatalf("redirect: %v %v", page, err)
	}
}

func (s *server) poll(t *testing.T, l login) (int, string) {
	t.Helper()
	r, err := l.Poll(l.ReadKey)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, string(r.Body)
}

func (s *server) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	code, body, h := s.do(t, "GET", s.metrics+"/metrics")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics on METRICS_ADDR: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	m, err := testkit.ParseMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor scrapes until series has the value want: the store's cleanup and
// LOGIN_TTL run on the server's clock, so the test waits for the count.
func (s *server) waitFor(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.scrape(t)[series] != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after a minute, want %v", series, s.scrape(t)[series], want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func finished(app, outcome string) string {
	return `handoff_logins_finished_total{handoff_app="` + app + `",outcome="` + outcome + `"}`
}

func TestMetricsThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s := start(t)

	// main: one login delivered, one cancelled at the provider.
	ok := s.authorize(t, "main")
	s.consent(t, ok)
	code, body := s.poll(t, ok)
	if code != 200 || !strings.Contains(body, "access_token") {
		t.Fatalf("poll: %d %s", code, body)
	}
	cancelled := s.authorize(t, "main")
	if code, body, _ := s.do(t, "GET", s.proc.URL+"/main/redirect?error=access_denied&state="+url.QueryEscape(cancelled.State)); code != 200 {
		t.Fatalf("cancelled redirect: %d %s", code, body)
	}

	// drop: tokens that nobody polls for; late: a login nobody finishes.
	s.consent(t, s.authorize(t, "drop"))
	late := s.authorize(t, "late")
	s.waitFor(t, finished("drop", "not_collected"), 1)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := s.poll(t, late)
		if code == http.StatusGone && strings.Contains(body, "expired_token") {
			break
		}
		if code != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("poll of the late login: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.poll(t, late) // a second poll of an expired login counts nothing more

	// The per-IP limit of /redirect (300 a minute): past it, 429s, each counted.
	limited := 0
	for range 320 {
		if code, _, _ := s.do(t, "GET", s.proc.URL+"/main/redirect"); code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("320 redirects in a row and none refused: the test needs the per-IP limit")
	}

	m := s.scrape(t)
	want := map[string]float64{
		`handoff_logins_started_total{handoff_app="main"}`:                   2,
		finished("main", "delivered"):                                        1,
		finished("main", "cancelled"):                                        1,
		finished("main", "not_collected"):                                    0,
		finished("main", "provider_failed"):                                  0,
		`handoff_provider_seconds_count{handoff_app="main",call="exchange"}`: 1,
		`handoff_logins_started_total{handoff_app="drop"}`:                   1,
		finished("drop", "not_collected"):                                    1,
		finished("drop", "delivered"):                                        0,
		`handoff_provider_seconds_count{handoff_app="drop",call="exchange"}`: 1,
		`handoff_logins_started_total{handoff_app="late"}`:                   1,
		finished("late", "expired"):                                          1,
		`handoff_provider_seconds_count{handoff_app="late",call="exchange"}`: 0,
		`handoff_rate_limited_total{route="redirect"}`:                       float64(limited),
		`handoff_rate_limited_total{route="authorize"}`:                      0,
		`handoff_pending{handoff_app="main",store="tokens"}`:                 0,
		`handoff_max_pending`:                                                10000,
	}
	for series, v := range want {
		if got, ok := m[series]; !ok || got != v {
			t.Errorf("%s = %v (served: %v), want %v", series, got, ok, v)
		}
	}
	if m[`handoff_provider_seconds_sum{handoff_app="main",call="exchange"}`] <= 0 {
		t.Error("the exchange took no time")
	}

	// Never on the public port; and the metrics listener serves nothing else.
	for _, path := range []string{"/metrics", "/main/metrics", "/metrics/"} {
		if code, body, _ := s.do(t, "GET", s.proc.URL+path); code != http.StatusNotFound || strings.Contains(body, "handoff_") {
			t.Errorf("public GET %s: %d %s, want 404 not_found", path, code, body)
		}
	}
	if code, _, _ := s.do(t, "GET", s.metrics+"/healthz"); code != http.StatusNotFound {
		t.Errorf("GET /healthz on METRICS_ADDR: %d, want 404", code)
	}

	// The log follows each login at info, and never shows a secret.
	out := s.proc.Out.String()
	for line, n := range map[string]int{
		`msg="tokens delivered" app=main login=`:     1,
		`msg="login cancelled" app=main login=`:      1,
		`msg="tokens not collected" app=drop login=`: 1,
		`msg="login expired" app=late login=`:        1,
		`msg="login completed" app=drop login=`:      1,
		`msg="metrics listening" addr=127.0.0.1:`:    1,
	} {
		if got := strings.Count(out, line); got != n {
			t.Errorf("%d lines hold %q, want %d", got, line, n)
		}
	}
	// The /authorize request line is the one that says a login started.
	started := regexp.MustCompile(`msg=request method=POST route=/main/authorize status=200 duration=\S+ request_id=\w+ login=[0-9a-f]{12}\n`)
	if n := len(started.FindAllString(out, -1)); n != 2 {
		t.Errorf("%d /main/authorize request lines name their login, want 2", n)
	}
	if !regexp.MustCompile(`msg="login completed" app=main login=[0-9a-f]{12} provider_latency=\S+`).MatchString(out) {
		t.Error("no 'login completed' line with the provider's latency")
	}
	for _, secret := range s.secrets.Leaks(out) {
		t.Errorf("the log shows a secret (%.8s…)", secret)
	}
	if t.Failed() {
		t.Logf("handoff's output:\n%s", out)
	}
}
