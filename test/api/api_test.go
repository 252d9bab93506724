package api

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// TestPassthrough: a plugin logs in, then calls its provider's API through
// handoff with the token, in both forms; what passes and what does not,
// both ways; and nothing of the deployment's own credentials ever reaches
// the upstream.
func TestPassthrough(t *testing.T) {
	up := testkit.NewUpstream(t)
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, up.Origin, nil))
	plugin := &testkit.Plugin{Base: srv.URL, Origin: pluginOrigin, Client: client}
	tokens := plugin.Login(t, srv.URL+"/redirect")
	bearer := "Bearer " + tokens["access_token"].(string)

	t.Run("the plugin's request passes, the rest does not", func(t *testing.T) {
		for _, target := range []string{
			"/api/" + up.Addr + "/crm/v3/objects/contacts/a%20b;x=1?limit=10&properties=a,b&after=x%2Fy",
			"/?" + up.Origin + "/crm/v3/objects/contacts/a%20b;x=1?limit=10&properties=a,b&after=x%2Fy",
		} {
			r := do(t, "PATCH", srv.URL+target, strings.NewReader(`{"properties":{}}`),
				"Origin", pluginOrigin, "Authorization", bearer, "Notion-Version", "2022-06-28",
				"Content-Type", "application/json", "Accept", "application/json",
				"Cookie", "handoff=1", "Referer", pluginOrigin+"/", "Fly-Client-IP", "203.0.113.5",
				"X-Forwarded-For", "203.0.113.5", "Proxy-Authorization", "Basic eDp5", "Keep-Alive", "timeout=1",
				"Connection", "X-Hop", "X-Hop", "1")
			if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != pluginOrigin {
				t.Fatalf("%s: %d %v %s", target, r.status, r.header, r.body)
			}
			got := up.Last(t)
			if got.Method != "PATCH" || got.RequestURI != "/crm/v3/objects/contacts/a%20b;x=1?limit=10&properties=a,b&after=x%2Fy" ||
				got.Host != up.Addr || string(got.Body) != `{"properties":{}}` {
				t.Errorf("upstream got %s %s Host %s body %q", got.Method, got.RequestURI, got.Host, got.Body)
			}
			if got.Header.Get("Authorization") != bearer || got.Header.Get("Notion-Version") != "2022-06-28" ||
				got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("upstream headers %v", got.Header)
			}
			for _, k := range []string{"Cookie", "Origin", "Referer", "Fly-Client-Ip", "X-Forwarded-For", "Proxy-Authorization", "Keep-Alive", "X-Hop"} {
				if v := got.Header.Values(k); len(v) > 0 {
					t.Errorf("upstream received %s: %q", k, v)
				}
			}
		}
	})

	t.Run("the answer passes, less what acts on handoff's origin", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		io.WriteString(zw, `{"results":[]}`)
		zw.Close()
		up.Answer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("X-HubSpot-RateLimit-Remaining", "149")
			w.Header().Set("X-RateLimit-Limit", "150")
			w.Header().Set("RateLimit", "limit=150, remaining=149")
			w.Header().Set("Retry-After", "10")
			w.Header().Set("Set-Cookie", "session=upstream")
			w.Header().Set("Strict-Transport-Security", "max-age=1")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.WriteHeader(429)
			w.Write(gz.Bytes())
		})
		defer up.Answer(nil)
		r := do(t, "GET", srv.URL+"/api/"+up.Addr+"/v1/x", nil, "Origin", pluginOrigin, "Authorization", bearer, "Accept-Encoding", "gzip")
		if r.status != 429 || !bytes.Equal(r.body, gz.Bytes()) || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%d %q %v: want the upstream's 429 and gzip bytes untouched", r.status, r.body, r.header)
		}
		if v := r.header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != pluginOrigin {
			t.Errorf("Access-Control-Allow-Origin %q", v)
		}
		for _, k := range []string{"Set-Cookie", "Strict-Transport-Security"} {
			if r.header.Get(k) != "" {
				t.Errorf("answer carries %s", k)
			}
		}
		exp := strings.ToLower(r.header.Get("Access-Control-Expose-Headers"))
		for _, n := range []string{"x-hubspot-ratelimit-remaining", "x-ratelimit-limit", "ratelimit", "retry-after"} {
			if !strings.Contains(exp, n) {
				t.Errorf("Access-Control-Expose-Headers %q lacks %s", exp, n)
			}
		}
	})

	t.Run("a compressed request body passes as bytes", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		io.WriteString(zw, strings.Repeat("x", 100000))
		zw.Close()
		r := do(t, "POST", srv.URL+"/api/"+up.Addr+"/in", bytes.NewReader(gz.Bytes()), "Content-Encoding", "gzip", "Authorization", bearer)
		if got := up.Last(t); r.status != 200 || !bytes.Equal(got.Body, gz.Bytes()) || got.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%d; upstream got %d bytes, Content-Encoding %q", r.status, len(got.Body), got.Header.Get("Content-Encoding"))
		}
	})

	t.Run("a redirect comes back, not followed", func(t *testing.T) {
		up.Answer(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/", http.StatusMovedPermanently)
		})
		defer up.Answer(nil)
		before := up.Reqs.Load()
		r := do(t, "GET", srv.URL+"/?"+up.Origin+"/old", nil, "Authorization", bearer)
		if r.status != 301 || r.header.Get("Location") != "http://169.254.169.254/latest/" || up.Reqs.Load() != before+1 {
			t.Errorf("%d Location %q, %d requests upstream", r.status, r.header.Get("Location"), up.Reqs.Load()-before)
		}
	})

	t.Run("preflight", func(t *testing.T) {
		before := up.Conns.Load()
		r := do(t, "OPTIONS", srv.URL+"/api/"+up.Addr+"/v1/pages", nil, "Origin", pluginOrigin,
			"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "authorization,notion-version,content-type")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != pluginOrigin ||
			r.header.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, PATCH, DELETE" ||
			r.header.Get("Access-Control-Allow-Headers") != "authorization,notion-version,content-type" ||
			r.header.Get("Access-Control-Max-Age") != "86400" {
			t.Errorf("%d %v", r.status, r.header)
		}
		if up.Conns.Load() != before {
			t.Errorf("a preflight reached the upstream")
		}
	})

	t.Run("/ is as it was", func(t *testing.T) {
		if r := do(t, "GET", srv.URL+"/", nil); r.status != 200 || string(r.body) != "handoff is up and running." {
			t.Errorf("GET /: %d %q", r.status, r.body)
		}
	})

	// The refresh grant too, so that every use of the client secret
	// has happened before the search below.
	r := do(t, "POST", srv.URL+"/refresh", strings.NewReader("refresh_token="+tokens["refresh_token"].(string)),
		"Content-Type", "application/x-www-form-urlencoded")
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	received := up.Received()
	for name, v := range map[string]string{
		"the client secret":   clientSecret,
		"the seal key":        sealKey,
		"HTTP Basic of both":  base64.StdEncoding.EncodeToString([]byte(clientID + ":" + clientSecret)),
		"half the secret":     clientSecret[len(clientSecret)/2:],
		"the refresh token":   tokens["refresh_token"].(string),
		"the seal key, upper": strings.ToUpper(sealKey),
	} {
		if bytes.Contains(received, []byte(v)) {
			t.Errorf("%s reached the upstream", name)
		}
	}
	if len(received) == 0 {
		t.Fatal("the upstream received nothing: the search proves nothing")
	}
	// The log names the upstream and the status, never the token, the
	// path or the query.
	out := srv.Out.String()
	if !strings.Contains(out, "upstream="+up.Addr) || !strings.Contains(out, "status=429") {
		t.Errorf("no request line naming the upstream and its status:\n%s", out)
	}
	for _, s := range []string{tokens["access_token"].(string), "objects/contacts", "properties=a", clientSecret} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}

