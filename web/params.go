package web

import (
	"encoding/json"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
)

// requestParams reads a request's parameters by name for flow: the query
// first, then the body (docs/protocol.md#common-rules), which is parsed
// once, on the first name the query lacks. The body parser of every route
// that reads one: /authorize, /poll and /refresh (through bodyOrQuery),
// /revoke.
type requestParams struct {
	c      *fiber.Ctx
	parsed bool
	json   map[string]json.RawMessage
	form   *multipart.Form
}

// loginParams are the parameters of an /authorize request, or nil when it
// has none at all: the plain login then costs nothing more than before
// (no body is looked at twice, no closure made).
func loginParams(c *fiber.Ctx) flow.Params {
	if len(c.Request().URI().QueryString()) == 0 && len(c.Request().Body()) == 0 {
		return nil
	}
	return newParams(c)
}

func newParams(c *fiber.Ctx) flow.Params {
	p := &requestParams{c: c}
	return p.get
}

// queryParams reads the query alone (the provider's redirect).
func queryParams(c *fiber.Ctx) flow.Params {
	return func(name string) flow.Param {
		q := c.Request().URI().QueryArgs()
		if !q.Has(name) {
			return flow.Param{}
		}
		return flow.Param{Value: string(q.Peek(name)), Found: true}
	}
}

// get returns a copy of the value, safe to keep after the handler returns:
// the query's, where the query has the name (even empty), else the body's.
func (p *requestParams) get(name string) flow.Param {
	if v := queryParams(p.c)(name); v.Found {
		return v
	}
	return p.body(name)
}

// bodyOrQuery returns a copy of the value of name: the query's when it is
// not empty (an empty query value counts as not sent), else the body's. A
// value that is not text (JSON) reads as none.
func (p *requestParams) bodyOrQuery(name string) string {
	if v := p.c.Request().URI().QueryArgs().Peek(name); len(v) > 0 {
		return string(v)
	}
	return p.body(name).Value
}

// body reads name from the body alone, parsing it on the first call. The
// value is a copy.
func (p *requestParams) body(name string) flow.Param {
	p.parse()
	switch {
	case p.json != nil:
		raw, ok := p.json[name]
		if !ok || string(raw) == "null" {
			return flow.Param{}
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return flow.Param{Found: true, NotText: true}
		}
		return flow.Param{Value: s, Found: true}
	case p.form != nil:
		v, ok := p.form.Value[name]
		if !ok || len(v) == 0 {
			return flow.Param{}
		}
		return flow.Param{Value: v[0], Found: true}
	default:
		args := p.c.Request().PostArgs()
		if !args.Has(name) {
			return flow.Param{}
		}
		return flow.Param{Value: string(args.Peek(name)), Found: true}
	}
}

// parse reads the body: a JSON object when it says so or looks like one, a
// multipart form, else a urlencoded form (read on demand by PostArgs). A
// body that is none of these carries nothing.
func (p *requestParams) parse() {
	if p.parsed {
		return
	}
	p.parsed = true
	body := p.c.Request().Body()
	if len(body) == 0 {
		return
	}
	ct := string(p.c.Request().Header.ContentType())
	if strings.HasPrefix(ct, fiber.MIMEApplicationJSON) || body[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil && m != nil {
			p.json = m
		} else {
			p.json = map[string]json.RawMessage{}
		}
		return
	}
	if len(ct) >= len(fiber.MIMEMultipartForm) && strings.EqualFold(ct[:len(fiber.MIMEMultipartForm)], fiber.MIMEMultipartForm) {
		if f, err := p.c.Request().MultipartForm(); err == nil {
			p.form = f
		} else {
			p.form = &multipart.Form{}
		}
	}
}
