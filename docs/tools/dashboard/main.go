// Command dashboard draws docs/grafana/handoff.json with data from a local
// run, for docs/screenshots/metrics-dashboard.png: Grafana itself cannot be
// installed here. It builds handoff, starts it with METRICS_ADDR next to a
// mock provider that is slow now and then and sometimes refuses or fails,
// plays plugins logging in (most collect their tokens; some are cancelled,
// some never poll, some never come back), refreshes, floods /redirect past
// its per-IP limit once, and scrapes /metrics every few seconds. Then it
// evaluates each panel's own queries over the samples (series.go,
// promql.go, functions.go), lays the panels out on Grafana's grid as HTML
// and SVG, and has headless Chromium take the screenshot.
//
//	go run ./docs/tools/dashboard                    # about 4 minutes
//	go run ./docs/tools/dashboard -duration 1m -out /tmp/d.png
//
// Everything runs on loopback and stops by itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"handoff/internal/mockprovider"
)

func main() {
	dash := flag.String("dashboard", "docs/grafana/handoff.json", "the dashboard to draw")
	out := flag.String("out", "docs/screenshots/metrics-dashboard.png", "the PNG to write")
	keep := flag.String("html", "", "also keep the HTML page here")
	duration := flag.Duration("duration", 4*time.Minute, "how long to drive the server")
	every := flag.Duration("scrape", 2*time.Second, "scrape interval")
	rateRange := flag.Duration("rate-range", 30*time.Second, "what $__rate_interval stands for")
	chromium := flag.String("chromium", "chromium", "headless Chromium for the screenshot")
	flag.Parse()

	d, err := loadDashboard(*dash)
	if err != nil {
		log.Fatal(err)
	}
	// Fail before a run of minutes on a query this tool cannot draw.
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if _, err := compile(t.Expr); err != nil {
				log.Fatalf("panel %q: %v", p.Title, err)
			}
		}
	}

	tmp, err := os.MkdirTemp("", "handoff-dashboard-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "handoff")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		log.Fatalf("go build (run from the repository root): %v\n%s", err, b)
	}

	prov := startProvider()
	defer prov.Close()
	port, metricsPort := freePort(), freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = tmp
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"PORT=" + strconv.Itoa(port),
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(metricsPort),
		"CLIENT_ID=dashboard", "CLIENT_SECRET=" + clientSecret,
		"SEAL_KEY=6a1f0c3e9b2d4a58e7c1f03b9d6e2a4c8f1b3d5e7a9c0e2f4b6d8a1c3e5f7092",
		"REDIRECT_URI=" + base + "/redirect",
		"AUTHORIZE_ENDPOINT=" + prov.URL + "/authorize",
		"TOKEN_ENDPOINT=" + prov.URL + "/token",
		"TOKEN_TTL=15s", "LOGIN_TTL=45s", "LOG_LEVEL=warn",
	}
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	waitHealthy(base)

	st := &store{series: map[string]*seriesData{}}
	var times []time.Time
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	go drive(ctx, base, prov, start, *duration)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	tick := time.NewTicker(*every)
	for done := false; !done; {
		now := time.Now()
		if err := scrape(st, metricsURL, now); err != nil {
			log.Fatal(err)
		}
		times = append(times, now)
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
	}
	tick.Stop()

	// The charts start once a rate window of samples exists.
	from := 0
	for from < len(times)-2 && times[from].Sub(start) < *rateRange {
		from++
	}
	note := fmt.Sprintf("local run: %s of simulated plugins against a mock provider, scraped every %s", duration.Round(time.Second), every)
	page, height, err := renderHTML(d, st, times[from:], start, *rateRange, note)
	if err != nil {
		log.Fatal(err)
	}
	htmlPath := filepath.Join(tmp, "dashboard.html")
	if *keep != "" {
		htmlPath = *keep
	}
	if err := os.WriteFile(htmlPath, []byte(page), 0o644); err != nil {
		log.Fatal(err)
	}
	abs, _ := filepath.Abs(*out)
	shot := exec.Command(*chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--screenshot="+abs, fmt.Sprintf("--window-size=%d,%d", pageWidth, height), "file://"+htmlPath)
	if b, err := shot.CombinedOutput(); err != nil {
		log.Fatalf("chromium: %v\n%s", err, b)
	}
	fmt.Println("wrote", *out)
}

