package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
)

// The error handler's answer to errors no route is meant to return: an
// error of unknown kind is a generic 500 server_error whose body says
// nothing of the error (it is logged instead); wrapped flow and Fiber
// errors keep their meaning.
func TestErrorHandlerFallbacks(t *testing.T) {
	const origin = "https://plugin.plugins.framercdn.com"
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		logged bool // the error's text reaches the log
	}{
		{"an unknown error", errors.New("disk on fire at /var/db"), 500, "server_error", true},
		{"a wrapped unknown error", fmt.Errorf("saving: %w", io.ErrShortWrite), 500, "server_error", true},
		{"a wrapped flow error", fmt.Errorf("poll: %w", &flow.Error{Kind: flow.KindPending, Code: "authorization_pending", Description: "wait"}), 404, "authorization_pending", false},
		{"a wrapped Fiber error", fmt.Errorf("route: %w", fiber.ErrMethodNotAllowed), 405, "method_not_allowed", false},
		{"a Fiber error of another status", fiber.ErrTeapot, 418, "server_error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &server{log: slog.New(slog.NewTextHandler(&logs, nil)), rootCORS: CORS{PluginID: "plugin", ParentDomain: "plugins.framercdn.com"}}
			app := fiber.New(fiber.Config{ErrorHandler: s.errorHandler, DisableStartupMessage: true})
			app.Get("/boom", func(*fiber.Ctx) error { return c.err })
			req := httptest.NewRequest("GET", "/boom", nil)
			req.Header.Set("Origin", origin)
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), `"error":"`+c.code+`"`) {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, body, c.status, c.code)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
			}
			if c.status == 500 {
				if want := `{"error":"server_error","error_description":"internal error"}`; string(body) != want {
					t.Errorf("body %s, want %s", body, want)
				}
			}
			if got := strings.Contains(logs.String(), c.err.Error()); got != c.logged {
				t.Errorf("the error in the log: %v, want %v:\n%s", got, c.logged, logs.String())
			}
		})
	}
}
