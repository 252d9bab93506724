package web_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"handoff/internal/testkit"
)

// At info, /authorize's request line names the login it started, the id
// its later lines carry (docs/deploy.md#following-a-login); other request
// lines name none.
func TestAuthorizeRequestLineNamesTheLogin(t *testing.T) {
	t.Parallel()
	var logs testkit.Buffer
	s := start(t, setup{logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
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
