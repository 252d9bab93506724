package testkit

import (
	"bytes"
	"net/http"
)

// ResponseTee is an http.ResponseWriter that passes what a handler writes
// on to the one it wraps and keeps a copy of the body, so that a fake
// provider's middleware can hold the exact bytes it answered. It is for one
// request's goroutine; a test reads Body once the handler has returned.
type ResponseTee struct {
	http.ResponseWriter
	Body bytes.Buffer
}

func (w *ResponseTee) Write(p []byte) (int, error) {
	w.Body.Write(p)
	return w.ResponseWriter.Write(p)
}
