package web

import (
	"bytes"
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
	"handoff/internal/jsonstr"
)

// appHandlers serves one app's routes.
type appHandlers struct {
	*server
	app   *App
	pages *appPages
	// scopes are what the app's API passthrough may call (nil: off).
	scopes []apiScope
}

func (h *appHandlers) cors(c *fiber.Ctx) error {
	setCORS(c, h.app.CORS)
	return c.Next()
}

func (s *server) healthz(c *fiber.Ctx) error {
	setCORS(c, s.rootCORS)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.SendString(`{"status":"ok"}`)
}

func (s *server) upNoApp(c *fiber.Ctx) error {
	setCORS(c, s.rootCORS)
	return c.SendString("handoff is up and running.")
}

func (h *appHandlers) up(c *fiber.Ctx) error {
	return c.SendString("handoff is up and running.")
}

func (h *appHandlers) authorize(c *fiber.Ctx) error {
	if !h.allow(c, routeAuthorize) {
		return errSlowDown
	}
	login, err := h.app.Broker.AuthorizeWith(loginParams(c))
	if err != nil {
		return err
	}
	h.noteLogin(c, login)
	var arr [1024]byte // on the stack: sendJSON copies it into the response
	buf := append(arr[:0], `{"url":`...)
	buf = jsonstr.Append(buf, login.URL)
	buf = append(buf, `,"readKey":`...)
	buf = jsonstr.Append(buf, login.ReadKey)
	buf = append(buf, '}')
	return sendJSON(c, fiber.StatusOK, buf)
}

func (h *appHandlers) poll(c *fiber.Ctx) error {
	key := bodyOrQuery(c, "readKey")
	tokens, err := h.app.Broker.Poll(key, flow.PollOptions{ReplayFailed: replayFailed(c)})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, fiber.StatusOK, tokens)
}

func (h *appHandlers) refresh(c *fiber.Ctx) error {
	if !h.allow(c, routeRefresh) {
		return errSlowDown
	}
	p := &requestParams{c: c} // the body is parsed once, for the token and the template variables
	var token string
	if q := c.Request().URI().QueryArgs().Peek("code"); len(q) > 0 {
		// Plugins that put the token in the query unencoded turn its '+'
		// into a space; refresh tokens have no spaces, so undo it.
		token = strings.ReplaceAll(string(q), " ", "+")
	} else {
		token = p.bodyOrQuery("refresh_token")
	}
	tokens, err := h.app.Broker.RefreshWith(context.Background(), token, p.get)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, fiber.StatusOK, tokens)
}

// redirectAllow is the Allow header of the redirect route's 405s: HEAD is
// refused there (redirect), and refuseUnknownMethods leaves it out too.
const redirectAllow = "GET, OPTIONS"

func (h *appHandlers) redirect(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodHead {
		// Fiber answers HEAD on GET routes; a link scanner's HEAD must not
		// spend the state and the code that the user's GET needs.
		c.Set(fiber.HeaderAllow, redirectAllow)
		return fiber.ErrMethodNotAllowed
	}
	c.Locals(localsPage, h.pages) // errors from here on render as this app's pages
	if !h.allow(c, routeRedirect) {
		return errSlowDown
	}
	q := c.Request().URI().QueryArgs()
	err := h.app.Broker.RedirectWith(context.Background(), flow.Callback{
		State:            string(q.Peek("state")), // string() copies: the request's memory is reused
		Code:             string(q.Peek("code")),
		Error:            string(q.Peek("error")),
		ErrorDescription: string(q.Peek("error_description")),
		ReplayFailed:     replayFailed(c),
	}, queryParams(c))
	if err != nil {
		return err
	}
	return renderPage(c, h.pages, fiber.StatusOK, h.pages.authenticated)
}

func (h *appHandlers) demoPage(c *fiber.Ctx) error {
	setPageHeaders(c, demoCSP)
	var buf bytes.Buffer
	if err := demoTmpl.Execute(&buf, map[string]any{"Title": "handoff demo", "Style": asCSS(style), "Script": asJS(demoScript)}); err != nil {
		return err
	}
	return c.Send(buf.Bytes())
}

func replayFailed(c *fiber.Ctx) bool {
	return len(c.Request().Header.Peek("Fly-Replay-Failed")) > 0
}
