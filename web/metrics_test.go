package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"handoff/internal/metrics"
	"handoff/internal/testkit"
)

// At info, /authorize's request line names the login it started, the id
// its later lines carry (docs/deploy.md#following-a-login); other request
// lines name none.
func TestAuthorizeRequestLineNamesTheLogin(t *testing.T) {
	t.Parallel()
	s, logs := startLogging(t, setup{}, slog.LevelInfo)
	l := s.authorize()
	s.authorize()
	s.poll(l.ReadKey)
	out := logs.String()
	refs := regexp.MustCompile(`msg=request method=POST route=/authorize status=200 .* login=([0-9a-f]{12})\n`).FindAllStringSubmatch(out, -1)
	if len(refs) != 2 || refs[0][1] == refs[1][1] {
		t.Errorf("want two /authorize lines with distinct login ids, got %q in:\n%s", refs, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "route=/poll") && strings.Contains(line, "login=") {
			t.Errorf("a poll's request line names a login: %s", line)
		}
	}
}

// Each passthrough call is counted by app, upstream and the class of the
// upstream's status, or as an error when no answer came
// (docs/protocol.md#metrics).
func TestAPICallsCounted(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	reg := metrics.New()
	s := apiServer(t, up, setup{metrics: reg})
	for _, p := range []string{"/ok", "/ok", "/missing"} {
		s.do("GET", apiPath(up, p), nil, "Origin", testPluginOrigin)
	}
	var out bytes.Buffer
	reg.WritePrometheus(&out)
	host := up.Addr
	for class, want := range map[string]string{"2xx": "2", "4xx": "1", "5xx": "0", "error": "0"} {
		series := `handoff_api_requests_total{handoff_app="",upstream="` + host + `",class="` + class + `"} ` + want + "\n"
		if !strings.Contains(out.String(), series) {
			t.Errorf("no %q in:\n%s", series, out.String())
		}
	}
}
