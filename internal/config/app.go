package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"handoff/crypto"
	"handoff/flow"
	"handoff/web"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// loadApp reads one app's variables (prefixed under APPS), applies its
// preset and demo defaults, and adds what is wrong to allProblems.
func loadApp(c *Config, name string, allProblems *problems) (App, bool) {
	var e appEnv
	prefix := Prefix(name)
	if err := envconfig.Process(strings.TrimSuffix(prefix, "_"), &e); err != nil {
		allProblems.add(prefix+"*", err.Error())
		return App{}, false
	}
	emptyMeansDefault(&e)
	var p problems
	v := func(n string) string { return prefix + n }
	app := App{Name: name, PluginID: strings.TrimSpace(e.PluginID)}
	if c.Demo {
		demoDefaults(c, name, &e)
	}

	var preset flow.Preset
	if e.Provider != "" {
		app.Provider = strings.ToLower(strings.TrimSpace(e.Provider))
		var ok bool
		if preset, ok = flow.LookupPreset(app.Provider); !ok {
			p.add(v("PROVIDER"), "unknown provider; known: "+strings.Join(flow.PresetNames(), ", "))
		}
		app.ProviderName = preset.Name
	} else {
		preset.PKCE = true
		if c.Demo && e.AuthorizeEndpoint == DemoMockBase(c)+DemoMockPath+"/authorize" {
			app.ProviderName = DemoProviderName
		}
	}
	app.PluginName = p.displayName(v("PLUGIN_NAME"), e.PluginName)
	f := &app.Flow
	f.ClientID = p.required(v("CLIENT_ID"), e.ClientID)
	f.ClientSecret = p.required(v("CLIENT_SECRET"), e.ClientSecret)
	f.RedirectURI = p.httpURL(v("REDIRECT_URI"), e.RedirectURI, true)
	if u, err := url.Parse(f.RedirectURI); err == nil && f.RedirectURI != "" {
		app.RedirectPath = u.EscapedPath()
		if app.RedirectPath == "" {
			app.RedirectPath = "/"
		}
		switch {
		case u.Fragment != "" || u.RawQuery != "":
			p.add(v("REDIRECT_URI"), "must have no query or fragment")
		case name != "" && !strings.HasPrefix(app.RedirectPath, "/"+name+"/"):
			p.add(v("REDIRECT_URI"), fmt.Sprintf("its path must start with /%s/", name))
		case reservedPath(name, app.RedirectPath):
			p.add(v("REDIRECT_URI"), "its path is one of handoff's own routes")
		}
	}
	authorize := or(e.AuthorizeEndpoint, preset.AuthorizeEndpoint)
	token := or(e.TokenEndpoint, preset.TokenEndpoint)
	refresh := or(e.RefreshEndpoint, preset.RefreshEndpoint)
	revoke := or(e.RevokeEndpoint, preset.RevokeEndpoint)
	if tenant, ok := tenantOf(&p, v("TENANT"), e.Tenant, authorize, token, refresh, revoke); ok {
		for _, u := range []*string{&authorize, &token, &refresh, &revoke} {
			*u = strings.ReplaceAll(*u, TenantPlaceholder, tenant)
		}
	}
	// The endpoints may hold the preset's template variables ({shop}),
	// which each login fills in (docs/protocol.md#authorize), and the
	// revocation endpoint {client_id}, which flow fills with CLIENT_ID.
	f.Vars = preset.Vars
	f.AuthorizeEndpoint = p.endpoint(v("AUTHORIZE_ENDPOINT"), authorize, f.Vars, false, true)
	f.TokenEndpoint = p.endpoint(v("TOKEN_ENDPOINT"), token, f.Vars, false, true)
	f.RefreshEndpoint = p.endpoint(v("REFRESH_ENDPOINT"), refresh, f.Vars, false, false)
	f.RevokeEndpoint = p.endpoint(v("REVOKE_ENDPOINT"), revoke, f.Vars, true, false)
	f.RevokeStyle = preset.Revoke
	f.ProviderName = preset.Name
	f.TokensAt = preset.TokensAt
	f.ErrorCodes = preset.ErrorCodes
	f.TokenParams, _ = url.ParseQuery(preset.TokenParams) // presets are checked by flow's tests

	sep := or(preset.ScopeSeparator, " ")
	f.Scope = strings.Join(strings.Fields(e.Scope), sep)
	f.ScopeSeparator = sep
	if words := strings.Fields(e.AllowedScopes); len(words) > 0 {
		f.AllowedScopes = words
	}
	distinct := map[string]bool{}
	for _, w := range strings.Fields(or(e.AllowedScopes, e.Scope)) {
		distinct[w] = true
	}
	if len(distinct) > flow.MaxAllowedScopes {
		p.add(v("ALLOWED_SCOPES"), fmt.Sprintf("at most %d scopes (without it, SCOPE's words are the allowed scopes)", flow.MaxAllowedScopes))
	}
	if strings.TrimSpace(e.RefreshReplayTTL) != "" {
		f.RefreshReplayTTL = p.duration(v("REFRESH_REPLAY_TTL"), e.RefreshReplayTTL)
	}
	// AUTHORIZE_PARAMS adds to the preset's parameters and replaces those of
	// the same name: adding login_hint must not drop Google's
	// access_type=offline, without which no refresh token comes.
	presetParams, _ := url.ParseQuery(preset.AuthorizeParams) // presets are checked by flow's tests
	if q, err := url.ParseQuery(strings.TrimPrefix(strings.TrimSpace(e.AuthorizeParams), "?")); err != nil {
		p.add(v("AUTHORIZE_PARAMS"), "not a query string (a=b&c=d)")
	} else {
		for k, vs := range q {
			presetParams[k] = vs
		}
		q = presetParams
		for _, k := range flow.ReservedParams() {
			if q.Has(k) {
				p.add(v("AUTHORIZE_PARAMS"), fmt.Sprintf("%s is set by handoff", k))
			}
		}
		f.AuthorizeParams = q
	}
	f.PKCE = preset.PKCE
	if e.PKCE != "" {
		f.PKCE = p.onOff(v("PKCE"), e.PKCE)
	}
	f.AuthStyle, f.BodyFormat = preset.AuthStyle, preset.BodyFormat
	switch strings.ToLower(strings.TrimSpace(e.TokenAuthStyle)) {
	case "":
	case "post", "client_secret_post":
		f.AuthStyle = flow.AuthPost
	case "basic", "client_secret_basic":
		f.AuthStyle = flow.AuthBasic
	case "auto":
		f.AuthStyle = flow.AuthAuto
	default:
		p.add(v("TOKEN_AUTH_STYLE"), "must be post, basic or auto")
	}
	f.LoginTTL = p.duration(v("LOGIN_TTL"), e.LoginTTL)
	f.TokenTTL = p.duration(v("TOKEN_TTL"), e.TokenTTL)
	f.ProviderTimeout = p.duration(v("PROVIDER_TIMEOUT"), e.ProviderTimeout)
	f.ProviderConcurrency = flow.DefaultProviderConcurrency
	if strings.TrimSpace(e.ProviderConcurrency) != "" {
		f.ProviderConcurrency = p.positive(v("PROVIDER_CONCURRENCY"), e.ProviderConcurrency)
	}
	f.MaxPending = c.MaxPending
	if c.RateLimit {
		f.PollLimit = 10
	}
	f.MachineID = c.MachineID

	if app.PluginID != "" && !web.IsLabel(app.PluginID) {
		p.add(v("PLUGIN_ID"), "must be letters, digits and '-' (the id in the plugin's URL)")
	}
	for _, o := range strings.Split(e.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if canon, ok := web.CanonicalOrigin(o); ok {
			app.AllowedOrigins = append(app.AllowedOrigins, canon)
		} else {
			p.add(v("ALLOWED_ORIGINS"), "each entry must be an origin like https://example.com (no path)")
		}
	}
	pluginURI(&app, &p, v("PLUGIN_URI"), e.PluginURI, c.PluginParentDomain)

	app.APIOrigins = apiOrigins(&p, v("API_ORIGINS"), e.APIOrigins, preset.APIOrigins)

	// Seal keys: SEAL_KEY, or the client secret, through HKDF with the
	// app's name, so apps sharing a secret or a key still refuse each
	// other's states and read keys.
	label := sealKeyLabel + name
	var current []byte
	if e.SealKey != "" {
		if k, err := parseSealKey(e.SealKey); err != nil {
			p.add(v("SEAL_KEY"), err.Error())
		} else {
			current = crypto.DeriveKey(k, label)
		}
	} else if f.ClientSecret != "" {
		if why := guessable(f.ClientSecret); why != "" {
			p.add(v("CLIENT_SECRET"), fmt.Sprintf("cannot be the source of the seal key: %s, and a state from /authorize "+
				"lets anyone test guesses of it offline; set %s to a random key: openssl rand -hex 32", why, v("SEAL_KEY")))
		} else {
			app.KeyFromSecret = true
			current = crypto.DeriveKey([]byte(f.ClientSecret), label)
		}
	}
	var old [][]byte
	for i, s := range strings.Split(e.SealKeysOld, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if k, err := parseSealKey(s); err != nil {
			p.add(v("SEAL_KEYS_OLD"), fmt.Sprintf("entry %d: %v", i+1, err))
		} else {
			old = append(old, crypto.DeriveKey(k, label))
		}
	}
	if current != nil {
		sealer, err := crypto.NewSealer(current, old...)
		if err != nil {
			p.add(v("SEAL_KEY"), err.Error())
		}
		f.Sealer = sealer
	}
	*allProblems = append(*allProblems, p...)
	return app, len(p) == 0
}