// TestRefusals: anything but a listed origin, or a path that could climb,
// is 403 invalid_request, and handoff connects to nothing.
func TestRefusals(t *testing.T) {
	listed := testkit.NewUpstream(t)
	other := testkit.NewUpstream(t)
	_, port, _ := strings.Cut(listed.Addr, ":")
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, listed.Origin, nil))
	for _, target := range []string{
		"/api/" + other.Addr + "/x",
		"/?" + other.Origin + "/x",
		"/?https://" + listed.Addr + "/x",
		"/?ftp://" + listed.Addr + "/x",
		"/?//" + listed.Addr + "/x",
		"/?http%3A%2F%2F" + listed.Addr + "%2Fx",
		"/api/localhost:" + port + "/x",
		"/api/127.1:" + port + "/x",
		"/api/2130706433:" + port + "/x",
		"/api/[::1]:" + port + "/x",
		"/api/[::ffff:127.0.0.1]:" + port + "/x",
		"/api/127.0.0.1.:" + port + "/x",
		"/api/user@" + listed.Addr + "/x",
		"/?http://" + listed.Addr + "@" + other.Addr + "/x",
		"/?http://" + listed.Addr + "\\@" + other.Addr + "/x",
		"/api/" + listed.Addr + "/../" + other.Addr + "/x",
		"/api/" + listed.Addr + "/%2e%2e/%2E%2E/x",
		"/api/" + listed.Addr + "/a%2Fb",
		"/api/" + listed.Addr + "/a\\b",
		"/api//x",
		"/api/" + listed.Addr + "//x",
	} {
		r := raw(t, srv.URL, target, "Origin", pluginOrigin, "Authorization", "Bearer t")
		checkError(t, r, 403, "invalid_request")
		if r.header.Get("Access-Control-Allow-Origin") != pluginOrigin {
			t.Errorf("%s: no CORS on the refusal", target)
		}
	}
	if n, m := listed.Conns.Load(), other.Conns.Load(); n+m != 0 {
		t.Errorf("refused requests opened %d connections to the listed upstream and %d to another", n, m)
	}
}

