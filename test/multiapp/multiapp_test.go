package multiapp

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"handoff/internal/testkit"
)

const (
	hubspotID     = "hubspot-client"
	hubspotSecret = "hubspot-secret+/=MARK1"
	sheetsID      = "sheets-client"
	sheetsSecret  = "sheets-secret+/=MARK2"
	hubspotPlugin = "hubspotpluginid"
	sheetsPlugin  = "sheetspluginid"
	parent        = "plugins.framercdn.com"
)

// twoApps is the environment of a deployment serving two plugins with two
// providers, as an operator would write it after reading docs/multi-app.md.
func twoApps(hub, sheets *provider) func(port int) map[string]string {
	return func(port int) map[string]string {
		env := hubspotApp(hub, port, "callback")
		maps.Copy(env, map[string]string{
			"APPS": "hubspot-plugin,google-sheets-plugin",

			"HUBSPOT_PLUGIN_SCOPE":           "crm.objects.contacts.read oauth",
			"HUBSPOT_PLUGIN_ALLOWED_ORIGINS": "https://hubspot-tools.example.com",

			"GOOGLE_SHEETS_PLUGIN_CLIENT_ID":          sheetsID,
			"GOOGLE_SHEETS_PLUGIN_CLIENT_SECRET":      sheetsSecret,
			"GOOGLE_SHEETS_PLUGIN_REDIRECT_URI":       fmt.Sprintf("http://127.0.0.1:%d/google-sheets-plugin/oauth/redirect", port),
			"GOOGLE_SHEETS_PLUGIN_AUTHORIZE_ENDPOINT": sheets.URL + "/authorize",
			"GOOGLE_SHEETS_PLUGIN_TOKEN_ENDPOINT":     sheets.URL + "/token",
			"GOOGLE_SHEETS_PLUGIN_SCOPE":              "https://www.googleapis.com/auth/spreadsheets.readonly",
			"GOOGLE_SHEETS_PLUGIN_AUTHORIZE_PARAMS":   "access_type=offline&prompt=consent",
			"GOOGLE_SHEETS_PLUGIN_PKCE":               "false",
			"GOOGLE_SHEETS_PLUGIN_PLUGIN_ID":          sheetsPlugin,
		})
		return env
	}
}

// hubspotApp is the hubspot-plugin app's own variables, its redirect route
// at /hubspot-plugin/redirectPath.
func hubspotApp(hub *provider, port int, redirectPath string) map[string]string {
	return map[string]string{
		"HUBSPOT_PLUGIN_CLIENT_ID":          hubspotID,
		"HUBSPOT_PLUGIN_CLIENT_SECRET":      hubspotSecret,
		"HUBSPOT_PLUGIN_REDIRECT_URI":       fmt.Sprintf("http://127.0.0.1:%d/hubspot-plugin/%s", port, redirectPath),
		"HUBSPOT_PLUGIN_AUTHORIZE_ENDPOINT": hub.URL + "/authorize",
		"HUBSPOT_PLUGIN_TOKEN_ENDPOINT":     hub.URL + "/token",
		"HUBSPOT_PLUGIN_PLUGIN_ID":          hubspotPlugin,
	}
}

