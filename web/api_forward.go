package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// forward sends the request to t and streams the answer back.
func (h *appHandlers) forward(c *fiber.Ctx, t apiTarget) error {
	p := h.server.api
	c.Locals(localsUpstream, t.up.host)
	in := c.Request()
	if viaHandoff(&in.Header) {
		return errAPILoop
	}
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)

	uri := make([]byte, 0, 8+len(t.up.host)+len(t.path)+1+len(t.query))
	uri = append(append(uri, t.up.origin...), t.path...)
	if len(t.query) > 0 {
		uri = append(append(uri, '?'), t.query...)
	}
	out.SetRequestURIBytes(uri)
	out.Header.SetMethodBytes(in.Header.Method())
	out.Header.SetNoDefaultContentType(true)
	copyRequestHeaders(&out.Header, &in.Header)
	// RFC 9110 §7.6.3; it names no deployment, and viaHandoff stops a
	// call that comes back to a handoff (one listing its own origin, or
	// another's).
	out.Header.Set(fiber.HeaderVia, viaValue)
	var body *limitedBody
	if n := in.Header.ContentLength(); n > 0 || n == -1 {
		if stream := in.BodyStream(); stream != nil {
			body = &limitedBody{r: stream, left: p.maxBody, short: int64(n)}
			out.SetBodyStream(body, n)
		} else {
			out.SetBodyRaw(in.Body()) // never reached: takeBody leaves passthrough bodies streamed
		}
	}

	resp := fasthttp.AcquireResponse()
	resp.Header.SetNoDefaultContentType(true) // no Content-Type the upstream did not send
	calls := t.scope.calls[t.up]
	if err := t.up.hc.DoTimeout(out, resp, p.timeout); err != nil {
		fasthttp.ReleaseResponse(resp)
		calls.Failed()
		return callError(t.up, body, err)
	}
	calls.Answered(resp.StatusCode())
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// Upgrade was not forwarded; an upstream switching anyway is broken.
		fasthttp.ReleaseResponse(resp)
		return fmt.Errorf("API call to %s: %w: 101 Switching Protocols", t.up.host, errAPIUnreachable)
	}

	c.Status(resp.StatusCode())
	c.Response().Header.SetNoDefaultContentType(true)
	expose := copyResponseHeaders(&c.Response().Header, &resp.Header)
	if len(expose) > 0 {
		c.Response().Header.SetBytesV(fiber.HeaderAccessControlExposeHeaders, expose)
	}
	// The answer is served from handoff's origin: opened as a page, it
	// must not run there (an API may answer HTML), nor be sniffed into
	// something else. fetch() ignores both.
	c.Response().Header.Add(fiber.HeaderContentSecurityPolicy, "sandbox; default-src 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")

	if stream := resp.BodyStream(); stream != nil {
		n := resp.Header.ContentLength()
		if n < 0 {
			n = -1 // chunked, or to the connection's end: chunked to the plugin
		}
		c.Response().SetBodyStream(&upstreamBody{resp: resp, r: stream}, n)
		return nil
	}
	// HEAD, 204, 304: no body came, and the connection is back in the
	// pool. (A body fasthttp read whole, which StreamResponseBody never
	// leaves, would be copied.)
	if b := resp.Body(); len(b) > 0 {
		c.Response().SetBody(b) // a copy: resp goes back to its pool
	}
	if in.Header.IsHead() && resp.Header.ContentLength() >= 0 {
		c.Response().Header.SetContentLength(resp.Header.ContentLength())
		c.Response().SkipBody = true
	}
	fasthttp.ReleaseResponse(resp)
	return nil
}

// viaValue is the Via entry handoff adds to each call.
const viaValue = "1.1 handoff"

// viaHandoff reports whether a request already went through a handoff's
// passthrough: its Via names handoff. Without this, a deployment whose
// API_ORIGINS lists its own origin would forward /api/<self>/api/<self>/…
// to itself once per segment, each hop holding a connection.
func viaHandoff(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll(fiber.HeaderVia) {
		for entry := range bytes.SplitSeq(v, []byte(",")) {
			fields := bytes.Fields(entry)
			if len(fields) >= 2 && bytes.EqualFold(fields[1], []byte("handoff")) {
				return true
			}
		}
	}
	return false
}

// callError says why a call failed: the plugin's body (over API_MAX_BODY,
// too slow, cut short) or the upstream (too slow, busy, unreachable).
func callError(u *upstream, body *limitedBody, err error) error {
	switch {
	case body != nil && body.over:
		return errAPIBodyLarge
	case body != nil && body.err != nil:
		if isTimeout(body.err) {
			return errBodyTooSlow
		}
		return errBadBody
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPIBusy, err)
	case isTimeout(err):
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPITimeout, err)
	default:
		return fmt.Errorf("API call to %s: %w: %w", u.host, errAPIUnreachable, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, fasthttp.ErrDialTimeout) || errors.As(err, &ne) && ne.Timeout()
}

// limitedBody is the plugin's request body on its way upstream: it fails
// past max bytes, and remembers why it failed, so that a failed call can be
// told apart from a failed upload.
type limitedBody struct {
	r    io.Reader
	left int64
	// short is how many bytes of a declared length are still due.
	short int64
	over  bool  // more than API_MAX_BODY came (a chunked body)
	err   error // reading the plugin's body failed, or it ended short
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		b.over = true
		return 0, errAPIBodyLarge
	}
	b.left -= int64(n)
	b.short -= int64(n)
	if err == io.EOF && b.short > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// upstreamBody is an upstream answer's body as handoff's answer streams it.
// fasthttp closes it once the answer is written or the plugin has gone;
// Close then gives the connection back to the pool (or closes it, if the
// body was not read to its end) and the Response to fasthttp's pool.
type upstreamBody struct {
	resp   *fasthttp.Response
	r      io.Reader
	closed bool
}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *upstreamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}
