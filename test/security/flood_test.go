package security

// SPEC §5.3 and §7: a flood of any request cannot grow memory without bound.
// HANDOFF_FLOOD=1 sends 200,000 mixed bogus requests (HANDOFF_FLOOD_N to
// change the number) to the built binary and reports its resident memory
// (VmRSS) as the flood goes. It asserts a ceiling, never a speed.
// HANDOFF_FLOOD_ENV adds settings, e.g. "LOGIN_TTL=60s MAX_PENDING=1000".
//
//	HANDOFF_FLOOD=1 go test -run TestFlood -v ./hostile/

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"handoff/internal/testkit"
)

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rssKB reads the resident set size of a process from /proc.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading RSS: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", s.Text(), err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/<pid>/status")
	return 0
}

func TestFloodKeepsMemoryBounded(t *testing.T) {
	if os.Getenv("HANDOFF_FLOOD") == "" {
		t.Skip("set HANDOFF_FLOOD=1 to flood the built binary with 200k bogus requests and report its RSS")
	}
	total := 200_000
	if n, err := strconv.Atoi(os.Getenv("HANDOFF_FLOOD_N")); err == nil && n > 0 {
		total = n
	}
	const ceilingKB = 256 << 10 // Fly's smallest machine, all of it

	secrets := &secretSet{}
	p := newFakeProvider(t, secrets)
	port := testkit.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := map[string]string{
		"CLIENT_ID":          p.clientID,
		"CLIENT_SECRET":      p.clientSecret,
		"REDIRECT_URI":       base + "/redirect",
		"AUTHORIZE_ENDPOINT": p.URL + "/authorize",
		"TOKEN_ENDPOINT":     p.URL + "/token",
		"LOG_LEVEL":          "error",
		"RATE_LIMIT":         "on",
		// Trust Fly-Client-IP, so every request can come from a new
		// address and the per-address limiters fill to their cap.
		"FLY_APP_NAME": "handoff-flood",
	}
	for _, kv := range strings.Fields(os.Getenv("HANDOFF_FLOOD_ENV")) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	proc := startBinary(t, port, env)
	pid := proc.Cmd.Process.Pid
	idle := rssKB(t, pid)
	t.Logf("idle: RSS %d KB", idle)

	var sent, next atomic.Int64
	statuses := make([]atomic.Int64, 600)
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			defer hc.CloseIdleConnections()
			var readKey, state string // of the last login this worker started
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				ip := fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), rand.IntN(256))
				var req *http.Request
				switch i % 8 {
				case 0: // a forged read key
					req, _ = http.NewRequest("POST", base+"/poll?readKey="+random(90), nil)
				case 1: // a forged state
					req, _ = http.NewRequest("GET", base+"/redirect?state="+random(98)+"&code="+random(20), nil)
				case 2: // an unknown path
					req, _ = http.NewRequest("GET", base+"/"+random(12)+"/"+random(40), nil)
				case 3: // a login started and never finished (stores nothing)
					req, _ = http.NewRequest("POST", base+"/authorize", nil)
				case 4: // a poll of a real, pending key (the per-key limiter)
					req, _ = http.NewRequest("POST", base+"/poll?readKey="+url.QueryEscape(or(readKey, random(90))), nil)
				case 5: // a real state, cancelled (fills the used-state and outcome stores)
					req, _ = http.NewRequest("GET", base+"/redirect?error=access_denied&state="+url.QueryEscape(or(state, random(98))), nil)
					state = ""
				case 6: // a wrong method
					req, _ = http.NewRequest("PUT", base+"/authorize?x="+random(30), nil)
				case 7: // a forged refresh... answered by the provider: keep it rare
					if i%64 != 7 {
						req, _ = http.NewRequest("OPTIONS", base+"/poll", nil)
					} else {
						req, _ = http.NewRequest("POST", base+"/refresh?code="+random(30), nil)
					}
				}
				req.Header.Set("Fly-Client-IP", ip)
				res, err := hc.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				statuses[res.StatusCode].Add(1)
				if i%8 == 3 && res.StatusCode == 200 {
					var l struct {
						URL     string `json:"url"`
						ReadKey string `json:"readKey"`
					}
					if jsonUnmarshal(string(body), &l) == nil {
						if u, err := url.Parse(l.URL); err == nil {
							readKey, state = l.ReadKey, u.Query().Get("state")
						}
					}
				}
				sent.Add(1)
			}
		}()
	}
	peak := idle
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReport := int64(0)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			rss := rssKB(t, pid)
			peak = max(peak, rss)
			if n := sent.Load(); n-lastReport >= int64(total/8) {
				t.Logf("after %7d requests: RSS %d KB", n, rss)
				lastReport = n
			}
		}
	}
	elapsed := time.Since(start)
	end := rssKB(t, pid)
	peak = max(peak, end)
	var mix []string
	for code := range statuses {
		if n := statuses[code].Load(); n > 0 {
			mix = append(mix, fmt.Sprintf("%d×%d", n, code))
		}
	}
	t.Logf("%d requests in %v (%s)", sent.Load(), elapsed.Round(time.Millisecond), strings.Join(mix, ", "))
	t.Logf("RSS: idle %d KB, peak %d KB, after the flood %d KB", idle, peak, end)
	if peak > ceilingKB {
		t.Errorf("RSS peaked at %d KB, over %d KB", peak, ceilingKB)
	}
	if r, err := http.Get(base + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Errorf("/healthz after the flood: %v", err)
	} else {
		r.Body.Close()
	}
	if code := proc.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if out := proc.Out.String(); strings.TrimSpace(out) != "" {
		t.Logf("log at LOG_LEVEL=error:\n%s", out)
	}
}
