package web

import (
	"context"

	"github.com/gofiber/fiber/v2"
)

// revoke ends the plugin's grant at the provider (docs/protocol.md#revoke):
// token and token_type_hint from the query or the body. The token is never
// logged: logRequests names the route only.
func (h *appHandlers) revoke(c *fiber.Ctx) error {
	if !h.allow(c, routeRevoke) {
		return errSlowDown
	}
	p := newParams(c)
	// A token that is not a string (JSON) reads as none: 400.
	err := h.app.Broker.Revoke(context.Background(), p("token").Value, p("token_type_hint").Value, p)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderPragma, "no-cache")
	return sendJSON(c, fiber.StatusOK, []byte("{}"))
}