// TENANT fills the {tenant} of a preset's URLs (Microsoft's directory).
// It is per app, not per login: an app registration is single-tenant (its
// one directory, which it must name: /common answers AADSTS50194) or
// multi-tenant (common, organizations, consumers).
const (
	TenantPlaceholder = "{tenant}"
	TenantDefault     = "common"
)

// tenantPattern admits a tenant's GUID, a verified domain
// (contoso.onmicrosoft.com) and the common, organizations and consumers
// aliases: one path segment, nothing that could leave it.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)

// tenantOf returns the tenant for endpoints that hold {tenant}: TENANT, or
// common. TENANT for a provider whose URLs have no tenant is a mistake
// worth naming, as is one that is not a tenant's name.
func tenantOf(p *problems, name, tenant string, endpoints ...string) (string, bool) {
	tenant = strings.TrimSpace(tenant)
	templated := false
	for _, e := range endpoints {
		templated = templated || strings.Contains(e, TenantPlaceholder)
	}
	switch {
	case !templated && tenant != "":
		p.add(name, "set, but the provider's URLs have no "+TenantPlaceholder+" (only microsoft's do)")
	case !templated:
	case tenant == "":
		return TenantDefault, true
	case !tenantPattern.MatchString(tenant):
		p.add(name, "not a tenant: a directory (tenant) ID, a domain such as contoso.onmicrosoft.com, or common, organizations, consumers")
		return TenantDefault, true // so the URLs draw no second complaint
	default:
		return tenant, true
	}
	return "", false
}

