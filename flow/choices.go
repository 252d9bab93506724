package flow

import (
	"fmt"
	"net/url"
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
			if err := v.checkValue(val); err != nil {
				return c, err
			}
			if c.vars == nil {
				c.vars = make([]string, len(b.vars))
			}
			c.vars[i] = val
		}
	}
	for _, i := range b.loginNeeds {
		if c.vars == nil || c.vars[i] == "" {
			return c, b.vars[i].checkValue("") // required
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
