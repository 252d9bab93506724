package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
	"handoff/internal/jsonstr"
)

var errSlowDown = &flow.Error{Kind: flow.KindSlowDown, Code: "slow_down",
	Description: "too many requests; wait a moment and try again"}

const localsPage = "handoff.page"

// apiError is a refusal or a failure of the API passthrough
// (docs/protocol.md#api-passthrough). It belongs to web, not flow: no
// OAuth is involved. errorHandler maps it.
type apiError struct {
	status int
	code   string
	desc   string
}

func (e *apiError) Error() string { return e.desc }

// The passthrough's errors. Descriptions never quote the target: its path
// or query may hold a token.
var (
	errAPITarget = &apiError{fiber.StatusForbidden, "invalid_request",
		"the API target is not one of this app's API_ORIGINS (scheme, host and port exactly as listed, no user info)"}
	errAPIPath = &apiError{fiber.StatusForbidden, "invalid_request",
		`the API path or query is refused: no "." or ".." segments, no empty segments, no encoded "/", "\" or ".", no backslash, printable ASCII only`}
	errAPIEncoded = &apiError{fiber.StatusForbidden, "invalid_request",
		"put the target URL after /? as it is, not percent-encoded"}
	errAPILoop = &apiError{fiber.StatusLoopDetected, "invalid_request",
		"the request came through a handoff's API passthrough already"}
	errAPIOff = &apiError{fiber.StatusNotFound, "not_found",
		"no API passthrough here: the app has no API_ORIGINS"}
	errAPIBodyLarge = &apiError{fiber.StatusRequestEntityTooLarge, "invalid_request",
		"the request body is over API_MAX_BODY"}
	errAPITimeout = &apiError{fiber.StatusGatewayTimeout, "temporarily_unavailable",
		"the API did not answer within API_TIMEOUT"}
	errAPIUnreachable = &apiError{fiber.StatusBadGateway, "server_error",
		"the API could not be reached"}
	errAPIBusy = &apiError{fiber.StatusServiceUnavailable, "temporarily_unavailable",
		"too many API calls in flight; try again in a moment"}
)

// errorHandler is the one place errors become HTTP responses: JSON for the
// API, an HTML page for the redirect route.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	if len(c.Response().Header.Peek(fiber.HeaderVary)) == 0 {
		setCORS(c, s.corsFor(c.Path()))
	}
	if ferr, ok := asFlowError(err); ok {
		if ferr.Kind == flow.KindElsewhere {
			// Fly's proxy replays the request on the owner and drops
			// this answer, which has no body (docs/protocol.md#several-machines; SendStatus would
			// add the status text).
			c.Set("Fly-Replay", "instance="+ferr.Machine+";timeout=2s;fallback=force_self")
			return c.Status(fiber.StatusServiceUnavailable).Send(nil)
		}
		if ferr.Kind == flow.KindSlowDown || ferr.Kind == flow.KindBusy {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		if ps, _ := c.Locals(localsPage).(*appPages); ps != nil {
			status, p := ps.pageFor(ferr)
			return renderPage(c, ps, status, p)
		}
		if ferr.Body != nil && ferr.Kind == flow.KindProviderRejected {
			// The provider's own error JSON, so the plugin sees what
			// the provider said (invalid_grant: log in again).
			return sendJSON(c, refusedStatus(ferr.Status), ferr.Body)
		}
		return sendError(c, apiStatus(ferr), ferr.Code, ferr.Description)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.status >= 500 {
			// err names the upstream host and the network's error,
			// never the path or the query (fasthttp's errors quote no
			// bytes: SecureErrorLogMessage).
			s.log.Warn("API passthrough failed", "err", err)
		}
		if ae == errAPIBusy {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return sendError(c, ae.status, ae.code, ae.desc)
	}
	fe, ok := asFiberError(err)
	if !ok {
		s.log.Error("request failed", "route", c.Route().Path, "err", err)
		fe = fiber.ErrInternalServerError
	}
	code, desc := "server_error", "internal error"
	switch fe.Code {
	case fiber.StatusNotFound:
		code, desc = "not_found", "no such route"
	case fiber.StatusMethodNotAllowed:
		code, desc = "method_not_allowed", "method not allowed on this route"
		if s.redirectKeys[routeKey(c.Path())] {
			// Fiber's Allow names HEAD, registered with GET, which the
			// redirect route refuses.
			c.Set(fiber.HeaderAllow, redirectAllow)
		}
	case fiber.StatusRequestEntityTooLarge:
		code, desc = "invalid_request", "the request body is over 64 KiB"
	case fiber.StatusUnsupportedMediaType:
		code, desc = "invalid_request", "a request body must not be compressed: send it without Content-Encoding"
	case fiber.StatusRequestHeaderFieldsTooLarge, fiber.StatusRequestURITooLong:
		code, desc = "invalid_request", "the request headers or URL are too large"
	case fiber.StatusRequestTimeout:
		code, desc = "invalid_request", "the request took too long to arrive"
	case fiber.StatusBadRequest:
		code, desc = "invalid_request", "malformed request"
	}
	return sendError(c, fe.Code, code, desc)
}

// asFlowError is errors.As for *flow.Error, without its allocation when err
// is one itself (every error flow returns).
func asFlowError(err error) (*flow.Error, bool) {
	if e, ok := err.(*flow.Error); ok {
		return e, true
	}
	var e *flow.Error
	ok := errors.As(err, &e)
	return e, ok
}

// asFiberError is errors.As for *fiber.Error, likewise (404 and 405 from
// the router).
func asFiberError(err error) (*fiber.Error, bool) {
	if e, ok := err.(*fiber.Error); ok {
		return e, true
	}
	var e *fiber.Error
	ok := errors.As(err, &e)
	return e, ok
}

func sendError(c *fiber.Ctx, status int, code, desc string) error {
	var arr [256]byte // on the stack: sendJSON copies it
	buf := append(arr[:0], `{"error":`...)
	buf = jsonstr.Append(buf, code)
	buf = append(buf, `,"error_description":`...)
	buf = jsonstr.Append(buf, desc)
	buf = append(buf, '}')
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, status, buf)
}

