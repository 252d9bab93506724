package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// ResponseTee passes the status, headers and body on and keeps the body.
func TestResponseTee(t *testing.T) {
	rec := httptest.NewRecorder()
	tee := &ResponseTee{ResponseWriter: rec}
	tee.Header().Set("Content-Type", "application/json")
	tee.WriteHeader(http.StatusTeapot)
	io.WriteString(tee, `{"a":`)
	io.WriteString(tee, `1}`)
	if rec.Code != http.StatusTeapot || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != `{"a":1}` {
		t.Errorf("passed on: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	if got := tee.Body.String(); got != `{"a":1}` {
		t.Errorf("kept %q", got)
	}
}
