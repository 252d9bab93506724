package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"handoff/internal/config"
)

// TestAPIOrigins: API_ORIGINS per app, the presets' defaults, none, and
// what is refused (docs/protocol.md#api-passthrough).
func TestAPIOrigins(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"custom provider: off", nil, nil},
		{"hubspot preset", []string{"PROVIDER", "hubspot"}, []string{"https://api.hubapi.com"}},
		{"notion preset", []string{"PROVIDER", "notion"}, []string{"https://api.notion.com"}},
		{"google preset: off (Google answers CORS itself)", []string{"PROVIDER", "google"}, nil},
		{"none turns the preset's off", []string{"PROVIDER", "hubspot", "API_ORIGINS", " None "}, nil},
		{"explicit replaces the preset's", []string{"PROVIDER", "notion", "API_ORIGINS", "https://api.example.com"},
			[]string{"https://api.example.com"}},
		{"a list, canonicalised, duplicates once", []string{"API_ORIGINS",
			"https://API.hubapi.com/, http://127.0.0.1:9000 ,https://api.hubapi.com:443,http://localhost:8080,http://[::1]:7000"},
			[]string{"https://api.hubapi.com", "http://127.0.0.1:9000", "http://localhost:8080", "http://[::1]:7000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustLoad(t, tc.env...).Apps[0]
			if !reflect.DeepEqual(a.APIOrigins, tc.want) {
				t.Errorf("APIOrigins %q, want %q", a.APIOrigins, tc.want)
			}
		})
	}

	for _, bad := range []string{
		"http://api.hubapi.com", "http://10.0.0.7:8080", "http://169.254.169.254", "https://10.0.0.7",
		"https://api.hubapi.com.", "https://user:pw@api.hubapi.com", "https://api.hubapi.com/v3",
		"api.hubapi.com", "ftp://api.hubapi.com", "https://api.hubapi.com, http://127.0.0.1:1, https://127.0.0.1:1",
	} {
		t.Run("refused "+bad, func(t *testing.T) {
			_, err := load(t, "API_ORIGINS", bad)
			if err == nil {
				t.Fatal("loaded")
			}
			ps := problems(t, err)
			if !hasProblem(ps, "API_ORIGINS") {
				t.Errorf("problems %q do not name API_ORIGINS", ps)
			}
			if strings.Contains(err.Error(), "api.hubapi.com") || strings.Contains(err.Error(), "10.0.0.7") {
				t.Errorf("the problem quotes the value: %v", err)
			}
		})
	}
}

// TestAPIOriginsPerApp: with APPS, each app has its own API_ORIGINS, with
// its prefix; the unprefixed variable is not a default.
func TestAPIOriginsPerApp(t *testing.T) {
	cleanEnv(t)
	setEnv(t,
		"APPS", "hub,notes",
		"API_ORIGINS", "https://api.ignored.example",
		"HUB_CLIENT_ID", "1", "HUB_CLIENT_SECRET", "k7x2m9qz4w1p8vbQ", "HUB_REDIRECT_URI", "https://h.example/hub/redirect",
		"HUB_PROVIDER", "hubspot",
		"NOTES_CLIENT_ID", "2", "NOTES_CLIENT_SECRET", "q8Vx2mKp9ZrT4wLs", "NOTES_REDIRECT_URI", "https://h.example/notes/redirect",
		"NOTES_PROVIDER", "notion", "NOTES_API_ORIGINS", "https://api.notion.com,http://127.0.0.1:4000",
	)
	c, err := config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Apps[0].APIOrigins; !reflect.DeepEqual(got, []string{"https://api.hubapi.com"}) {
		t.Errorf("hub: %q", got)
	}
	if got := c.Apps[1].APIOrigins; !reflect.DeepEqual(got, []string{"https://api.notion.com", "http://127.0.0.1:4000"}) {
		t.Errorf("notes: %q", got)
	}

	setEnv(t, "HUB_API_ORIGINS", "http://example.com")
	_, err = config.Load(false)
	if err == nil || !hasProblem(problems(t, err), "HUB_API_ORIGINS") {
		t.Errorf("want a problem naming HUB_API_ORIGINS, got %v", err)
	}
}

// TestAPILimits: API_MAX_BODY and API_TIMEOUT, server-wide.
func TestAPILimits(t *testing.T) {
	c := mustLoad(t)
	eq(t, c.APIMaxBody, int64(10<<20))
	eq(t, c.APITimeout, 30*time.Second)
	for in, want := range map[string]int64{"512KiB": 512 << 10, "2 MiB": 2 << 20, "1048576": 1 << 20, "3MB": 3e6, "1gib": 1 << 30, "100B": 100} {
		eq(t, mustLoad(t, "API_MAX_BODY", in).APIMaxBody, want)
	}
	eq(t, mustLoad(t, "API_TIMEOUT", "5s").APITimeout, 5*time.Second)
	eq(t, mustLoad(t, "API_TIMEOUT", "45").APITimeout, 45*time.Second)
	for _, bad := range []string{"0", "-1", "ten", "10 TiB", "1.5MiB", "99999999999999999999"} {
		_, err := load(t, "API_MAX_BODY", bad)
		if err == nil || !hasProblem(problems(t, err), "API_MAX_BODY") {
			t.Errorf("API_MAX_BODY=%s: %v", bad, err)
		}
	}
	_, err := load(t, "API_TIMEOUT", "0s")
	if err == nil || !hasProblem(problems(t, err), "API_TIMEOUT") {
		t.Errorf("API_TIMEOUT=0s: %v", err)
	}
}
