package flow

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Per-login choices (docs/protocol.md#authorize). /authorize is
// unauthenticated, so what a plugin sends may shape one login but never
// widen what the app allows: scopes only from ALLOWED_SCOPES, a prompt from a
// fixed set, template variables by the charset the preset declares. The
// choices /redirect needs are sealed into the state, so the exchange uses
// the sealed values only.

// Param is one request parameter as the web layer found it.
type Param struct {
	Value string
	// Found reports that the request carries the parameter (an empty value
	// counts).
	Found bool
	// NotText: a JSON body gave it a value that is not a string (a number,
	// a list, an object), which no rule accepts.
	NotText bool
}

// Params looks up a request's parameters by name, wherever the web layer
// found them (the query first, then a form or JSON body). nil is a request
// without any.
type Params func(name string) Param

// reservedParams are the authorize parameters handoff sets itself. A plugin
// or AUTHORIZE_PARAMS that sets one is refused, not silently overridden.
var reservedParams = [...]string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method"}

// ReservedParams returns the authorize parameters handoff sets itself.
func ReservedParams() []string { return append([]string(nil), reservedParams[:]...) }

func isReservedParam(name string) bool {
	for _, r := range reservedParams {
		if r == name {
			return true
		}
	}
	return false
}

// prompts are the values of prompt a plugin may choose (OpenID Connect
// Core §3.1.2.1), one at a time.
var prompts = [...]string{"none", "login", "consent", "select_account"}

const (
	// MaxAllowedScopes bounds ALLOWED_SCOPES: a chosen set travels in the
	// state as a 64-bit mask.
	MaxAllowedScopes = 64
	maxLoginHint     = 256 // characters
	// maxVarValue bounds a template variable's value: its length is one
	// byte in the state.
	maxVarValue = 255
)

// choices are what one login's plugin chose. The zero value is the app's
// plain login.
type choices struct {
	scope  uint64 // bit i asks for allowed[i]; 0 asks for the app's SCOPE
	prompt uint8  // 1 + index in prompts; 0 sets none
	// hint is the login_hint. It only shapes the provider's page, so it is
	// not sealed: the state stays small.
	hint string
	// vars are template variable values by index of Broker.vars; nil when
	// none is chosen.
	vars []string
}

func (c *choices) none() bool {
	return c.scope == 0 && c.prompt == 0 && c.hint == "" && c.vars == nil
}

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
		// Values are unreserved characters only (checkVarValue), so they
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

func isChoiceParam(name string) bool {
	return name == "scope" || name == "prompt" || name == "login_hint"
}

// invalidParam is the 400 that names the parameter at fault.
func invalidParam(name, why string) *Error {
	return fail(KindInvalidRequest, "invalid_request", name+": "+why)
}

// text reads a parameter that must be a string; "" when absent or empty
// (an empty value is the same as none, which suits clients that send every
// field of a form).
func text(p Params, name string) (string, error) {
	v := p(name)
	if v.NotText {
		return "", invalidParam(name, "must be a string")
	}
	return v.Value, nil
}

// choose reads and checks a login's choices. p may be nil.
func (b *Broker) choose(p Params) (choices, error) {
	var c choices
	if p != nil {
		for _, name := range reservedParams {
			if p(name).Found {
				return c, invalidParam(name, "is set by handoff; leave it out")
			}
		}
		scope, err := text(p, "scope")
		if err != nil {
			return c, err
		}
		if c.scope, err = b.scopeMask(scope); err != nil {
			return c, err
		}
		prompt, err := text(p, "prompt")
		if err != nil {
			return c, err
		}
		if prompt != "" {
			for i, v := range prompts {
				if prompt == v {
					c.prompt = uint8(i + 1)
				}
			}
			if c.prompt == 0 {
				return c, invalidParam("prompt", "must be none, login, consent or select_account")
			}
		}
		if c.hint, err = text(p, "login_hint"); err != nil {
			return c, err
		}
		if !validLoginHint(c.hint) {
			return c, invalidParam("login_hint", "must be at most 256 printable characters")
		}
		for i, v := range b.vars {
			val, err := text(p, v.name)
			if err != nil {
				return c, err
			}
			if val == "" {
				continue
			}
			if !validVarValue(val) || !v.re.MatchString(val) {
				return c, invalidParam(v.name, "is not a value this provider accepts")
			}
			if c.vars == nil {
				c.vars = make([]string, len(b.vars))
			}
			c.vars[i] = val
		}
	}
	for _, i := range b.loginNeeds {
		if c.vars == nil || c.vars[i] == "" {
			return c, invalidParam(b.vars[i].name, "is required by this app's provider")
		}
	}
	return c, nil
}

// scopeMask checks the words of a scope parameter against ALLOWED_SCOPES.
func (b *Broker) scopeMask(scope string) (uint64, error) {
	var mask uint64
	for _, w := range strings.Fields(scope) {
		i, ok := b.allowedIndex[w]
		if !ok {
			if len(w) <= 64 && printableASCII(w) {
				return 0, invalidParam("scope", fmt.Sprintf("%q is not in this app's ALLOWED_SCOPES", w))
			}
			return 0, invalidParam("scope", "a word is not in this app's ALLOWED_SCOPES")
		}
		mask |= 1 << i
	}
	return mask, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validLoginHint(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxLoginHint {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
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

// scopeWords are the words a mask asks for, in ALLOWED_SCOPES order.
func (b *Broker) scopeWords(mask uint64) []string {
	var words []string
	for i, w := range b.allowed {
		if mask&(1<<i) != 0 {
			words = append(words, w)
		}
	}
	return words
}

// loginURL is the authorize URL of a login with choices, up to its state.
func (b *Broker) loginURL(c *choices) (string, error) {
	endpoint, missing := b.authorizeEndpoint.fill(b.vars, c.vars)
	if missing != "" {
		return "", invalidParam(missing, "is required by this app's provider")
	}
	return buildAuthorizeURL(b.cfg, endpoint, func(q url.Values) {
		if c.scope != 0 {
			q.Set("scope", strings.Join(b.scopeWords(c.scope), b.cfg.ScopeSeparator))
		}
		// A choice replaces AUTHORIZE_PARAMS' value of the same name
		// (Google's preset sets prompt=consent).
		if c.prompt != 0 {
			q.Set("prompt", prompts[c.prompt-1])
		}
		if c.hint != "" {
			q.Set("login_hint", c.hint)
		}
	})
}

// The sealed form of the choices a state carries, after its machine id:
// a tag byte per choice, then its value.
const (
	tagScope  = 's' // uvarint mask
	tagPrompt = 'p' // one byte, as choices.prompt
	tagVar    = 'v' // index byte, length byte, value
)

func (c *choices) appendSealed(dst []byte) []byte {
	if c.scope != 0 {
		dst = append(dst, tagScope)
		dst = binary.AppendUvarint(dst, c.scope)
	}
	if c.prompt != 0 {
		dst = append(dst, tagPrompt, c.prompt)
	}
	for i, v := range c.vars {
		if v != "" {
			dst = append(dst, tagVar, byte(i), byte(len(v)))
			dst = append(dst, v...)
		}
	}
	return dst
}

// openChoices reads what appendSealed wrote. The payload is authenticated,
// so a failure here means a state from a build with other variables.
func (b *Broker) openChoices(p []byte) (choices, bool) {
	var c choices
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		switch tag {
		case tagScope:
			v, n := binary.Uvarint(p)
			if n <= 0 {
				return c, false
			}
			c.scope, p = v, p[n:]
		case tagPrompt:
			if len(p) < 1 || p[0] == 0 || int(p[0]) > len(prompts) {
				return c, false
			}
			c.prompt, p = p[0], p[1:]
		case tagVar:
			if len(p) < 2 || int(p[0]) >= len(b.vars) || len(p) < 2+int(p[1]) {
				return c, false
			}
			if c.vars == nil {
				c.vars = make([]string, len(b.vars))
			}
			c.vars[p[0]] = string(p[2 : 2+int(p[1])])
			p = p[2+int(p[1]):]
		default:
			return c, false
		}
	}
	return c, true
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
		if val == "" {
			return "", invalidParam(v.name, "is required by this app's provider")
		}
		if !validVarValue(val) || !v.re.MatchString(val) {
			return "", invalidParam(v.name, "is not a value this provider accepts")
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
