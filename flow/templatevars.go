package flow

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Template variables: the {name} placeholders of a preset's endpoints
// (Shopify's {shop}), filled per login from the plugin's choice and sealed
// in its state (docs/protocol.md#authorize), or per request at /refresh and
// /revoke. A value is checked as strictly wherever it comes from.

// templateVar is a preset's template variable, compiled.
type templateVar struct {
	name string
	re   *regexp.Regexp // anchored
	// inHost: the variable sits in the authorize endpoint's host, so a
	// provider that echoes it back may send that whole host (Shopify sends
	// shop=<shop>.myshopify.com).
	inHost bool
}

// endpoint is a provider URL that may hold {name} placeholders of the app's
// template variables.
type endpoint struct {
	raw   string
	needs []int // indices into Broker.vars of the placeholders it holds
}

func newEndpoint(raw string, vars []templateVar) endpoint {
	e := endpoint{raw: raw}
	for i, v := range vars {
		if strings.Contains(raw, "{"+v.name+"}") {
			e.needs = append(e.needs, i)
		}
	}
	return e
}

// fill puts values into e's placeholders. It returns the name of a needed
// variable that has no value, if any.
func (e endpoint) fill(vars []templateVar, values []string) (string, string) {
	s := e.raw
	for _, i := range e.needs {
		if i >= len(values) || values[i] == "" {
			return "", vars[i].name
		}
		// Values are unreserved characters only (checkValue), so they
		// need no escaping anywhere in a URL.
		s = strings.ReplaceAll(s, "{"+vars[i].name+"}", values[i])
	}
	return s, ""
}

// sample fills every placeholder with a value that is valid in any part of
// a URL, to check the endpoint's shape once at start-up.
func (e endpoint) sample(vars []templateVar) string {
	s := e.raw
	for _, i := range e.needs {
		s = strings.ReplaceAll(s, "{"+vars[i].name+"}", "x")
	}
	return s
}

// compileVars checks a preset's template variables.
func compileVars(vars []TemplateVar, authorizeEndpoint string) ([]templateVar, error) {
	host := authorizeEndpoint
	if _, rest, ok := strings.Cut(host, "://"); ok {
		host = rest
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	out := make([]templateVar, 0, len(vars))
	for _, v := range vars {
		switch {
		case !validVarName(v.Name):
			return nil, fmt.Errorf("flow: template variable %q: not a lowercase name", v.Name)
		case isReservedParam(v.Name) || isChoiceParam(v.Name):
			return nil, fmt.Errorf("flow: template variable %q: the name of a parameter handoff reads itself", v.Name)
		}
		for _, o := range out {
			if o.name == v.Name {
				return nil, fmt.Errorf("flow: template variable %q declared twice", v.Name)
			}
		}
		re, err := regexp.Compile(`^(?:` + v.Pattern + `)$`)
		if err != nil {
			return nil, fmt.Errorf("flow: template variable %q: pattern: %w", v.Name, err)
		}
		out = append(out, templateVar{name: v.Name, re: re, inHost: strings.Contains(host, "{"+v.Name+"}")})
	}
	return out, nil
}

func validVarName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validVarValue admits only URL-unreserved characters (RFC 3986 §2.3), so
// a value needs no escaping and cannot change a URL's structure (no '/',
// '?', '#', '@' or ':'), whatever pattern a preset declares; "." and ".."
// are refused as path segments that climb.
func validVarValue(s string) bool {
	if s == "" || len(s) > maxVarValue || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' && c != '~' {
			return false
		}
	}
	return true
}

// checkValue says why val cannot fill v, wherever val comes from: it is
// missing ("" is no value), or it is not one v admits. It returns nil for a
// value v admits.
func (v templateVar) checkValue(val string) error {
	if val == "" {
		return invalidParam(v.name, "is required by this app's provider")
	}
	if !validVarValue(val) || !v.re.MatchString(val) {
		return invalidParam(v.name, "is not a value this provider accepts")
	}
	return nil
}

// checkEcho compares what the provider sent back on the redirect under a
// template variable's name with the sealed value: a provider that tells
// handoff which tenant the login happened at (Shopify's shop) must name the
// one the login was started for. It may name the value or, for a variable
// in the authorize endpoint's host, that host.
func (b *Broker) checkEcho(st *state, p Params) error {
	if p == nil || st.vars == nil {
		return nil
	}
	for i, v := range b.vars {
		sealed := st.vars[i]
		if sealed == "" {
			continue
		}
		echo := p(v.name)
		if !echo.Found || echo.Value == sealed && !echo.NotText {
			continue
		}
		if v.inHost && !echo.NotText && echo.Value == b.authorizeHost(st.vars) {
			continue
		}
		b.log.Info("redirect refused", "login", st.id.logRef(), "reason", "the provider sent back another "+v.name)
		return fail(KindInvalidState, "invalid_request", "the provider sent back another "+v.name+" than the login was started for")
	}
	return nil
}

// authorizeHost is the host of the authorize endpoint filled with values.
func (b *Broker) authorizeHost(values []string) string {
	s, missing := b.authorizeEndpoint.fill(b.vars, values)
	if missing != "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// endpointFor fills an endpoint used outside a login (refresh, revoke) from
// the request's parameters, checked as at /authorize.
func (b *Broker) endpointFor(e endpoint, p Params) (string, error) {
	if len(e.needs) == 0 {
		return e.raw, nil
	}
	values := make([]string, len(b.vars))
	for _, i := range e.needs {
		v := b.vars[i]
		var val string
		if p != nil {
			var err error
			if val, err = text(p, v.name); err != nil {
				return "", err
			}
		}
		if err := v.checkValue(val); err != nil {
			return "", err
		}
		values[i] = val
	}
	s, _ := e.fill(b.vars, values)
	return s, nil
}

// longestVar names the template variable with the longest chosen value:
// the one to blame when the choices do not fit in a state.
func (b *Broker) longestVar(c *choices) string {
	name, n := "", -1
	for i, v := range c.vars {
		if len(v) > n {
			name, n = b.vars[i].name, len(v)
		}
	}
	if name == "" {
		return "scope"
	}
	return name
}
