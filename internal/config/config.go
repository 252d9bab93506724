// Package config reads handoff's configuration from the environment (SPEC
// §4, §8), checks all of it, and reports every problem at once. envconfig
// decodes the variables; the checks are handoff's own, because envconfig
// stops at the first error and a newcomer should fix everything in one go.
package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"handoff/crypto"
	"handoff/flow"
)

// Config is everything handoff needs to start.
type Config struct {
	Port               int
	LogLevel           slog.Level
	TLSCertFile        string
	TLSKeyFile         string
	ShutdownGrace      time.Duration
	RateLimit          bool
	MaxPending         int
	PluginParentDomain string
	// OnFly is set when FLY_APP_NAME is: logs become JSON and the client IP
	// comes from Fly-Client-IP.
	OnFly bool
	// TLSFromMkcert says the certificate came from mkcert's files in the
	// working directory rather than TLS_CERT_FILE.
	TLSFromMkcert bool
	MachineID     string
	Demo          bool
	Apps          []App
}

// App is one plugin's configuration: its routes, its CORS rules and its flow.
type App struct {
	// Name is empty for the single app at the root; otherwise routes are
	// under /Name/.
	Name           string
	Provider       string
	RedirectPath   string
	PluginID       string
	AllowedOrigins []string
	// KeyFromSecret says the seal key is derived from the client secret,
	// so rotating the secret ends logins in flight (worth a log line).
	KeyFromSecret bool
	Flow          flow.Config
}

// serverEnv and appEnv are decoded by envconfig. Every field is a string so
// decoding cannot fail; check turns them into typed values and collects
// every problem. split_words maps ClientID to CLIENT_ID without the
// envconfig:"..." tag, whose unprefixed fallback would make one app's
// variables leak into another's.
type serverEnv struct {
	Port               string `split_words:"true" default:"8787"`
	LogLevel           string `split_words:"true" default:"info"`
	TLSCertFile        string `split_words:"true"`
	TLSKeyFile         string `split_words:"true"`
	ShutdownGrace      string `split_words:"true" default:"15s"`
	RateLimit          string `split_words:"true" default:"on"`
	MaxPending         string `split_words:"true" default:"10000"`
	PluginParentDomain string `split_words:"true" default:"plugins.framercdn.com"`
	Apps               string
	FlyAppName         string `split_words:"true"`
	FlyMachineID       string `split_words:"true"`
}

type appEnv struct {
	ClientID          string `split_words:"true"`
	ClientSecret      string `split_words:"true"`
	RedirectURI       string `split_words:"true"`
	AuthorizeEndpoint string `split_words:"true"`
	TokenEndpoint     string `split_words:"true"`
	RefreshEndpoint   string `split_words:"true"`
	Scope             string
	Provider          string
	AuthorizeParams   string `split_words:"true"`
	PluginID          string `split_words:"true"`
	AllowedOrigins    string `split_words:"true"`
	SealKey           string `split_words:"true"`
	SealKeysOld       string `split_words:"true"`
	PKCE              string
	TokenAuthStyle    string `split_words:"true"`
	LoginTTL          string `split_words:"true" default:"10m"`
	TokenTTL          string `split_words:"true" default:"60s"`
	ProviderTimeout   string `split_words:"true" default:"10s"`
	// ProviderConcurrency has no default here: flow's is the one.
	ProviderConcurrency string `split_words:"true"`
}