// TestTwoAppsLoginAndRefresh runs each app's whole login and a refresh
// under its own path, against its own provider, in one process.
func TestTwoAppsLoginAndRefresh(t *testing.T) {
	hub := newProvider(t, hubspotID, hubspotSecret)
	sheets := newProvider(t, sheetsID, sheetsSecret)
	srv := startServer(t, twoApps(hub, sheets))

	apps := []struct {
		name, redirect, clientID, scope string
		pkce                            bool
		extra                           map[string]string
		own, other                      *provider
	}{
		{"hubspot-plugin", "/hubspot-plugin/callback", hubspotID, "crm.objects.contacts.read oauth", true, nil, hub, sheets},
		{"google-sheets-plugin", "/google-sheets-plugin/oauth/redirect", sheetsID,
			"https://www.googleapis.com/auth/spreadsheets.readonly", false,
			map[string]string{"access_type": "offline", "prompt": "consent"}, sheets, hub},
	}
	for _, a := range apps {
		t.Run(a.name, func(t *testing.T) {
			p := plugin(srv.URL+"/"+a.name, "")
			ownBefore, otherBefore := a.own.TokenRequests(), a.other.TokenRequests()

			authURL, _ := authorize(t, p)
			if !strings.HasPrefix(authURL, a.own.URL+"/authorize?") {
				t.Errorf("authorize URL %q does not go to the app's own provider %s", authURL, a.own.URL)
			}
			for k, want := range map[string]string{
				"client_id": a.clientID, "redirect_uri": srv.URL + a.redirect, "scope": a.scope,
			} {
				if got := query(t, authURL, k); got != want {
					t.Errorf("authorize URL %s = %q, want %q", k, got, want)
				}
			}
			for k, want := range a.extra {
				if got := query(t, authURL, k); got != want {
					t.Errorf("authorize URL %s = %q, want %q (the app's AUTHORIZE_PARAMS)", k, got, want)
				}
			}
			if got := query(t, authURL, "code_challenge") != ""; got != a.pkce {
				t.Errorf("code_challenge present = %v, want %v (the app's PKCE)", got, a.pkce)
			}

			tokens := p.Login(t, srv.URL+a.redirect)
			access, _ := tokens["access_token"].(string)
			rt, _ := tokens["refresh_token"].(string)
			if access == "" || rt == "" || tokens["expires_in"] != float64(3600) {
				t.Fatalf("tokens: %v", tokens)
			}
			// The access token works at the app's own provider only.
			if r := do(t, "GET", a.own.URL+"/userinfo", http.Header{"Authorization": {"Bearer " + access}}, ""); r.Status != 200 {
				t.Errorf("userinfo at the app's provider: %d %s", r.Status, r.Body)
			}
			if r := do(t, "GET", a.other.URL+"/userinfo", http.Header{"Authorization": {"Bearer " + access}}, ""); r.Status != 401 {
				t.Errorf("userinfo at the other provider: %d", r.Status)
			}

			r := refresh(t, p, rt)
			if r.Status != http.StatusOK {
				t.Fatalf("refresh: %d %s", r.Status, r.Body)
			}
			if m := jsonOf(t, r); m["access_token"] == "" || m["access_token"] == access || m["refresh_token"] != rt {
				t.Errorf("refresh answer: %v (want a new access token and the same refresh token added)", m)
			}
			// The other app's /refresh sends the token to the other
			// provider, with the other client: refused.
			otherApp := "google-sheets-plugin"
			if a.name == otherApp {
				otherApp = "hubspot-plugin"
			}
			if r := refresh(t, plugin(srv.URL+"/"+otherApp, ""), rt); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_grant" {
				t.Errorf("refresh at the other app: %d %s", r.Status, r.Body)
			}
			if got := a.own.TokenRequests() - ownBefore; got != 2 {
				t.Errorf("the app's provider saw %d token requests, want 2 (exchange, refresh)", got)
			}
			if got := a.other.TokenRequests() - otherBefore; got != 1 {
				t.Errorf("the other provider saw %d token requests, want 1 (the refused refresh)", got)
			}
		})
	}

	t.Run("routes", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			status       int
			contains     string
		}{
			{"GET", "/healthz", 200, `{"status":"ok"}`},
			{"GET", "/hubspot-plugin/", 200, "up and running"},
			{"GET", "/google-sheets-plugin/", 200, "up and running"},
			// No app at the root with APPS.
			{"POST", "/authorize", 404, "not_found"},
			{"POST", "/poll", 404, "not_found"},
			{"GET", "/redirect", 404, "not_found"},
			{"POST", "/unknown-plugin/authorize", 404, "not_found"},
			// Each redirect route exists under its own app only.
			{"GET", "/google-sheets-plugin/callback", 404, "not_found"},
			{"GET", "/hubspot-plugin/oauth/redirect", 404, "not_found"},
			{"GET", "/hubspot-plugin/poll", 405, "method_not_allowed"},
			{"POST", "/hubspot-plugin/poll", 400, "invalid_request"}, // Airtable's liveness check
		} {
			r := do(t, c.method, srv.URL+c.path, nil, "")
			if r.Status != c.status || !strings.Contains(string(r.Body), c.contains) {
				t.Errorf("%s %s: %d %s, want %d …%s…", c.method, c.path, r.Status, r.Body, c.status, c.contains)
			}
		}
		r := do(t, "GET", srv.URL+"/", nil, "")
		if r.Status != 200 || !strings.Contains(string(r.Body), "up and running") {
			t.Errorf("GET /: %d %s", r.Status, r.Body)
		}
		for _, name := range []string{"hubspot", "sheets", "google", hubspotPlugin, sheetsPlugin} {
			if strings.Contains(strings.ToLower(string(r.Body)), name) || strings.Contains(fmt.Sprint(r.Header), name) {
				t.Errorf("GET / names an app (%q): %v %s", name, r.Header, r.Body)
			}
		}
	})

	// Secrets never reach the log.
	for _, secret := range []string{hubspotSecret, sheetsSecret} {
		if strings.Contains(srv.Out.String(), secret) {
			t.Errorf("the log contains a client secret")
		}
	}
}

