package multimachine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fastProvider is the benchmark's token endpoint: it answers every token
// request at once, without checking or remembering anything, so that the
// figures measure handoff and the proxy rather than the fake provider.
type fastProvider struct{ n atomic.Int64 }

func (p *fastProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	r.ParseForm()
	if r.PostForm.Get("client_secret") != clientSecret || r.PostForm.Get("code") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`, p.n.Add(1))
}

// BenchmarkFlows measures whole logins per second: POST /authorize, the
// provider's redirect to /redirect (with the token exchange), and the poll
// that takes the tokens, all through the test's Fly proxy, in parallel. With
// one machine nothing is replayed; with three, a request lands on the
// login's owner one time in three and is replayed otherwise, so about 4/3
// of the two routed requests of a flow (redirect and poll) take the extra
// hop. "direct" is one machine without the proxy, for the proxy's own cost.
func BenchmarkFlows(b *testing.B) {
	for _, bc := range []struct {
		name     string
		machines int
		direct   bool
	}{
		{"direct-1-machine", 1, true},
		{"proxy-1-machine", 1, false},
		{"proxy-3-machines", 3, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b, clusterOptions{machines: bc.machines, rateLimit: "off", provider: &fastProvider{}})
			base := c.url
			if bc.direct {
				for _, m := range c.machines {
					base = m.URL
				}
			}
			flow := func() error {
				r, err := do("POST", base+"/authorize", nil)
				if err != nil || r.Status != http.StatusOK {
					return fmt.Errorf("authorize: %v %d", err, r.Status)
				}
				var v struct{ URL, ReadKey string }
				if err := json.Unmarshal(r.Body, &v); err != nil {
					return err
				}
				// The provider approves at once: the browser comes back
				// with a code and the state.
				u, err := url.Parse(v.URL)
				if err != nil {
					return err
				}
				back := base + "/redirect?code=c&state=" + u.Query().Get("state")
				if r, err = do("GET", back, nil); err != nil || r.Status != http.StatusOK {
					return fmt.Errorf("redirect: %v %d %s", err, r.Status, r.Body)
				}
				r, err = do("POST", base+"/poll?readKey="+url.QueryEscape(v.ReadKey), nil)
				if err != nil || r.Status != http.StatusOK || !strings.Contains(string(r.Body), "access_token") {
					return fmt.Errorf("poll: %v %d %s", err, r.Status, r.Body)
				}
				return nil
			}
			if err := flow(); err != nil { // warm up connections
				b.Fatal(err)
			}
			replays0 := c.proxy.replays.Load()
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			var failed atomic.Value
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := flow(); err != nil {
						failed.Store(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
			b.ReportMetric(float64(c.proxy.replays.Load()-replays0)/float64(b.N), "replays/flow")
			if c.proxy.fallbacks.Load() != 0 {
				b.Errorf("%d replays failed", c.proxy.fallbacks.Load())
			}
		})
	}
}