// pluginURI reads PLUGIN_URI, the name older plugin backends gave the
// plugin's origin (they sent it as Access-Control-Allow-Origin), so such a
// setup keeps working unchanged (docs/protocol.md#configuration): a plugin origin,
// https://<id>.<PLUGIN_PARENT_DOMAIN>, stands for PLUGIN_ID=<id> when
// PLUGIN_ID is not set; any other origin is an ALLOWED_ORIGINS entry.
// Anything else, "*" included, is a problem that names the variable.
func pluginURI(app *App, p *problems, name, uri, parentDomain string) {
	uri = strings.TrimSpace(uri)
	if uri == "" {
		return
	}
	canon, ok := web.CanonicalOrigin(uri)
	if !ok {
		p.add(name, "the older name for the plugin's origin, and this is not an origin "+
			"such as https://<id>."+parentDomain+"; set PLUGIN_ID to the plugin's id instead")
		return
	}
	id, isPlugin := strings.CutPrefix(canon, "https://")
	id, isPlugin = strings.CutSuffix(id, "."+parentDomain)
	switch {
	case isPlugin && web.IsLabel(id) && (app.PluginID == "" || strings.EqualFold(app.PluginID, id)):
		app.PluginID = id
	case !slices.Contains(app.AllowedOrigins, canon):
		app.AllowedOrigins = append(app.AllowedOrigins, canon)
	}
}

