package web_test

// Handler benchmarks for BENCHMARKS.md (go test -bench . -benchmem ./web/). They
// measure the server's own cost per request, without a network: BenchmarkHandler*
// call Fiber's handler directly with a fasthttp.RequestCtx (routing,
// middleware, handler, response headers; exact allocations per request),
// BenchmarkInmem* go through a fasthttp in-memory listener with a keep-alive
// client (adds HTTP parsing and writing on both sides). The load harness
// (go run ./test/bench) measures the built server over loopback; see
// BENCHMARKS.md. Nothing here asserts a speed.

import (
	"bufio"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"handoff/crypto"
	"handoff/flow"
	"handoff/web"
)

type benchServer struct {
	app    *fiber.App
	broker *flow.Broker
	// pending is a read key of a login that has not finished.
	pending string
	// forged has the shape of a read key but was never issued.
	forged string
}

func newBenchServer(b *testing.B) *benchServer { return newBenchServerLog(b, nil) }

func newBenchServerLog(b *testing.B, log *slog.Logger) *benchServer {
	b.Helper()
	key := crypto.DeriveKey([]byte("bench secret"), "handoff web bench")
	sealer, err := crypto.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	broker, err := flow.New(flow.Config{
		ClientID:          "bench-client",
		ClientSecret:      "bench-secret",
		RedirectURI:       "http://127.0.0.1:8787/redirect",
		AuthorizeEndpoint: "http://127.0.0.1:9999/authorize",
		TokenEndpoint:     "http://127.0.0.1:9999/token",
		Scope:             "openid profile",
		PKCE:              true,
		LoginTTL:          10 * time.Minute,
		TokenTTL:          time.Minute,
		ProviderTimeout:   10 * time.Second,
		MaxPending:        10000,
		Sealer:            sealer,
		Logger:            log,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(broker.Close)
	app := web.New(web.Options{Logger: log, Apps: []web.App{{
		Broker:       broker,
		RedirectPath: "/redirect",
		CORS:         web.CORS{PluginID: "qjx3k9", ParentDomain: "plugins.framercdn.com"},
	}}})
	s := &benchServer{app: app, broker: broker, pending: broker.Authorize().ReadKey}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(s.pending)))
	raw[0] = 1 // the format's version byte: well-formed, forged
	s.forged = base64.RawURLEncoding.EncodeToString(raw)
	return s
}

// benchHandler calls the app's handler directly for each request.
func benchHandler(b *testing.B, method, uri string, want int) {
	benchHandlerLog(b, nil, method, uri, want)
}

func benchHandlerLog(b *testing.B, log *slog.Logger, method, uri string, want int) {
	s := newBenchServerLog(b, log)
	uri = benchURI(s, uri)
	h := s.app.Handler()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.Set("Origin", "https://qjx3k9.plugins.framercdn.com")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	h(&ctx)
	if got := ctx.Response.StatusCode(); got != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, uri, got, want, ctx.Response.Body())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}

func benchURI(s *benchServer, uri string) string {
	switch uri {
	case "/poll?pending":
		return "/poll?readKey=" + url.QueryEscape(s.pending)
	case "/poll?forged":
		return "/poll?readKey=" + s.forged
	case "/redirect?forged":
		return "/redirect?code=x&state=" + s.forged
	}
	return uri
}

func BenchmarkHandlerAuthorize(b *testing.B)   { benchHandler(b, "POST", "/authorize", 200) }
func BenchmarkHandlerPollPending(b *testing.B) { benchHandler(b, "POST", "/poll?pending", 404) }
func BenchmarkHandlerPollForged(b *testing.B)  { benchHandler(b, "POST", "/poll?forged", 400) }
func BenchmarkHandlerPollNoKey(b *testing.B)   { benchHandler(b, "POST", "/poll", 400) }
func BenchmarkHandlerHealthz(b *testing.B)     { benchHandler(b, "GET", "/healthz", 200) }