// TestOneNamedApp: APPS with a single app still serves GET / (naming no
// app) and keeps every route under /{app}/.
func TestOneNamedApp(t *testing.T) {
	hub := newProvider(t, hubspotID, hubspotSecret)
	srv := startServer(t, func(port int) map[string]string {
		env := hubspotApp(hub, port, "redirect")
		env["APPS"] = "hubspot-plugin"
		return env
	})
	r := do(t, "GET", srv.URL+"/", http.Header{"Origin": {"https://" + hubspotPlugin + "." + parent}}, "")
	if r.Status != 200 || !strings.Contains(string(r.Body), "up and running") {
		t.Errorf("GET /: %d %s", r.Status, r.Body)
	}
	if strings.Contains(fmt.Sprint(r.Header)+string(r.Body), "hubspot") {
		t.Errorf("GET / names the app: %v %s", r.Header, r.Body)
	}
	if r := do(t, "POST", srv.URL+"/authorize", nil, ""); r.Status != 404 {
		t.Errorf("POST /authorize at the root: %d, want 404", r.Status)
	}
	plugin(srv.URL+"/hubspot-plugin", "").Login(t, srv.URL+"/hubspot-plugin/redirect")
}

// TestCrossAppReplayRefused: a state or read key of one app is refused by
// every other app, before any request to the provider, even when the apps
// share one provider client, one CLIENT_SECRET and one SEAL_KEY: each
// app's sealing key is derived with its name.
func TestCrossAppReplayRefused(t *testing.T) {
	const sharedKey = "6a1f0c5e9b3d4a7f8e2c1b0a9d8c7b6a5f4e3d2c1b0a99887766554433221100"
	const sharedSecret = "one-Secret+4kQ9zX2m"
	for _, shared := range []string{"CLIENT_SECRET", "SEAL_KEY"} {
		t.Run("shared "+shared, func(t *testing.T) {
			prov := newProvider(t, "one-client", sharedSecret)
			srv := startServer(t, func(port int) map[string]string {
				env := map[string]string{"APPS": "app-a,app-b"}
				for _, a := range []string{"APP_A_", "APP_B_"} {
					env[a+"CLIENT_ID"] = "one-client"
					env[a+"CLIENT_SECRET"] = sharedSecret
					env[a+"AUTHORIZE_ENDPOINT"] = prov.URL + "/authorize"
					env[a+"TOKEN_ENDPOINT"] = prov.URL + "/token"
					if shared == "SEAL_KEY" {
						env[a+"SEAL_KEY"] = sharedKey
					}
				}
				env["APP_A_REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/app-a/redirect", port)
				env["APP_B_REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/app-b/redirect", port)
				return env
			})
			apps := map[string]*testkit.Plugin{"app-a": plugin(srv.URL+"/app-a", ""), "app-b": plugin(srv.URL+"/app-b", "")}
			for _, pair := range [][2]string{{"app-a", "app-b"}, {"app-b", "app-a"}} {
				own, other := pair[0], pair[1]
				authURL, readKey := authorize(t, apps[own])

				// The read key at the other app's /poll.
				if r := poll(t, apps[other], readKey); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
					t.Errorf("%s's read key at %s/poll: %d %s, want 400 invalid_request", own, other, r.Status, r.Body)
				}

				// The provider's redirect, with a valid code and the
				// state, sent to the other app's redirect route.
				back := consent(t, authURL)
				replayed := strings.Replace(back, "/"+own+"/redirect?", "/"+other+"/redirect?", 1)
				before := prov.TokenRequests()
				r := do(t, "GET", replayed, nil, "")
				if r.Status != http.StatusBadRequest || r.Outcome() != "invalid" ||
					!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
					t.Errorf("%s's state at %s's redirect: %d %q, want the 400 invalid-link page", own, other, r.Status, r.Outcome())
				}
				if got := prov.TokenRequests() - before; got != 0 {
					t.Errorf("%s's state at %s's redirect made %d provider requests, want 0", own, other, got)
				}

				// The refusal spent nothing: the login completes at its
				// own app, and its read key still means nothing elsewhere.
				if r := do(t, "GET", back, nil, ""); r.Status != 200 || r.Outcome() != "authenticated" {
					t.Fatalf("%s's own redirect after the replay: %d %s", own, r.Status, r.Body)
				}
				if r := poll(t, apps[other], readKey); r.Status != http.StatusBadRequest {
					t.Errorf("%s's read key at %s/poll with tokens waiting: %d %s", own, other, r.Status, r.Body)
				}
				if r := poll(t, apps[own], readKey); r.Status != http.StatusOK {
					t.Errorf("%s's own poll: %d %s", own, r.Status, r.Body)
				}
			}
		})
	}
}