// apiOrigins reads API_ORIGINS (docs/protocol.md#api-passthrough): empty
// takes the preset's origins, "none" turns the passthrough off, and each
// entry must pass web.APIOrigin. Two origins with one host and port (http
// and https) are refused: /api/<host>/ could not tell them apart.
func apiOrigins(p *problems, name, v string, preset []string) []string {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "none") {
		return nil
	}
	entries := preset
	if v != "" {
		entries = strings.Split(v, ",")
	}
	var out []string
	hosts := map[string]string{}
	for _, o := range entries {
		if strings.TrimSpace(o) == "" {
			continue
		}
		canon, err := web.APIOrigin(o)
		if err != nil {
			p.add(name, "each entry must be an origin https://host[:port] (http:// only for localhost, 127.0.0.0/8 or [::1]), or none: "+err.Error())
			continue
		}
		_, hostport, _ := strings.Cut(canon, "://")
		switch hosts[hostport] {
		case canon:
			continue // listed twice
		case "":
			hosts[hostport] = canon
			out = append(out, canon)
		default:
			p.add(name, "two origins with the same host and port: /api/<host>/ could not tell them apart")
		}
	}
	return out
}

// parseSealKey reads a SEAL_KEY or SEAL_KEYS_OLD entry and refuses one byte
// repeated (64 zeros): a placeholder, not a secret.
func parseSealKey(s string) ([]byte, error) {
	k, err := crypto.ParseKey(s)
	if err != nil {
		return nil, err
	}
	for _, b := range k[1:] {
		if b != k[0] {
			return k, nil
		}
	}
	return nil, errors.New("one byte repeated is not a key; make one with openssl rand -hex 32")
}

// demoDefaults points an unconfigured app at the built-in mock provider
// served on the same port. Variables that are set still apply.
func demoDefaults(c *Config, app string, e *appEnv) {
	base := DemoMockBase(c)
	if e.ClientID == "" {
		e.ClientID = DemoClientID
	}
	if e.ClientSecret == "" {
		e.ClientSecret = DemoClientSecret
	}
	if e.SealKey == "" {
		// Never derived from a secret: the demo's is published, and one
		// given for a try-out need not pass guessable.
		var k [crypto.KeySize]byte
		rand.Read(k[:])
		e.SealKey = fmt.Sprintf("%x", k)
	}
	if e.RedirectURI == "" {
		e.RedirectURI = base + "/redirect"
		if app != "" {
			e.RedirectURI = base + "/" + app + "/redirect"
		}
	}
	if e.AuthorizeEndpoint == "" && e.Provider == "" {
		e.AuthorizeEndpoint = base + DemoMockPath + "/authorize"
	}
	if e.TokenEndpoint == "" && e.Provider == "" {
		e.TokenEndpoint = base + DemoMockPath + "/token"
	}
	if e.RevokeEndpoint == "" && e.Provider == "" {
		e.RevokeEndpoint = base + DemoMockPath + "/revoke"
	}
	if e.Scope == "" && e.Provider == "" {
		e.Scope = "profile"
		if e.AllowedScopes == "" {
			// The demo page's "Also allow email" asks for the second.
			e.AllowedScopes = strings.Join(DemoScopes, " ")
		}
	}
	if e.PluginName == "" {
		e.PluginName = DemoPluginName
	}
}

// DemoMockBase is the origin the demo's mock provider is served on.
func DemoMockBase(c *Config) string {
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://localhost:%d", scheme, c.Port)
}

// DemoScopes are the scopes the demo's mock provider knows: a login asks
// for the first, and may add the second (docs/protocol.md#demo-mode).
var DemoScopes = []string{"profile", "email"}
