//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is a provider API that sends no CORS headers, as HubSpot's and
// Notion's do not: GET /v1/me answers the user the bearer token belongs to,
// asking the real authorization server's userinfo endpoint, and PATCH echoes
// its body. It records the headers of each request it gets.
type fakeAPI struct {
	addr string // 127.0.0.1:port
	mu   sync.Mutex
	seen []http.Header
	// userinfo is the authorization server's endpoint, set once it runs
	// (the API's origin must be known before: handoff's API_ORIGINS).
	userinfo string
}

func startFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	a := &fakeAPI{}
	hc := httpClient(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "OPTIONS" {
			w.WriteHeader(405) // no CORS: the browser's direct call stops here
			return
		}
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Clone())
		userinfo := a.userinfo
		a.mu.Unlock()
		req, _ := http.NewRequest("GET", userinfo, nil)
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		res, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		var info map[string]any
		json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&info)
		res.Body.Close()
		if res.StatusCode != 200 {
			w.WriteHeader(401)
			io.WriteString(w, `{"message":"invalid token"}`)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Remaining", "42")
		w.Header().Set("X-Internal", "not exposed")
		json.NewEncoder(w).Encode(map[string]any{"user": info["sub"], "method": r.Method, "path": r.URL.RequestURI(),
			"body": string(body), "notion_version": r.Header.Get("Notion-Version")})
	}))
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

// headers are those of the requests the API got so far.
func (a *fakeAPI) headers() []http.Header { return copyLocked(&a.mu, &a.seen) }

type apiResult struct {
	Status    int            `json:"status"`
	Text      string         `json:"text"`
	JSON      map[string]any `json:"json"`
	RateLimit *string        `json:"rateLimit"`
	Internal  *string        `json:"internal"`
	Error     string         `json:"error"`
}

// TestJourney8APIPassthrough: the plugin logs in, then calls its provider's
// API (which sends no CORS headers) through handoff with the token,
// cross-origin from the plugin page (docs/protocol.md#api-passthrough).
func TestJourney8APIPassthrough(t *testing.T) {
	api := startFakeAPI(t)
	apiAddr := api.addr
	s, end := newJourney(t, setupOptions{style: "basic", env: map[string]string{"API_ORIGINS": "http://" + apiAddr}})
	defer end()
	api.mu.Lock()
	api.userinfo = s.prov.Discovery.UserinfoEndpoint
	api.mu.Unlock()
	_, st := s.runHappyLogin(t, "alice", "")
	access, _ := st.Tokens["access_token"].(string)

	// Straight to the API, the browser refuses: no CORS headers.
	direct, err := evalAsync[apiResult](s.plugin, fmt.Sprintf(`directCall(%q)`, "http://"+apiAddr+"/v1/me"))
	if err != nil {
		t.Fatal(err)
	}
	if direct.Status != 0 || !strings.Contains(direct.Error, "Failed to fetch") {
		t.Errorf("a direct call to the API: %+v, want the browser to refuse it", direct)
	}

	// Through handoff, both forms: a GET with the token (a preflight, for
	// Authorization), and a PATCH with a JSON body and Notion-Version.
	for _, prefix := range []string{"/api/" + apiAddr, "/?http://" + apiAddr} {
		r, err := evalAsync[apiResult](s.plugin, fmt.Sprintf(`apiCall(%q)`, prefix+"/v1/me?fields=a,b"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 200 || r.JSON["user"] != "alice" || r.JSON["path"] != "/v1/me?fields=a,b" {
			t.Fatalf("GET %s/v1/me: %+v", prefix, r)
		}
		if r.RateLimit == nil || *r.RateLimit != "42" {
			t.Errorf("X-RateLimit-Remaining is not readable by the plugin: %v", r.RateLimit)
		}
		if r.Internal != nil {
			t.Errorf("X-Internal is readable by the plugin (%q): only rate-limit headers are exposed", *r.Internal)
		}
		r, err = evalAsync[apiResult](s.plugin, fmt.Sprintf(`apiCall(%q, {method: "PATCH", body: JSON.stringify({title: "Hi"}),
			headers: {"Content-Type": "application/json", "Notion-Version": "2022-06-28"}})`, prefix+"/v1/pages/1"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 200 || r.JSON["method"] != "PATCH" || r.JSON["body"] != `{"title":"Hi"}` || r.JSON["notion_version"] != "2022-06-28" {
			t.Errorf("PATCH %s/v1/pages/1: %+v", prefix, r)
		}
	}

	// A target outside API_ORIGINS: a 403 the plugin can read.
	r, err := evalAsync[apiResult](s.plugin, fmt.Sprintf(`apiCall(%q)`, "/api/"+s.prov.Discovery.Issuer[len("http://"):]+"/me"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 403 || r.JSON["error"] != "invalid_request" {
		t.Errorf("an unlisted target: %+v", r)
	}

	// The API got the plugin's token and headers, and nothing of the page
	// or of handoff.
	seen := api.headers()
	if len(seen) != 4 {
		t.Errorf("the API got %d requests, want 4 (preflights stay at handoff)", len(seen))
	}
	for _, h := range seen {
		if h.Get("Authorization") != "Bearer "+access {
			t.Errorf("the API got Authorization %.20q…", h.Get("Authorization"))
		}
		for _, k := range []string{"Origin", "Referer", "Cookie"} {
			if h.Get(k) != "" {
				t.Errorf("the API got %s %q", k, h.Get(k))
			}
		}
		for k, v := range h {
			if strings.Contains(strings.Join(v, " "), basicClientSecret) {
				t.Errorf("the API got the client secret in %s", k)
			}
		}
	}
	if log := s.handoff.Log(); !strings.Contains(log, "upstream="+apiAddr) {
		t.Errorf("handoff's log names no upstream:\n%s", log)
	}
	assertNotInLog(t, s.handoff, map[string]string{"access token": access, "client secret": basicClientSecret})
}