// TestPerAppCORS: each app answers with its own plugin's CORS rules; the
// global routes favour no plugin.
func TestPerAppCORS(t *testing.T) {
	hub := newProvider(t, hubspotID, hubspotSecret)
	sheets := newProvider(t, sheetsID, sheetsSecret)
	srv := startServer(t, twoApps(hub, sheets))

	hubOrigin := "https://" + hubspotPlugin + "." + parent
	sheetsOrigin := "https://" + sheetsPlugin + "." + parent
	for _, c := range []struct {
		method, path, origin, want string
	}{
		{"POST", "/hubspot-plugin/authorize", hubOrigin, hubOrigin},
		{"POST", "/hubspot-plugin/authorize", "https://" + hubspotPlugin + "-a1b2c3." + parent, "https://" + hubspotPlugin + "-a1b2c3." + parent},
		{"POST", "/hubspot-plugin/authorize", sheetsOrigin, hubOrigin}, // not echoed: its own plugin's origin
		{"POST", "/hubspot-plugin/authorize", "https://" + hubspotPlugin + "evil." + parent, hubOrigin},
		{"POST", "/hubspot-plugin/authorize", "https://hubspot-tools.example.com", "https://hubspot-tools.example.com"}, // its ALLOWED_ORIGINS
		{"POST", "/hubspot-plugin/poll", "http://localhost:5173", "http://localhost:5173"},
		{"POST", "/hubspot-plugin/poll", sheetsOrigin, hubOrigin},
		{"POST", "/hubspot-plugin/refresh", sheetsOrigin, hubOrigin},
		{"GET", "/hubspot-plugin/callback", sheetsOrigin, hubOrigin},
		{"GET", "/hubspot-plugin/nope", sheetsOrigin, hubOrigin}, // 404 inside the app's path
		{"OPTIONS", "/hubspot-plugin/authorize", hubOrigin, hubOrigin},
		{"OPTIONS", "/hubspot-plugin/authorize", sheetsOrigin, hubOrigin},

		{"POST", "/google-sheets-plugin/authorize", sheetsOrigin, sheetsOrigin},
		{"POST", "/google-sheets-plugin/authorize", hubOrigin, sheetsOrigin},
		{"POST", "/google-sheets-plugin/authorize", "https://hubspot-tools.example.com", sheetsOrigin},
		{"POST", "/google-sheets-plugin/poll", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"GET", "/google-sheets-plugin/oauth/redirect", hubOrigin, sheetsOrigin},
		{"OPTIONS", "/google-sheets-plugin/poll", sheetsOrigin, sheetsOrigin},

		// Global routes: loopback only, no plugin favoured.
		{"GET", "/healthz", hubOrigin, ""},
		{"GET", "/healthz", "http://localhost:3000", "http://localhost:3000"},
		{"GET", "/", sheetsOrigin, ""},
		{"POST", "/nope", hubOrigin, ""},
		{"OPTIONS", "/healthz", hubOrigin, ""},
	} {
		r := do(t, c.method, srv.URL+c.path, http.Header{"Origin": {c.origin}}, "")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != c.want {
			t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q, want %q", c.method, c.path, c.origin, got, c.want)
		}
		if got := r.Header.Get("Vary"); got != "Origin" {
			t.Errorf("%s %s: Vary %q", c.method, c.path, got)
		}
		if c.method == "OPTIONS" && !strings.HasPrefix(c.path, "/healthz") {
			if r.Status != http.StatusNoContent || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
				t.Errorf("preflight %s: %d %v", c.path, r.Status, r.Header)
			}
		}
	}
}

