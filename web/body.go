package web

import (
	"bytes"
	"errors"
	"io"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// How request bodies come in (SECURITY.md properties 8 and 9). fasthttp streams them
// (StreamRequestBody): it reads at most readAheadBytes of a body before the
// handler runs, and readBody takes the rest as it arrives. Read in one go, as
// fasthttp does otherwise, a body gets a buffer of its declared length before
// its first byte: a connection announcing 64 KiB and sending one byte held
// 64 KiB.
//
// No body is ever decompressed: handlers read it with c.Request().Body(),
// never Fiber's c.Body(), which inflates whatever Content-Encoding says with
// no limit (a 1.4 KB double-gzip body became 256 MB), and a Content-Encoding
// other than identity is refused with 415 before anything reads the body.

// readAheadBytes is what fasthttp buffers of a body before the handler runs
// (its MaxRequestBodySize, in streaming mode): a form body with a read key or
// a refresh token fits, and a slow sender's connection holds no more.
const readAheadBytes = 1 << 10

// refusedHeader carries, from headerReceived to readBody, the status of a
// request refused on its headers alone. headerReceived deletes any copy the
// client sent.
const refusedHeader = "Handoff-Refused"

// headerReceived runs once a request's headers are in, before fasthttp reads
// any of its body. A request it refuses gets its Content-Length set to 0, so
// that no body byte is read, and a Connection: close, so that the unread body
// is never taken for the next request; readBody (or the API passthrough)
// then answers it.
//
// The body limit is per route: MaxBodyBytes for handoff's own routes,
// API_MAX_BODY for the API passthrough, whose requests also get API_TIMEOUT
// to arrive and to be answered, if that is longer than the listener's
// timeouts (docs/protocol.md#limits).
func (s *server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if h.Peek(refusedHeader) != nil {
		h.Del(refusedHeader)
	}
	limit, conf := int64(MaxBodyBytes), fasthttp.RequestConfig{}
	if s.api.matches(h) {
		limit = s.api.maxBody
		conf.ReadTimeout = max(s.api.timeout, s.opts.ReadTimeout)
		conf.WriteTimeout = max(s.api.timeout, s.opts.WriteTimeout)
	}
	var refused string
	switch n := h.ContentLength(); {
	case int64(n) > limit:
		// In streaming mode fasthttp would wait for the first bytes of
		// the body before the handler could refuse it.
		refused = "413"
	case n != -1 && (n == -2 || h.ConnectionClose()) && hasTransferEncoding(h.RawHeaders()):
		// Only chunked is accepted (SECURITY.md property 9), but fasthttp drops
		// "Transfer-Encoding: identity" and frames the body by
		// Content-Length, or reads none: a proxy that framed it
		// otherwise would have its body read as the next request.
		// (With both fields fasthttp closes the connection after the
		// answer, so only such requests need their raw headers read.)
		refused = "400"
	}
	if refused != "" {
		h.SetContentLength(0)
		h.SetConnectionClose()
		h.Del(fasthttp.HeaderExpect) // no 100 Continue: the body is not wanted
		h.Set(refusedHeader, refused)
		return fasthttp.RequestConfig{}
	}
	return conf
}

// hasTransferEncoding reports whether raw request headers have a
// Transfer-Encoding field.
func hasTransferEncoding(raw []byte) bool {
	const name = "transfer-encoding"
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name)) {
			return true
		}
	}
	return false
}

// Errors of the body checks; errorHandler maps them.
var (
	errEncodedBody = fiber.ErrUnsupportedMediaType
	errBodyTooSlow = fiber.ErrRequestTimeout
	errBadBody     = fiber.ErrBadRequest
	errBodyLarge   = fiber.ErrRequestEntityTooLarge
)

// takeBody is readBody as the first middleware of every route.
func (s *server) takeBody(c *fiber.Ctx) error {
	if err := s.readBody(c.Request()); err != nil {
		return err
	}
	return c.Next()
}

// readBody answers what headerReceived refused and, except on the API
// passthrough, whose body streams on to the upstream as it arrives
// (passthrough.forward), reads the body with readWholeBody.
func (s *server) readBody(req *fasthttp.Request) error {
	api := s.api.matches(&req.Header)
	switch string(req.Header.Peek(refusedHeader)) { // no allocation: compared, not kept
	case "":
	case "413":
		if api {
			return errAPIBodyLarge
		}
		return errBodyLarge
	default:
		return errBadBody
	}
	if api {
		return nil
	}
	return readWholeBody(req)
}

// readWholeBody refuses a compressed body, and reads the rest of a streamed
// body, up to MaxBodyBytes, into the request's ordinary body, where
// c.Request().Body(), PostArgs and MultipartForm find it. Its buffer grows
// with what arrives.
func readWholeBody(req *fasthttp.Request) error {
	if req.Header.Peek(fasthttp.HeaderContentEncoding) != nil {
		if !identityEncoded(&req.Header) {
			// Unread: fasthttp drains what is left of it, or closes
			// the connection when that is over 256 KiB.
			return errEncodedBody
		}
		// identity is no coding at all; fasthttp's MultipartForm
		// refuses any Content-Encoding but gzip.
		req.Header.Del(fasthttp.HeaderContentEncoding)
	}
	stream := req.BodyStream()
	if stream == nil {
		return nil
	}
	if req.Header.ContentLength() == 0 {
		req.CloseBodyStream() //nolint:errcheck // a request stream has nothing to close
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(stream, MaxBodyBytes+1))
	switch {
	case err != nil:
		// The stream has failed: fasthttp closes the connection.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errBodyTooSlow
		}
		return errBadBody
	case len(body) > MaxBodyBytes:
		return errBodyLarge
	}
	req.SetBodyRaw(body)
	return nil
}

// identityEncoded reports whether every coding in the Content-Encoding
// fields of a request is identity: handoff decompresses nothing.
func identityEncoded(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll(fasthttp.HeaderContentEncoding) {
		for coding := range bytes.SplitSeq(v, []byte(",")) {
			coding = bytes.Trim(coding, " \t")
			if len(coding) > 0 && !bytes.EqualFold(coding, []byte("identity")) {
				return false
			}
		}
	}
	return true
}