// At LOG_LEVEL=info each request writes one line (main's text handler, here
// into io.Discard: the formatting without the write to stdout).
func BenchmarkHandlerPollForgedLogInfo(b *testing.B) {
	log := textLogger(io.Discard, slog.LevelInfo)
	benchHandlerLog(b, log, "POST", "/poll?forged", 400)
}

// /authorize at LOG_LEVEL=info: the request line, and the flow's "login
// started" line (docs/deploy.md#following-a-login).
func BenchmarkHandlerAuthorizeLogInfo(b *testing.B) {
	log := textLogger(io.Discard, slog.LevelInfo)
	benchHandlerLog(b, log, "POST", "/authorize", 200)
}

// A forged state at the redirect: the invalid-link page, without a request
// to the provider.
func BenchmarkHandlerRedirectForged(b *testing.B) { benchHandler(b, "GET", "/redirect?forged", 400) }

// benchInmem serves the app on a fasthttp in-memory listener and sends
// requests over keep-alive connections from parallel clients.
func benchInmem(b *testing.B, method, uri string, want int) {
	s := newBenchServer(b)
	uri = "http://handoff.test" + benchURI(s, uri)
	ln := fasthttputil.NewInmemoryListener()
	go s.app.Listener(ln)
	b.Cleanup(func() { s.app.Shutdown() })
	hc := &fasthttp.HostClient{
		Addr:                      "handoff.test",
		Dial:                      func(string) (net.Conn, error) { return ln.Dial() },
		MaxConns:                  256,
		MaxIdemponentCallAttempts: 1,
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI(uri)
		for pb.Next() {
			if err := hc.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != want {
				b.Errorf("%s %s: status %d, want %d", method, uri, resp.StatusCode(), want)
				return
			}
		}
	})
}

func BenchmarkInmemAuthorize(b *testing.B)   { benchInmem(b, "POST", "/authorize", 200) }
func BenchmarkInmemPollPending(b *testing.B) { benchInmem(b, "POST", "/poll?pending", 404) }
func BenchmarkInmemPollForged(b *testing.B)  { benchInmem(b, "POST", "/poll?forged", 400) }

// The flow underneath, for the allocation targets of BENCHMARKS.md: Authorize
// (two seals, the URL, the key), and Poll with a pending and a forged key
// (the read-key check; a refused key costs only its *flow.Error).
func BenchmarkBrokerAuthorize(b *testing.B) {
	s := newBenchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		s.broker.Authorize()
	}
}

func BenchmarkBrokerPollPending(b *testing.B) { benchBrokerPoll(b, true) }
func BenchmarkBrokerPollForged(b *testing.B)  { benchBrokerPoll(b, false) }

func benchBrokerPoll(b *testing.B, pending bool) {
	s := newBenchServer(b)
	key := s.forged
	if pending {
		key = s.pending
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.broker.Poll(key, flow.PollOptions{}); err == nil {
			b.Fatal("poll delivered tokens")
		}
	}
}

// The API passthrough's handler, to a fasthttp API on loopback (so this
// counts the upstream round trip too); its answer is written out as the
// server would, which reads the streamed body and gives the upstream
// connection back to the pool.
func BenchmarkHandlerAPIPassthrough(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"results":[{"id":"1","properties":{"email":"ada@example.com"}}],"paging":{}}`)
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.Header.Set("X-RateLimit-Remaining", "99")
		ctx.Response.SetBodyRaw(body)
	}}
	go up.Serve(ln)
	b.Cleanup(func() { up.Shutdown() })
	addr := ln.Addr().String()
	s := newBenchServer(b)
	app := web.New(web.Options{Apps: []web.App{{Broker: s.broker, RedirectPath: "/redirect",
		CORS: web.CORS{PluginID: "qjx3k9", ParentDomain: "plugins.framercdn.com"}, APIOrigins: []string{"http://" + addr}}}})
	h := app.Handler()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/api/" + addr + "/v1/contacts?limit=10")
	req.Header.Set("Origin", "https://qjx3k9.plugins.framercdn.com")
	req.Header.Set("Authorization", "Bearer bench-access-token")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	bw := bufio.NewWriter(io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if err := ctx.Response.Write(bw); err != nil {
			b.Fatal(err)
		}
	}
}
