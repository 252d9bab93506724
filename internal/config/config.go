// Package config reads handoff's configuration from the environment
// (docs/protocol.md#configuration, #several-apps), checks all of it, and reports every problem at once. envconfig
// decodes the variables; the checks are handoff's own, because envconfig
// stops at the first error and a newcomer should fix everything in one go.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"handoff/flow"
	"handoff/web"
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
	// MetricsAddr is where GET /metrics is served; empty is off.
	MetricsAddr string
	// OnFly is set when FLY_APP_NAME is: logs become JSON and the client IP
	// comes from Fly-Client-IP.
	OnFly bool
	// TLSFromMkcert says the certificate came from mkcert's files in the
	// working directory rather than TLS_CERT_FILE.
	TLSFromMkcert bool
	MachineID     string
	Demo          bool
	// APIMaxBody and APITimeout are the API passthrough's, server-wide
	// (docs/protocol.md#api-passthrough): the /?<URL> form belongs to no
	// single app.
	APIMaxBody int64
	APITimeout time.Duration
	Apps       []App
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
	// PluginName (PLUGIN_NAME) and ProviderName (the preset's name, or the
	// demo's mock provider) name the two on the redirect route's pages;
	// either may be empty.
	PluginName   string
	ProviderName string
	// APIOrigins are the API passthrough's upstreams (API_ORIGINS, or the
	// preset's), canonical; none turns it off.
	APIOrigins []string
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
	MaxPending         string `split_words:"true"` // default flow.DefaultMaxPending
	PluginParentDomain string `split_words:"true" default:"plugins.framercdn.com"`
	MetricsAddr        string `split_words:"true"`
	APIMaxBody         string `split_words:"true" default:"10MiB"`
	APITimeout         string `split_words:"true" default:"30s"`
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
	RevokeEndpoint    string `split_words:"true"`
	Scope             string
	AllowedScopes     string `split_words:"true"`
	Provider          string
	Tenant            string
	AuthorizeParams   string `split_words:"true"`
	PluginID          string `split_words:"true"`
	PluginName        string `split_words:"true"`
	// PluginURI is older plugin backends' name for the plugin's origin,
	// which they sent as Access-Control-Allow-Origin; read as PLUGIN_ID or
	// an ALLOWED_ORIGINS entry (pluginURI).
	PluginURI       string `split_words:"true"`
	AllowedOrigins  string `split_words:"true"`
	APIOrigins      string `split_words:"true"`
	SealKey         string `split_words:"true"`
	SealKeysOld     string `split_words:"true"`
	PKCE            string
	TokenAuthStyle  string `split_words:"true"`
	LoginTTL        string `split_words:"true" default:"10m"`
	TokenTTL        string `split_words:"true" default:"60s"`
	ProviderTimeout string `split_words:"true" default:"10s"`
	// ProviderConcurrency and RefreshReplayTTL have no default here:
	// flow's are the ones.
	ProviderConcurrency string `split_words:"true"`
	RefreshReplayTTL    string `split_words:"true"`
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
	c.MaxPending = flow.DefaultMaxPending
	if strings.TrimSpace(s.MaxPending) != "" {
		c.MaxPending = p.positive("MAX_PENDING", s.MaxPending)
	}
	c.MetricsAddr = p.metricsAddr("METRICS_ADDR", s.MetricsAddr, c.Port)
	c.APIMaxBody = p.size("API_MAX_BODY", s.APIMaxBody)
	c.APITimeout = p.duration("API_TIMEOUT", s.APITimeout)
	c.PluginParentDomain = strings.ToLower(strings.TrimSpace(s.PluginParentDomain))
	if !web.IsHost(c.PluginParentDomain) {
		p.add("PLUGIN_PARENT_DOMAIN", "not a domain name")
	}
	c.TLSCertFile, c.TLSKeyFile = s.TLSCertFile, s.TLSKeyFile
	if c.TLSCertFile == "" && c.TLSKeyFile == "" && fileExists(MkcertCert) && fileExists(MkcertKey) {
		// A local setup made with mkcert: plugins call https://localhost:8787.
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

// Demo mode's mock provider credentials and mount point.
const (
	DemoClientID     = "handoff-demo"
	DemoClientSecret = "handoff-demo-secret"
	DemoMockPath     = "/mock"
	// DemoPluginName and DemoProviderName name the two on the demo's pages
	// ("handoff demo is now connected to Mock Provider"); PLUGIN_NAME
	// still applies.
	DemoPluginName   = "handoff demo"
	DemoProviderName = "Mock Provider"
)

// reservedPath reports whether path is taken by handoff's own routes for
// the app, or by the demo provider.
func reservedPath(app, path string) bool {
	return web.ReservedPath(app, path) || strings.HasPrefix(strings.ToLower(path), DemoMockPath+"/")
}

// mkcert's file names for "mkcert localhost" (docs/protocol.md#configuration).
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