// TestFailures: API_TIMEOUT is 504, an upstream that is not listening 502,
// both JSON errors the plugin can read.
func TestFailures(t *testing.T) {
	release := make(chan struct{})
	slow := testkit.NewUpstream(t)
	slow.Answer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	closed := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, slow.Origin+",http://"+closed, map[string]string{"API_TIMEOUT": "1s"}))
	began := time.Now()
	r := do(t, "GET", srv.URL+"/api/"+slow.Addr+"/slow", nil, "Origin", pluginOrigin)
	checkError(t, r, 504, "temporarily_unavailable")
	if time.Since(began) < time.Second {
		t.Errorf("504 after %v, before API_TIMEOUT", time.Since(began))
	}
	r = do(t, "GET", srv.URL+"/?http://"+closed+"/x", nil, "Origin", pluginOrigin)
	checkError(t, r, 502, "server_error")
	if r.header.Get("Access-Control-Allow-Origin") != pluginOrigin {
		t.Errorf("502 without CORS")
	}
}

// TestBodyLimits: API_MAX_BODY for the passthrough, 64 KiB for handoff's own
// routes; a declared length over the limit is refused before the upstream
// hears of it.
func TestBodyLimits(t *testing.T) {
	up := testkit.NewUpstream(t)
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, up.Origin, map[string]string{"API_MAX_BODY": "256KiB"}))
	body := bytes.Repeat([]byte("a"), 200<<10)
	if r := do(t, "PUT", srv.URL+"/api/"+up.Addr+"/file", bytes.NewReader(body)); r.status != 200 || len(up.Last(t).Body) != len(body) {
		t.Fatalf("200 KiB: %d, upstream got %d bytes", r.status, len(up.Last(t).Body))
	}
	// Answered from the declared length alone (a body sent as well would
	// race the server's close of the connection).
	before := up.Reqs.Load()
	r := rawMethod(t, srv.URL, "PUT", "/api/"+up.Addr+"/file", "Content-Length", fmt.Sprint(256<<10+1))
	checkError(t, r, 413, "invalid_request")
	if up.Reqs.Load() != before {
		t.Errorf("an oversized body reached the upstream")
	}
	r = rawMethod(t, srv.URL, "POST", "/poll", "Content-Length", fmt.Sprint(64<<10+1))
	checkError(t, r, 413, "invalid_request")
}

// TestRateLimit: with RATE_LIMIT on, a client IP gets 1,200 passthrough
// requests a minute (and the few earned back meanwhile), then 429.
func TestRateLimit(t *testing.T) {
	up := testkit.NewUpstream(t)
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, up.Origin, map[string]string{"RATE_LIMIT": "on"}))
	begin := time.Now()
	for n := 0; n < 2400; n++ {
		r := do(t, "GET", srv.URL+"/?"+up.Origin+"/x", nil)
		if r.status == 200 {
			continue
		}
		checkError(t, r, 429, "slow_down")
		earned := int(time.Since(begin) / (time.Minute / 1200))
		if n < 1200 || n > 1200+earned+1 {
			t.Fatalf("refused after %d requests in %v, want 1200 (+%d earned back)", n, time.Since(begin), earned)
		}
		return
	}
	t.Fatal("never refused")
}