const clientSecret = "dash-Vq3mZ8kR2xN7pW4sL9tB"

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(base string) {
	for range 200 {
		if r, err := http.Get(base + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatal("handoff did not become healthy")
}

func scrape(st *store, u string, now time.Time) error {
	r, err := http.Get(u)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return st.add(now, string(b))
}

// provider is the mock provider with a token endpoint that takes 40-150 ms,
// sometimes much longer, and sometimes refuses or fails; incident makes it
// slow and failing for a while.
type provider struct {
	*http.Server
	URL      string
	incident atomic.Bool
}

func startProvider() *provider {
	mock := mockprovider.New(mockprovider.Options{ClientID: "dashboard", ClientSecret: clientSecret, AutoApprove: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	p := &provider{URL: "http://" + ln.Addr().String()}
	p.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			delay := 40*time.Millisecond + time.Duration(rand.ExpFloat64()*float64(40*time.Millisecond))
			failRefuse, failBroken := 0.05, 0.02
			if rand.Float64() < 0.04 {
				delay += time.Duration(300+rand.IntN(900)) * time.Millisecond
			}
			if p.incident.Load() {
				delay *= 6
				failBroken = 0.35
			}
			time.Sleep(delay)
			switch x := rand.Float64(); {
			case x < failBroken:
				http.Error(w, "upstream unavailable", http.StatusBadGateway)
				return
			case x < failBroken+failRefuse && r.FormValue("grant_type") == "authorization_code":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":"invalid_grant","error_description":"code expired"}`)
				return
			}
		}
		mock.ServeHTTP(w, r)
	})}
	go p.Serve(ln)
	return p
}

var client = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

func call(method, u string) (int, string) {
	req, _ := http.NewRequest(method, u, nil)
	r, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// drive plays plugins until ctx ends: logins at a rate that swells and
// falls, a provider incident a third of the way in, and a burst of requests
// past /redirect's per-IP limit at two thirds.
func drive(ctx context.Context, base string, prov *provider, start time.Time, total time.Duration) {
	var refreshTokens sync.Map
	var wg sync.WaitGroup
	defer wg.Wait()
	var burst sync.Once
	for ctx.Err() == nil {
		elapsed := time.Since(start)
		frac := float64(elapsed) / float64(total)
		prov.incident.Store(frac > 0.33 && frac < 0.43)
		if frac > 0.66 {
			burst.Do(func() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 330 {
						call("GET", base+"/redirect")
					}
				}()
			})
		}
		perSecond := 2.2 + 1.4*math.Sin(2*math.Pi*frac*1.5)
		wg.Add(1)
		go func() { defer wg.Done(); plugin(ctx, base, &refreshTokens) }()
		if rand.Float64() < 0.5 {
			wg.Add(1)
			go func() { defer wg.Done(); refresh(base, &refreshTokens) }()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(float64(time.Second) / perSecond)):
		}
	}
}

// plugin is one user logging in through a plugin.
func plugin(ctx context.Context, base string, tokens *sync.Map) {
	code, body := call("POST", base+"/authorize")
	if code != 200 {
		return
	}
	var l struct{ URL, ReadKey string }
	json.Unmarshal([]byte(body), &l)
	poll := func() (int, string) { return call("POST", base+"/poll?readKey="+url.QueryEscape(l.ReadKey)) }
	fate := rand.Float64()
	think := time.Duration(2+rand.IntN(6)) * time.Second // the user at the consent screen
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if fate < 0.05 { // the user never comes back: the plugin polls until LOGIN_TTL ends it
		if sleep(46 * time.Second) {
			poll()
		}
		return
	}
	if !sleep(think) {
		return
	}
	u, _ := url.Parse(l.URL)
	if fate < 0.13 { // declined at the provider
		call("GET", base+"/redirect?error=access_denied&state="+url.QueryEscape(u.Query().Get("state")))
		return
	}
	r, err := client.Get(l.URL) // the provider approves and redirects
	if err != nil {
		return
	}
	r.Body.Close()
	if r.StatusCode != http.StatusFound {
		return
	}
	if code, _ := call("GET", r.Header.Get("Location")); code != 200 || fate < 0.18 {
		return // refused, failed, or the plugin was closed: nobody polls
	}
	for range 10 {
		code, body := poll()
		if code == 200 {
			var t struct {
				RefreshToken string `json:"refresh_token"`
			}
			json.Unmarshal([]byte(body), &t)
			if t.RefreshToken != "" {
				tokens.Store(t.RefreshToken, true)
			}
			return
		}
		if code != 404 || !sleep(2*time.Second) {
			return
		}
	}
}

func refresh(base string, tokens *sync.Map) {
	token := "not-a-token"
	if rand.Float64() < 0.9 {
		tokens.Range(func(k, _ any) bool { token = k.(string); return rand.Float64() < 0.7 })
	}
	call("POST", base+"/refresh?code="+url.QueryEscape(token))
}