// apiStatus maps flow's error kinds to statuses of the JSON API (docs/protocol.md).
func apiStatus(e *flow.Error) int {
	switch e.Kind {
	case flow.KindInvalidRequest, flow.KindInvalidState:
		return fiber.StatusBadRequest
	case flow.KindPending:
		return fiber.StatusNotFound // existing clients poll on 404 (docs/protocol.md#poll)
	case flow.KindGone, flow.KindOwnerGone, flow.KindCancelled, flow.KindRefused:
		return fiber.StatusGone
	case flow.KindSlowDown:
		return fiber.StatusTooManyRequests
	case flow.KindProviderRejected:
		return refusedStatus(e.Status)
	case flow.KindProviderTimeout:
		return fiber.StatusGatewayTimeout
	case flow.KindBusy:
		return fiber.StatusServiceUnavailable
	case flow.KindUnsupported:
		return fiber.StatusNotImplemented
	default:
		return fiber.StatusBadGateway
	}
}

// refusedStatus passes on the provider's 4xx; a 200 that carried an error
// becomes 400.
func refusedStatus(status int) int {
	if status >= 400 && status < 500 {
		return status
	}
	return fiber.StatusBadRequest
}

// pageFor maps flow's error kinds to the redirect route's pages
// (docs/protocol.md#redirect): a cancellation (access_denied) and a refusal
// (any other code the provider sent the user back with) are different
// pages, and the provider's description is shown once.
func (ps *appPages) pageFor(e *flow.Error) (int, page) {
	switch e.Kind {
	case flow.KindInvalidState:
		return fiber.StatusBadRequest, ps.invalidLink
	case flow.KindCancelled:
		p := ps.cancelled
		p.Detail = e.ProviderSaid
		return fiber.StatusOK, p
	case flow.KindRefused:
		p := ps.refused
		p.Code, p.Hint, p.Detail = e.Code, e.Hint, e.ProviderSaid
		return fiber.StatusOK, p
	case flow.KindInvalidRequest:
		return fiber.StatusBadRequest, ps.badRequest
	case flow.KindProviderRejected:
		// The code is flow's, mapped to RFC 6749's; the provider's own
		// description of a refused exchange is not shown (it may quote
		// the code it refused).
		p := ps.providerRejected
		p.Code, p.Hint = e.Code, e.Hint
		return fiber.StatusBadGateway, p
	case flow.KindProviderTimeout:
		return fiber.StatusGatewayTimeout, ps.providerTimeout
	case flow.KindOwnerGone:
		return fiber.StatusServiceUnavailable, ps.ownerGone
	case flow.KindBusy:
		return fiber.StatusServiceUnavailable, ps.busy
	case flow.KindSlowDown:
		return fiber.StatusTooManyRequests, ps.slowDown
	default:
		return fiber.StatusBadGateway, ps.providerFailed
	}
}
