package web

import (
	"bytes"
	"sync"

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

// renderedPages holds the HTML of pages without a Detail, which depend only
// on constants (the keys are the page values of pages.go and pageFor), so
// each is rendered once: executing the template was an eighth of the
// server's time in a whole login.
var renderedPages sync.Map

func renderPage(c *fiber.Ctx, status int, p page) error {
	p.Style = asCSS(style)
	var body []byte
	if p.Detail == "" {
		if b, ok := renderedPages.Load(p); ok {
			body = b.([]byte)
		}
	}
	if body == nil {
		var buf bytes.Buffer
		if err := pageTmpl.Execute(&buf, p); err != nil {
			return err
		}
		body = buf.Bytes()
		if p.Detail == "" {
			renderedPages.Store(p, body)
		}
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
