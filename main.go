// Command handoff is an OAuth 2.0 token broker for Framer plugins: it holds
// the client secret, runs the authorization-code exchange, and hands the
// tokens once to the plugin polling with its read key. See README.md.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"handoff/flow"
	"handoff/internal/config"
	"handoff/internal/mockprovider"
	"handoff/web"
)

func main() {
	demo := flag.Bool("demo", false, "run with the built-in mock provider and a demo page at / (no account needed)")
	providers := flag.Bool("providers", false, "print the provider presets and exit")
	flag.Parse()
	if *providers {
		printProviders()
		return
	}
	os.Exit(run(*demo))
}

func run(demo bool) int {
	dotenv, err := config.LoadDotenv(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "handoff:", err)
		return 2
	}
	cfg, err := config.Load(demo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "handoff:", err)
		return 2
	}
	log := newLogger(cfg)
	if len(dotenv) > 0 {
		// Worth saying: in -demo, a worker's .dev.vars in the folder points
		// handoff at the real provider instead of the mock.
		log.Info("read variables the environment does not set from " + strings.Join(dotenv, " and "))
	}

	opts := web.Options{
		Logger:           log,
		RateLimit:        cfg.RateLimit,
		MaxClients:       cfg.MaxPending,
		TrustFlyClientIP: cfg.OnFly,
	}
	if cfg.Demo {
		log.Warn("DEMO MODE: the built-in mock provider signs anyone in; never use -demo for real logins",
			"mock", config.DemoMockPath)
		var redirects []string
		for _, a := range cfg.Apps {
			redirects = append(redirects, a.Flow.RedirectURI)
		}
		opts.Demo = mockprovider.New(mockprovider.Options{
			ClientID:     cfg.Apps[0].Flow.ClientID,
			ClientSecret: cfg.Apps[0].Flow.ClientSecret,
			Prefix:       config.DemoMockPath,
			RedirectURIs: redirects,
		})
		opts.DemoPath = config.DemoMockPath
	}
	for _, a := range cfg.Apps {
		fc := a.Flow
		fc.Logger = log.With("app", a.Name)
		if a.Name == "" {
			fc.Logger = log
		}
		broker, err := flow.New(fc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "handoff:", err)
			return 2
		}
		defer broker.Close()
		opts.Apps = append(opts.Apps, web.App{
			Name:         a.Name,
			Broker:       broker,
			RedirectPath: a.RedirectPath,
			CORS:         web.CORS{PluginID: a.PluginID, ParentDomain: cfg.PluginParentDomain, Extra: a.AllowedOrigins},
		})
		logApp(log, cfg, a)
	}
	server := web.New(opts)

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		log.Error("listen", "port", cfg.Port, "err", err)
		return 1
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		if ln, err = web.TLSListener(ln, cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			log.Error("TLS", "err", err)
			return 2
		}
		scheme = "https"
		if cfg.TLSFromMkcert {
			log.Info("serving HTTPS with mkcert's localhost.pem and localhost-key.pem from the working directory")
		}
	}
	log.Info("handoff listening", "url", fmt.Sprintf("%s://localhost:%d", scheme, cfg.Port))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- server.Listener(ln) }()

	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case sig := <-stop:
		log.Info("shutting down: finishing requests in flight", "signal", sig.String(), "grace", cfg.ShutdownGrace)
	}
	if err := server.ShutdownWithTimeout(cfg.ShutdownGrace); err != nil {
		log.Warn("shutdown grace ran out with requests in flight", "err", err)
	}
	log.Info("stopped")
	return 0
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
	origins := []string{"http(s)://localhost, 127.0.0.1, [::1]"}
	if a.PluginID != "" {
		origins = append(origins, fmt.Sprintf("https://%s.%s", a.PluginID, cfg.PluginParentDomain),
			fmt.Sprintf("https://%s-*.%s", a.PluginID, cfg.PluginParentDomain))
	} else {
		origins = append(origins, "https://*."+cfg.PluginParentDomain)
	}
	origins = append(origins, a.AllowedOrigins...)
	log.Info("app ready", "app", a.Name, "provider", provider, "redirect_route", a.RedirectPath,
		"pkce", a.Flow.PKCE, "allowed_origins", strings.Join(origins, " "))
	if a.PluginID == "" && !cfg.Demo {
		log.Warn("PLUGIN_ID is not set: any plugin origin under " + cfg.PluginParentDomain +
			" may call this server; set PLUGIN_ID before publishing the plugin")
	}
	if a.KeyFromSecret && !cfg.Demo {
		log.Info("seal key derived from CLIENT_SECRET; set SEAL_KEY to rotate the secret without ending logins in flight")
	}
}

func printProviders() {
	for _, name := range flow.PresetNames() {
		p, _ := flow.LookupPreset(name)
		refresh := p.RefreshEndpoint
		if refresh == "" {
			refresh = "-"
		}
		auth := map[flow.AuthStyle]string{flow.AuthPost: "post", flow.AuthBasic: "basic", flow.AuthAuto: "auto"}[p.AuthStyle]
		body := map[flow.BodyFormat]string{flow.BodyForm: "form", flow.BodyJSON: "json"}[p.BodyFormat]
		fmt.Printf("%-10s authorize=%s token=%s refresh=%s auth=%s body=%s pkce=%t params=%s\n",
			name, p.AuthorizeEndpoint, p.TokenEndpoint, refresh, auth, body, p.PKCE, p.AuthorizeParams)
	}
}
