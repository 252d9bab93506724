package security

// SECURITY.md properties 3 and 8, BENCHMARKS.md: a flood of any request cannot grow memory without
// bound. The built binary gets 20,000 mixed bogus requests (compressed
// bodies and decompression bombs among them) while 900 slow senders from 9
// other addresses hold connections, each announcing a 64 KiB body and
// sending one byte. Its peak resident memory (VmHWM) must stay under 64 MB,
// and /healthz must answer within a second throughout. It asserts a ceiling,
// never a speed. HANDOFF_FLOOD=1 sends 200,000 requests instead
// (HANDOFF_FLOOD_N any number) and reports the memory as the flood goes;
// HANDOFF_FLOOD_ENV adds settings, e.g. "LOGIN_TTL=60s MAX_PENDING=1000".
//
//	HANDOFF_FLOOD=1 go test -run TestFlood -v ./test/security/

import (
	"bytes"
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

func TestFloodKeepsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the built binary; skipped with -short")
	}
	total := 20_000
	if os.Getenv("HANDOFF_FLOOD") != "" {
		total = 200_000
	}
	if n, err := strconv.Atoi(os.Getenv("HANDOFF_FLOOD_N")); err == nil && n > 0 {
		total = n
	}

	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	env := map[string]string{
		"LOG_LEVEL":  "error",
		"RATE_LIMIT": "on",
		// Trust Fly-Client-IP, so every request can come from a new
		// address and the per-address limiters fill to their cap.
		"FLY_APP_NAME": "handoff-flood",
	}
	for _, kv := range strings.Fields(os.Getenv("HANDOFF_FLOOD_ENV")) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	proc, _ := startBinaryFor(t, p, env)
	base := proc.URL
	pid := proc.Cmd.Process.Pid
	idle := testkit.StatusKB(t, pid, "VmRSS")
	t.Logf("idle: RSS %d KB", idle)
	bomb := gzipBomb(t, 256<<20, 2)
	slow := openConns(t, strings.TrimPrefix(base, "http://"), 900, loopback(2, 9), slowSenders)
	defer slow.close()

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
				switch i % 10 {
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
				case 8: // a decompression bomb: 256 MB in 1.4 KB
					req, _ = http.NewRequest("POST", base+"/poll", bytes.NewReader(bomb))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Content-Encoding", "gzip, gzip")
				case 9: // a key in a body that must be read (past the read-ahead)
					req, _ = http.NewRequest("POST", base+"/poll", strings.NewReader("pad="+random(3000)+"&readKey="+random(90)))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
			healthzWithinASecond(t, base, fmt.Sprintf("after %d requests of the flood", sent.Load()))
			if n := sent.Load(); n-lastReport >= int64(total/8) {
				t.Logf("after %7d requests: RSS %d KB", n, testkit.StatusKB(t, pid, "VmRSS"))
				lastReport = n
			}
		}
	}
	elapsed := time.Since(start)
	end := testkit.StatusKB(t, pid, "VmRSS")
	var mix []string
	for code := range statuses {
		if n := statuses[code].Load(); n > 0 {
			mix = append(mix, fmt.Sprintf("%d×%d", n, code))
		}
	}
	t.Logf("%d requests in %v (%s)", sent.Load(), elapsed.Round(time.Millisecond), strings.Join(mix, ", "))
	healthzWithinASecond(t, base, "after the flood")
	t.Logf("RSS: idle %d KB, after the flood %d KB", idle, end)
	checkPeak(t, pid, fmt.Sprintf("%d requests and 900 slow senders", sent.Load()))
	slow.close()
	if code := proc.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if out := proc.Out.String(); strings.TrimSpace(out) != "" {
		t.Logf("log at LOG_LEVEL=error:\n%s", out)
	}
}
