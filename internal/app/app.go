// Package app wires a configuration into a running handoff: one flow.Broker
// per app, the web server in front of them, the demo provider, the listener
// and the drain on SIGINT or SIGTERM. main and the test suites that run a
// whole server in-process share it, so the wiring is written once.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/gofiber/fiber/v2"

	"handoff/flow"
	"handoff/internal/config"
	"handoff/internal/metrics"
	"handoff/internal/mockprovider"
	"handoff/web"
)

// Server is handoff assembled from a Config, not yet listening.
type Server struct {
	Fiber   *fiber.App
	Brokers []*flow.Broker
	// Metrics holds the server's series, for the METRICS_ADDR listener.
	Metrics *metrics.Registry
}

// Build assembles cfg into a Server that logs to log. Each tweak may adjust
// the web options before the server is made (tests use it).
func Build(cfg *config.Config, log *slog.Logger, tweaks ...func(*web.Options)) (*Server, error) {
	reg := metrics.New()
	reg.MaxPending(cfg.MaxPending)
	opts := web.Options{
		Logger:           log,
		RateLimit:        cfg.RateLimit,
		MaxClients:       cfg.MaxPending,
		TrustFlyClientIP: cfg.OnFly,
		Metrics:          reg,
		API:              web.APIOptions{MaxBody: cfg.APIMaxBody, Timeout: cfg.APITimeout},
	}
	if cfg.Demo {
		opts.Demo, opts.DemoPath = demoProvider(cfg), config.DemoMockPath
	}
	s := &Server{Metrics: reg}
	for _, a := range cfg.Apps {
		fc := a.Flow
		fc.Metrics = reg.App(a.Name)
		fc.Logger = log
		if a.Name != "" {
			fc.Logger = log.With("app", a.Name)
		}
		broker, err := flow.New(fc)
		if err != nil {
			s.Close()
			return nil, configError{err}
		}
		s.Brokers = append(s.Brokers, broker)
		opts.Apps = append(opts.Apps, web.App{
			Name:         a.Name,
			Broker:       broker,
			RedirectPath: a.RedirectPath,
			CORS:         web.CORS{PluginID: a.PluginID, ParentDomain: cfg.PluginParentDomain, Extra: a.AllowedOrigins},
			PluginName:   a.PluginName,
			ProviderName: a.ProviderName,
			APIOrigins:   a.APIOrigins,
		})
	}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	s.Fiber = web.New(opts)
	return s, nil
}

// Close empties the brokers' stores.
func (s *Server) Close() {
	for _, b := range s.Brokers {
		b.Close()
	}
}

func demoProvider(cfg *config.Config) *mockprovider.Provider {
	var redirects []string
	// The mock knows the demo's scopes and any an app asks for or allows,
	// and refuses others, as a real provider refuses scopes it has not
	// heard of.
	scopes := append([]string(nil), config.DemoScopes...)
	for _, a := range cfg.Apps {
		redirects = append(redirects, a.Flow.RedirectURI)
		scopes = append(scopes, a.Flow.AllowedScopes...)
		scopes = append(scopes, strings.Fields(strings.ReplaceAll(a.Flow.Scope, a.Flow.ScopeSeparator, " "))...)
	}
	return mockprovider.New(mockprovider.Options{
		ClientID:     cfg.Apps[0].Flow.ClientID,
		ClientSecret: cfg.Apps[0].Flow.ClientSecret,
		Prefix:       config.DemoMockPath,
		RedirectURIs: redirects,
		Scopes:       scopes,
	})
}

// configError marks an error in the configuration: exit status 2.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// ExitCode is the process's exit status for an error Run returned: 2 for a
// configuration the user must fix, 1 for anything else.
func ExitCode(err error) int {
	var ce configError
	var cfgErr *config.Error
	if errors.As(err, &ce) || errors.As(err, &cfgErr) {
		return 2
	}
	return 1
}

