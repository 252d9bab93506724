package web

import (
	"github.com/gofiber/fiber/v2"
)

// sendJSON copies body into the response's own (pooled) buffer, so callers
// may build it on the stack.
func sendJSON(c *fiber.Ctx, status int, body []byte) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Status(status).Response().SetBody(body)
	return nil
}

// renderPage answers with one of ps's pages.
func renderPage(c *fiber.Ctx, ps *appPages, status int, p page) error {
	body, err := ps.html(p)
	if err != nil {
		return err
	}
	setPageHeaders(c, pageCSP)
	c.Status(status).Response().SetBody(body) // a copy: the cached bytes stay as they are
	return nil
}

func setPageHeaders(c *fiber.Ctx, csp string) {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
}