// emptyMeansDefault gives a variable that is set but empty (PORT= in a .env)
// its default, as if it were unset; envconfig applies defaults only to unset
// variables. spec points to a struct of string fields.
func emptyMeansDefault(spec any) {
	v := reflect.ValueOf(spec).Elem()
	for i := 0; i < v.NumField(); i++ {
		if d, ok := v.Type().Field(i).Tag.Lookup("default"); ok && strings.TrimSpace(v.Field(i).String()) == "" {
			v.Field(i).SetString(d)
		}
	}
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// sealKeyLabel separates handoff's seal keys from anything else derived from
// the same secret; the app's name follows it, so apps never share a key.
const sealKeyLabel = "handoff seal key v1\x00"

var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Load reads the configuration from the process environment. With demo set,
// missing provider settings point at the built-in mock provider.
func Load(demo bool) (*Config, error) {
	var s serverEnv
	if err := envconfig.Process("", &s); err != nil {
		return nil, err // only string fields: not reached
	}
	emptyMeansDefault(&s)
	c := &Config{Demo: demo, OnFly: s.FlyAppName != "", MachineID: s.FlyMachineID}
	var p problems
	c.Port = p.port("PORT", s.Port)
	c.LogLevel = p.logLevel("LOG_LEVEL", s.LogLevel)
	c.ShutdownGrace = p.duration("SHUTDOWN_GRACE", s.ShutdownGrace)
	c.RateLimit = p.onOff("RATE_LIMIT", s.RateLimit)
	c.MaxPending = p.positive("MAX_PENDING", s.MaxPending)
	c.PluginParentDomain = strings.ToLower(strings.TrimSpace(s.PluginParentDomain))
	if !validHost(c.PluginParentDomain) {
		p.add("PLUGIN_PARENT_DOMAIN", "not a domain name")
	}
	c.TLSCertFile, c.TLSKeyFile = s.TLSCertFile, s.TLSKeyFile
	if c.TLSCertFile == "" && c.TLSKeyFile == "" && fileExists(MkcertCert) && fileExists(MkcertKey) {
		// The worker's local setup: plugins call https://localhost:8787.
		c.TLSCertFile, c.TLSKeyFile, c.TLSFromMkcert = MkcertCert, MkcertKey, true
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		p.add("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE go together")
	}
	for _, f := range []struct{ name, path string }{{"TLS_CERT_FILE", c.TLSCertFile}, {"TLS_KEY_FILE", c.TLSKeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				p.add(f.name, "cannot read the file")
			}
		}
	}
	if demo && s.FlyAppName != "" {
		p.add("FLY_APP_NAME", "set, so this is a Fly.io deployment, where -demo must not run: its mock provider signs anyone in; deploy without -demo")
	}
	if c.MachineID != "" && !appName.MatchString(c.MachineID) {
		p.add("FLY_MACHINE_ID", "not a machine id")
	}

	names := []string{""}
	if strings.TrimSpace(s.Apps) != "" {
		names = names[:0]
		seen := map[string]bool{}
		for _, n := range strings.Split(s.Apps, ",") {
			n = strings.TrimSpace(n)
			switch {
			case !appName.MatchString(n) || n == "healthz" || n == "mock":
				p.add("APPS", fmt.Sprintf("%q is not an app name (lowercase letters, digits and '-'; not healthz or mock)", n))
			case seen[n]:
				p.add("APPS", fmt.Sprintf("%q is listed twice", n))
			default:
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	for _, name := range names {
		if app, ok := loadApp(c, name, &p); ok {
			c.Apps = append(c.Apps, app)
		}
	}
	if len(p) > 0 {
		return nil, &Error{Problems: p}
	}
	return c, nil
}

// Prefix is the environment prefix of an app's variables: HUBSPOT_PLUGIN_
// for hubspot-plugin, nothing for the single app.
func Prefix(app string) string {
	if app == "" {
		return ""
	}
	return strings.ToUpper(strings.ReplaceAll(app, "-", "_")) + "_"
}

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
	} else {
		preset.PKCE = true
	}
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
	f.AuthorizeEndpoint = p.httpURL(v("AUTHORIZE_ENDPOINT"), or(e.AuthorizeEndpoint, preset.AuthorizeEndpoint), true)
	f.TokenEndpoint = p.httpURL(v("TOKEN_ENDPOINT"), or(e.TokenEndpoint, preset.TokenEndpoint), true)
	f.RefreshEndpoint = p.httpURL(v("REFRESH_ENDPOINT"), or(e.RefreshEndpoint, preset.RefreshEndpoint), false)

	sep := or(preset.ScopeSeparator, " ")
	f.Scope = strings.Join(strings.Fields(e.Scope), sep)
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
		for _, k := range []string{"state", "code_challenge", "code_challenge_method", "client_id", "redirect_uri", "response_type"} {
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

	if app.PluginID != "" && !validLabel(app.PluginID) {
		p.add(v("PLUGIN_ID"), "must be letters, digits and '-' (the id in the plugin's URL)")
	}
	for _, o := range strings.Split(e.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if canon, ok := CanonicalOrigin(o); ok {
			app.AllowedOrigins = append(app.AllowedOrigins, canon)
		} else {
			p.add(v("ALLOWED_ORIGINS"), "each entry must be an origin like https://example.com (no path)")
		}
	}

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
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	base := fmt.Sprintf("%s://localhost:%d", scheme, c.Port)
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
	if e.Scope == "" && e.Provider == "" {
		e.Scope = "profile"
	}
}

// Demo mode's mock provider credentials and mount point.
const (
	DemoClientID     = "handoff-demo"
	DemoClientSecret = "handoff-demo-secret"
	DemoMockPath     = "/mock"
)

func reservedPath(app, path string) bool {
	// As the router compares paths: case-insensitive, a trailing slash
	// optional (Fiber's defaults). /HEALTHZ would reach /healthz.
	path = strings.ToLower(path)
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	base := "/"
	if app != "" {
		base = "/" + app + "/"
	}
	switch strings.TrimPrefix(path, base) {
	case "", "authorize", "poll", "refresh", "healthz":
		return true
	}
	return path+"/" == base || path == "/healthz" || strings.HasPrefix(path, DemoMockPath+"/")
}

// mkcert's file names for "mkcert localhost", as the worker's README uses.
const (
	MkcertCert = "localhost.pem"
	MkcertKey  = "localhost-key.pem"
)

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func or(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return strings.TrimSpace(a)
	}
	return b
}

// CanonicalOrigin checks an origin (scheme://host[:port]) and returns it in
// the form browsers send: lowercase, without a default port.
func CanonicalOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, true
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// problems collects "NAME: what is wrong" lines. Values are never quoted:
// any of them may be a secret.
type problems []string

func (p *problems) add(name, msg string) { *p = append(*p, name+": "+msg) }

func (p *problems) required(name, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		p.add(name, "missing")
	}
	return v
}

func (p *problems) httpURL(name, v string, required bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			p.add(name, "missing")
		}
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		p.add(name, "not an absolute http(s) URL")
		return ""
	}
	return v
}

func (p *problems) duration(name, v string) time.Duration {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		// A bare number is seconds, as in most hosting dashboards.
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d <= 0 {
		p.add(name, "must be a positive duration such as 30s or 10m")
	}
	return d
}

func (p *problems) positive(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		p.add(name, "must be a positive whole number")
	}
	return n
}

func (p *problems) port(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 65535 {
		p.add(name, "must be a port number from 1 to 65535")
	}
	return n
}

func (p *problems) onOff(name, v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "1", "yes":
		return true
	case "off", "false", "0", "no":
		return false
	}
	p.add(name, "must be on or off (true or false)")
	return false
}

func (p *problems) logLevel(name, v string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
		p.add(name, "must be debug, info, warn or error")
	}
	return l
}