// TestFramerClientUnchanged: the same plugin client, which knows only a base
// URL, logs in and refreshes against a single-app deployment at the root and
// against an app of a multi-app deployment at http://host/hubspot-plugin.
func TestFramerClientUnchanged(t *testing.T) {
	hub := newProvider(t, hubspotID, hubspotSecret)
	single := startServer(t, func(port int) map[string]string {
		return map[string]string{
			"CLIENT_ID":          hubspotID,
			"CLIENT_SECRET":      hubspotSecret,
			"REDIRECT_URI":       fmt.Sprintf("http://127.0.0.1:%d/redirect", port),
			"AUTHORIZE_ENDPOINT": hub.URL + "/authorize",
			"TOKEN_ENDPOINT":     hub.URL + "/token",
			"PLUGIN_ID":          hubspotPlugin,
		}
	})
	multi := startServer(t, twoApps(hub, newProvider(t, sheetsID, sheetsSecret)))
	origin := "https://" + hubspotPlugin + "." + parent

	for _, c := range []struct{ name, base, redirect string }{
		{"single app at the root", single.URL, single.URL + "/redirect"},
		{"APPS, base URL with the app path", multi.URL + "/hubspot-plugin", multi.URL + "/hubspot-plugin/callback"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := plugin(c.base, origin)
			// Airtable's plugin checks liveness with a key-less poll.
			if r := do(t, "POST", c.base+"/poll", http.Header{"Origin": {origin}}, ""); r.Status != 400 || r.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("key-less poll: %d %v", r.Status, r.Header)
			}
			tokens := p.Login(t, c.redirect)
			if r := refresh(t, p, tokens["refresh_token"].(string)); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("refresh: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestEachAppsPagesNameItsPlugin: each app's PLUGIN_NAME reaches its own
// pages, through the built binary's wiring; the unprefixed PLUGIN_NAME is no
// default under APPS, and an app without one gets the generic wording.
func TestEachAppsPagesNameItsPlugin(t *testing.T) {
	hub := newProvider(t, hubspotID, hubspotSecret)
	sheets := newProvider(t, sheetsID, sheetsSecret)
	srv := startServer(t, func(port int) map[string]string {
		env := twoApps(hub, sheets)(port)
		env["HUBSPOT_PLUGIN_PLUGIN_NAME"] = "HubSpot Sync"
		env["PLUGIN_NAME"] = "Not A Default"
		return env
	})
	for _, a := range []struct{ name, redirect, title, startAgain string }{
		{"hubspot-plugin", "/hubspot-plugin/callback", "HubSpot Sync is now connected", "start the login again from HubSpot Sync."},
		{"google-sheets-plugin", "/google-sheets-plugin/oauth/redirect", "You&#39;re authenticated", "start the login again from the plugin."},
	} {
		t.Run(a.name, func(t *testing.T) {
			authURL, _ := authorize(t, plugin(srv.URL+"/"+a.name, ""))
			page := do(t, "GET", consent(t, authURL), nil, "")
			if page.Status != http.StatusOK || page.Outcome() != "authenticated" {
				t.Fatalf("redirect page: %d %s", page.Status, page.Body)
			}
			if !strings.Contains(string(page.Body), "<h1>"+a.title+"</h1>") {
				t.Errorf("success page does not say %q:\n%s", a.title, page.Body)
			}
			invalid := do(t, "GET", srv.URL+a.redirect+"?state=forged&code=x", nil, "")
			if invalid.Status != http.StatusBadRequest || !strings.Contains(string(invalid.Body), a.startAgain) {
				t.Errorf("invalid link page: %d, want one saying %q:\n%s", invalid.Status, a.startAgain, invalid.Body)
			}
			for _, r := range []response{page, invalid} {
				if strings.Contains(string(r.Body), "Not A Default") {
					t.Errorf("the unprefixed PLUGIN_NAME reached an app under APPS")
				}
			}
		})
	}
}
