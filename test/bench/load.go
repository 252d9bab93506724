package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is the server under test and, when the harness runs it, the fake
// provider behind it.
type target struct {
	base string // scheme://host:port[/app], no trailing slash
	hc   *fasthttp.HostClient
	prov *fasthttp.HostClient // nil with -base: no provider control
	pid  int                  // 0 when the process is not known
	// refreshToken is valid at the fake provider (see fetchRefreshToken).
	refreshToken string
	// provConns counts connections opened to the fake provider (nil with
	// -base); they include the harness's own, as the browser.
	provConns *atomic.Int64
	// rig, apiHC and fwdHC are the api-* scenarios' fake API and bare
	// forwarder, and the load generator's clients for them (nil when
	// they do not run).
	rig          *apiRig
	apiHC, fwdHC *fasthttp.HostClient
}

func newHostClient(addr string, tls bool, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     tls,
		MaxConns:                  conns,
		ReadTimeout:               10 * time.Second,
		WriteTimeout:              10 * time.Second,
		MaxConnWaitTimeout:        10 * time.Second,
		MaxIdemponentCallAttempts: 1, // a failure is counted, never retried away
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
	}
}

// worker is one closed loop of requests with its own reusable request and
// response, so the load generator allocates little and leaves the CPU to
// the server.
type worker struct {
	t    *target
	req  *fasthttp.Request
	resp *fasthttp.Response
	rng  *rand.Rand
	n    uint64 // ops done by this worker
	reqs int64  // requests to handoff made by this worker
	loc  []byte
}

func newWorker(t *target, seed uint64) *worker {
	return &worker{t: t, req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
		rng: rand.New(rand.NewPCG(seed, seed*7919+1))}
}

func (w *worker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

// do sends one request to handoff and checks the status.
func (w *worker) do(method, uri string, body []byte, want int) error {
	w.req.Reset()
	w.req.Header.SetMethod(method)
	w.req.SetRequestURI(uri)
	if body != nil {
		w.req.Header.SetContentType("application/x-www-form-urlencoded")
		w.req.SetBodyRaw(body)
	}
	w.reqs++
	if err := w.t.hc.Do(w.req, w.resp); err != nil {
		return err
	}
	if got := w.resp.StatusCode(); got != want {
		return statusError(method, uri, got, want, w.resp.Body())
	}
	return nil
}

func statusError(method, uri string, got, want int, body []byte) error {
	if len(body) > 200 {
		body = body[:200]
	}
	path := uri
	if i := strings.IndexAny(path, "?"); i >= 0 {
		path = path[:i] + "?…" // keys and states stay out of the report
	}
	return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, got, want, body)
}

// op is one unit of work: one request, or one whole login.
type op func(w *worker) error