// TestSeveralApps: with APPS, /{app}/api/ reaches that app's origins only,
// and the root /?<URL> form the union, each with its app's CORS rules.
func TestSeveralApps(t *testing.T) {
	hubUp, notionUp := testkit.NewUpstream(t), testkit.NewUpstream(t)
	prov := newProvider(t)
	srv := start(t, func(port int) map[string]string {
		env := map[string]string{"APPS": "hub,notes", "RATE_LIMIT": "off"}
		for _, a := range []struct{ name, prefix, plugin, origins string }{
			{"hub", "HUB_", "hubplugin", hubUp.Origin}, {"notes", "NOTES_", "notesplugin", notionUp.Origin},
		} {
			env[a.prefix+"CLIENT_ID"] = clientID
			env[a.prefix+"CLIENT_SECRET"] = clientSecret
			env[a.prefix+"REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/%s/redirect", port, a.name)
			env[a.prefix+"AUTHORIZE_ENDPOINT"] = prov.URL + "/authorize"
			env[a.prefix+"TOKEN_ENDPOINT"] = prov.URL + "/token"
			env[a.prefix+"PLUGIN_ID"] = a.plugin
			env[a.prefix+"API_ORIGINS"] = a.origins
		}
		return env
	})
	hub, notes := "https://hubplugin.plugins.framercdn.com", "https://notesplugin.plugins.framercdn.com"
	r := do(t, "GET", srv.URL+"/hub/api/"+hubUp.Addr+"/crm/v3", nil, "Origin", hub)
	if r.status != 200 || hubUp.Last(t).RequestURI != "/crm/v3" || r.header.Get("Access-Control-Allow-Origin") != hub {
		t.Errorf("/hub/api/: %d %v", r.status, r.header)
	}
	checkError(t, do(t, "GET", srv.URL+"/hub/api/"+notionUp.Addr+"/v1", nil), 403, "invalid_request")
	checkError(t, do(t, "GET", srv.URL+"/api/"+hubUp.Addr+"/crm", nil), 404, "not_found")
	r = do(t, "POST", srv.URL+"/?"+notionUp.Origin+"/v1/search", strings.NewReader("{}"), "Origin", notes)
	if r.status != 200 || notionUp.Last(t).RequestURI != "/v1/search" || r.header.Get("Access-Control-Allow-Origin") != notes {
		t.Errorf("root /?URL: %d %v", r.status, r.header)
	}
	r = do(t, "GET", srv.URL+"/notes/?"+notionUp.Origin+"/v1/users", nil, "Origin", notes)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != notes {
		t.Errorf("/notes/?URL: %d %v", r.status, r.header)
	}
	checkError(t, do(t, "GET", srv.URL+"/notes/?"+hubUp.Origin+"/crm", nil), 403, "invalid_request")
	if r := do(t, "GET", srv.URL+"/", nil); r.status != 200 || string(r.body) != "handoff is up and running." {
		t.Errorf("GET /: %d %q", r.status, r.body)
	}
}

// TestConfiguration: the presets' origins, none, and refused values.
func TestConfiguration(t *testing.T) {
	prov := newProvider(t)
	srv := start(t, baseEnv(prov, "", map[string]string{"PROVIDER": "hubspot"}))
	if out := srv.Out.String(); !strings.Contains(out, "api_origins=https://api.hubapi.com") {
		t.Errorf("PROVIDER=hubspot: no API passthrough to api.hubapi.com in the log:\n%s", out)
	}
	srv = start(t, baseEnv(prov, "none", map[string]string{"PROVIDER": "notion"}))
	checkError(t, do(t, "GET", srv.URL+"/api/api.notion.com/v1/users", nil), 404, "not_found")
	if strings.Contains(srv.Out.String(), "API passthrough on") {
		t.Errorf("API_ORIGINS=none: the passthrough is on")
	}

	env := baseEnv(prov, "http://10.0.0.8:8080,https://api.hubapi.com/v3", nil)(8787)
	code, out := runToExit(t, env)
	if code != 2 || !strings.Contains(out, "API_ORIGINS:") || strings.Contains(out, "10.0.0.8") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	env = baseEnv(prov, "", map[string]string{"API_MAX_BODY": "lots", "API_TIMEOUT": "never"})(8787)
	code, out = runToExit(t, env)
	if code != 2 || !strings.Contains(out, "API_MAX_BODY:") || !strings.Contains(out, "API_TIMEOUT:") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