// Run is handoff after its flags: read the configuration, serve until
// SIGINT or SIGTERM, then let requests in flight finish within
// SHUTDOWN_GRACE. A nil error is a clean stop.
func Run(demo bool) error {
	dotenv, err := config.LoadDotenv(".")
	if err != nil {
		return configError{err}
	}
	cfg, err := config.Load(demo)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	if len(dotenv) > 0 {
		// Worth saying: in -demo, a .dev.vars left in the folder by an older
		// setup (docs/deploy.md#migrating-from-the-cloudflare-worker) points
		// handoff at the real provider instead of the mock.
		log.Info("read variables the environment does not set from " + strings.Join(dotenv, " and "))
	}
	if cfg.Demo {
		log.Warn("DEMO MODE: the built-in mock provider signs anyone in; never use -demo for real logins",
			"mock", config.DemoMockPath)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	defer ln.Close()
	if cfg.Port == 0 {
		// PORT=0: the system picked the port. The demo's default URLs
		// name it, so the configuration is read again with it.
		cfg.Port = ln.Addr().(*net.TCPAddr).Port
		if cfg.Demo {
			os.Setenv("PORT", strconv.Itoa(cfg.Port))
			if cfg, err = config.Load(demo); err != nil {
				return err
			}
		}
	}
	server, err := Build(cfg, log)
	if err != nil {
		return err
	}
	defer server.Close()
	for _, a := range cfg.Apps {
		logApp(log, cfg, a)
	}

	scheme := "http"
	if cfg.TLSCertFile != "" {
		if ln, err = web.TLSListener(ln, cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return configError{fmt.Errorf("TLS: %w", err)}
		}
		scheme = "https"
		if cfg.TLSFromMkcert {
			log.Info("serving HTTPS with mkcert's localhost.pem and localhost-key.pem from the working directory")
		}
	}
	// The port bound, not the one asked for: with PORT=0 this line is how
	// a test learns where the server is.
	log.Info("handoff listening", "url", fmt.Sprintf("%s://localhost:%d", scheme, cfg.Port))
	stopMetrics, err := serveMetrics(cfg, server, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- server.Fiber.Listener(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case sig := <-stop:
		log.Info("shutting down: finishing requests in flight", "signal", sig.String(), "grace", cfg.ShutdownGrace)
	}
	if err := server.Fiber.ShutdownWithTimeout(cfg.ShutdownGrace); err != nil {
		log.Warn("shutdown grace ran out with requests in flight", "err", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.OnFly {
		return slog.New(slog.NewJSONHandler(os.Stdout, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stdout, opts))
}

// logApp says how an app is set up, without a secret.
func logApp(log *slog.Logger, cfg *config.Config, a config.App) {
	provider := a.Provider
	if provider == "" {
		provider = "custom"
	}
	cors := web.CORS{PluginID: a.PluginID, ParentDomain: cfg.PluginParentDomain, Extra: a.AllowedOrigins}
	log.Info("app ready", "app", a.Name, "provider", provider, "redirect_route", a.RedirectPath,
		"pkce", a.Flow.PKCE, "allowed_origins", cors.Describe())
	if len(a.APIOrigins) > 0 {
		base := "/"
		if a.Name != "" {
			base = "/" + a.Name + "/"
		}
		log.Info("API passthrough on", "app", a.Name, "routes", base+"api/<host>/… and "+base+"?<URL>",
			"api_origins", strings.Join(a.APIOrigins, " "), "api_max_body", cfg.APIMaxBody, "api_timeout", cfg.APITimeout)
	}
	if a.PluginID == "" && !cfg.Demo {
		log.Warn("PLUGIN_ID is not set: any plugin origin under " + cfg.PluginParentDomain +
			" may call this server; set PLUGIN_ID before publishing the plugin")
	}
	if a.KeyFromSecret && !cfg.Demo {
		log.Info("seal key derived from CLIENT_SECRET; set SEAL_KEY to rotate the secret without ending logins in flight")
	}
}
