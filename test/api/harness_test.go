package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// Credentials of the deployment under test. Neither may ever reach an API
// upstream.
const (
	clientID     = "api-test-client"
	clientSecret = "CLIENTSECRET-q7Zx2mP9vL4wR8sKd3"
	sealKey      = "5ea10f2d8e4b6a0c7f1e9d3b5a2c8e6f4a1d7b9c3e5f0a2b4d6c8e1f3a5b7c9d"
	pluginID     = "apiplugin1"
	pluginOrigin = "https://" + pluginID + ".plugins.framercdn.com"
)

// provider is the deployment's OAuth provider: internal/mockprovider,
// approving at once.
func newProvider(t testing.TB) *httptest.Server {
	t.Helper()
	p := mockprovider.New(mockprovider.Options{ClientID: clientID, ClientSecret: clientSecret, AutoApprove: true})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// baseEnv is a single-app deployment against prov with the passthrough to
// origins, and extra on top.
func baseEnv(prov *httptest.Server, origins string, extra map[string]string) func(port int) map[string]string {
	return func(port int) map[string]string {
		env := map[string]string{
			"CLIENT_ID":          clientID,
			"CLIENT_SECRET":      clientSecret,
			"SEAL_KEY":           sealKey,
			"REDIRECT_URI":       fmt.Sprintf("http://127.0.0.1:%d/redirect", port),
			"AUTHORIZE_ENDPOINT": prov.URL + "/authorize",
			"TOKEN_ENDPOINT":     prov.URL + "/token",
			"PLUGIN_ID":          pluginID,
			"API_ORIGINS":        origins,
			"RATE_LIMIT":         "off",
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
}

// start runs handoff (built with -race when the tests are).
func start(t testing.TB, env func(port int) map[string]string) *testkit.Proc {
	t.Helper()
	return testkit.Start(t, testkit.Options{Env: env, Race: true})
}

// client never follows redirects and never asks for compression itself
// (so it never inflates what handoff passes on).
var client = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true},
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; headers come in pairs.
func do(t testing.TB, method, u string, body io.Reader, headers ...string) response {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	r, err := (&testkit.Plugin{Client: client}).Do(method, u, h, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return response{r.Status, r.Header, r.Body}
}

// raw sends a GET request line and headers as written (no client library
// normalises them) and reads the answer.
func raw(t testing.TB, base, target string, headers ...string) response {
	t.Helper()
	return rawMethod(t, base, "GET", target, headers...)
}

// rawMethod is raw with another method. A body is never sent: a request
// that declares one is answered from its headers.
func rawMethod(t testing.TB, base, method, target string, headers ...string) response {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	r, err := testkit.RawExchange(base, b.String())
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return response{r.Status, r.Header, r.Body}
}

// checkError asserts a JSON error answer with the plugin's CORS origin.
func checkError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || testkit.ErrorCode(r.body) != code {
		t.Errorf("%d %s, want %d %s", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// runToExit runs handoff with env to its end and returns its exit status
// and output, for configurations that must stop start-up.
func runToExit(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	env["PORT"] = strconv.Itoa(testkit.FreePort(t))
	return testkit.ExitStatus(t, testkit.Command(t, testkit.Binary(t), env), 20*time.Second)
}
