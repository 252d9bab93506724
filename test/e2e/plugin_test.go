//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

//go:embed testdata/plugin.html
var pluginHTML []byte

// The test plugin page, on its own origin, and reading its state.

type pluginSite struct {
	URL string // scheme://127.0.0.1:port
	srv *http.Server
}

// startPluginSite serves testdata/plugin.html at /plugin.html (HTTPS when
// cert is given).
func startPluginSite(t *testing.T, cert *tls.Certificate) *pluginSite {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/plugin.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(pluginHTML)
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("plugin site: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	scheme := "http"
	if cert != nil {
		scheme = "https"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &pluginSite{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, l.Addr().(*net.TCPAddr).Port), srv: srv}
}

// PageURL is the plugin page that talks to handoff at base, from the origin
// host (127.0.0.1 when empty).
func (s *pluginSite) PageURL(host, base string) string {
	u, _ := url.Parse(s.URL)
	if host != "" {
		u.Host = net.JoinHostPort(host, u.Port())
	}
	u.Path = "/plugin.html"
	u.RawQuery = url.Values{"base": {base}}.Encode()
	return u.String()
}

// Port of the plugin site.
func (s *pluginSite) Port() string {
	u, _ := url.Parse(s.URL)
	return u.Port()
}

// pluginState mirrors window.plugin of testdata/plugin.html.
type pluginState struct {
	Base               string            `json:"base"`
	Status             string            `json:"status"`
	ReadKey            string            `json:"readKey"`
	AuthorizeURL       string            `json:"authorizeUrl"`
	AuthorizeStatus    int               `json:"authorizeStatus"`
	Polls              []pollRecord      `json:"polls"`
	PollOutcome        *pollRecord       `json:"pollOutcome"`
	Tokens             map[string]any    `json:"tokens"`
	TokensRaw          string            `json:"tokensRaw"`
	TokensCacheControl string            `json:"tokensCacheControl"`
	Refresh            *fetchResult      `json:"refresh"`
	PopupOpened        bool              `json:"popupOpened"`
	Error              string            `json:"error"`
	Log                []string          `json:"log"`
	Extra              map[string]string `json:"-"`
}

type pollRecord struct {
	Status           int    `json:"status"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

type fetchResult struct {
	Status       int            `json:"status"`
	Text         string         `json:"text"`
	JSON         map[string]any `json:"json"`
	CacheControl string         `json:"cacheControl"`
	Error        string         `json:"error"`
}

// pluginStatus waits until #status of the plugin page matches re, and
// returns the plugin's state.
func pluginWait(t *testing.T, tb *tab, re string, timeout time.Duration) (*pluginState, error) {
	t.Helper()
	b, _ := json.Marshal(re)
	err := waitJS(tb, `new RegExp(`+string(b)+`).test(window.plugin && window.plugin.status)`, timeout)
	st := readPlugin(t, tb)
	if err != nil {
		return st, fmt.Errorf("plugin status %q never matched %s: %w", st.Status, re, err)
	}
	return st, nil
}

func readPlugin(t *testing.T, tb *tab) *pluginState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.plugin || {})`))
	st := &pluginState{}
	if err != nil {
		st.Error = "cannot read window.plugin: " + err.Error()
		return st
	}
	if err := json.Unmarshal([]byte(raw), st); err != nil {
		st.Error = "cannot decode window.plugin: " + err.Error()
	}
	return st
}

// evalAsync runs an async expression in the plugin page and decodes its JSON.
func evalAsync[T any](tb *tab, expr string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return zero, err
	}
	var v T
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return zero, fmt.Errorf("decode %s: %w", raw, err)
	}
	return v, nil
}
