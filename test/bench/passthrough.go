package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The API passthrough's scenarios (docs/protocol.md#api-passthrough, and
// its targets in BENCHMARKS.md): the same small API call three ways, in the
// same run, against one fake API:
//
//	api-direct       GET http://<api>/v1/contacts?limit=10           (the floor)
//	api-bare         GET http://<bare forwarder>/v1/contacts?limit=10
//	api-passthrough  GET http://<handoff>/api/<api>/v1/contacts?limit=10
//
// The bare forwarder is a fasthttp server that hands each request to a
// fasthttp.HostClient as it came and writes back what it got: no checks, no
// header filtering, no streaming. The fake API and the forwarder are this
// harness re-executed as child processes (-serve-api, -serve-forwarder), so
// that each has a runtime of its own, as handoff has.

// apiBody is the fake API's answer: the size of a small page of CRM results.
var apiBody = []byte(`{"results":[{"id":"1","properties":{"email":"ada@example.com","firstname":"Ada","lastname":"Lovelace"}},` +
	`{"id":"2","properties":{"email":"alan@example.com","firstname":"Alan","lastname":"Turing"}}],` +
	`"paging":{"next":{"after":"2","link":"https://api.example.com/v1/contacts?after=2"}}}`)

const apiPath = "/v1/contacts?limit=10"

// apiToken is the bearer token the plugin would send; the fake API does not
// check it.
const apiToken = "Bearer bench-access-token-0123456789abcdef"

// serveAux runs a child role and never returns: the fake API, or the bare
// forwarder to the fake API at to. It prints "READY <addr>" once listening.
func serveAux(role, to string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	var h fasthttp.RequestHandler
	switch role {
	case "api":
		h = func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentType("application/json")
			ctx.Response.Header.Set("X-RateLimit-Remaining", "99")
			ctx.Response.SetBodyRaw(apiBody)
		}
	case "forwarder":
		hc := &fasthttp.HostClient{Addr: to, MaxConns: 128, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
			NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
		h = func(ctx *fasthttp.RequestCtx) {
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error(err.Error(), fasthttp.StatusBadGateway)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "bench: unknown role", role)
		os.Exit(2)
	}
	fmt.Println("READY " + ln.Addr().String())
	srv := &fasthttp.Server{Handler: h, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// auxProc is a running fake API or bare forwarder.
type auxProc struct {
	cmd  *exec.Cmd
	addr string
}

// startAux re-executes the harness in a role and waits for its address.
func startAux(role, to string) (*auxProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve-" + role}
	if to != "" {
		args = append(args, "-to", to)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"GOMAXPROCS", "GOGC"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- addr
			}
		}
	}()
	select {
	case addr := <-ready:
		auxPIDs = append(auxPIDs, cmd.Process.Pid)
		return &auxProc{cmd: cmd, addr: addr}, nil
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("the " + role + " child did not start")
	}
}

func (a *auxProc) stop() {
	if a == nil {
		return
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

func (a *auxProc) pid() int { return a.cmd.Process.Pid }

// apiRig is the fake API and the bare forwarder of a run.
type apiRig struct {
	api, fwd *auxProc
}

func startAPIRig() (*apiRig, error) {
	api, err := startAux("api", "")
	if err != nil {
		return nil, err
	}
	fwd, err := startAux("forwarder", api.addr)
	if err != nil {
		api.stop()
		return nil, err
	}
	return &apiRig{api: api, fwd: fwd}, nil
}

func (r *apiRig) stop() {
	if r != nil {
		r.fwd.stop()
		r.api.stop()
	}
}

// apiCall is one GET of the API page through hc at uri, with the token.
func apiCall(w *worker, hc *fasthttp.HostClient, uri string) error {
	w.req.Reset()
	w.req.SetRequestURI(uri)
	w.req.Header.Set("Authorization", apiToken)
	w.req.Header.Set("Accept", "application/json")
	w.reqs++
	if err := hc.Do(w.req, w.resp); err != nil {
		return err
	}
	if w.resp.StatusCode() != 200 || len(w.resp.Body()) != len(apiBody) {
		return statusError("GET", uri, w.resp.StatusCode(), 200, w.resp.Body())
	}
	return nil
}

func prepAPIDirect(t *target) (op, error) {
	uri := "http://" + t.rig.api.addr + apiPath
	return func(w *worker) error { return apiCall(w, t.apiHC, uri) }, nil
}

func prepAPIBare(t *target) (op, error) {
	uri := "http://" + t.rig.fwd.addr + apiPath
	return func(w *worker) error { return apiCall(w, t.fwdHC, uri) }, nil
}

func prepAPIPassthrough(t *target) (op, error) {
	uri := t.base + "/api/" + t.rig.api.addr + apiPath
	return func(w *worker) error { return apiCall(w, t.hc, uri) }, nil
}

// passthroughSummary compares the three API scenarios of one log level:
// the targets (BENCHMARKS.md) are Ratio ≥ 0.6 and AddedP50ms < 0.5.
type passthroughSummary struct {
	LogLevel string `json:"log_level"`
	// Ratio is handoff's throughput at saturation over the bare
	// forwarder's.
	Ratio float64 `json:"throughput_ratio_vs_bare"`
	// AddedP50ms is handoff's p50 latency at the fixed rate minus the
	// direct call's; BareAddedP50ms the bare forwarder's.
	AddedP50ms     float64 `json:"added_p50_ms"`
	BareAddedP50ms float64 `json:"bare_added_p50_ms"`
	// SatAddedP50ms is the same at saturation.
	SatAddedP50ms float64 `json:"saturation_added_p50_ms"`
}

func summarizePassthrough(results []scenarioResult) []passthroughSummary {
	by := map[string]map[string]scenarioResult{}
	var levels []string
	for _, r := range results {
		if r.Skipped != "" || !strings.HasPrefix(r.Scenario, "api-") {
			continue
		}
		if by[r.LogLevel] == nil {
			by[r.LogLevel] = map[string]scenarioResult{}
			levels = append(levels, r.LogLevel)
		}
		by[r.LogLevel][r.Scenario] = r
	}
	var out []passthroughSummary
	for _, l := range levels {
		d, okD := by[l]["api-direct"]
		b, okB := by[l]["api-bare"]
		p, okP := by[l]["api-passthrough"]
		if !okD || !okB || !okP || b.Saturation.PerSec == 0 {
			continue
		}
		out = append(out, passthroughSummary{
			LogLevel:       l,
			Ratio:          p.Saturation.PerSec / b.Saturation.PerSec,
			AddedP50ms:     p.FixedRate.P50ms - d.FixedRate.P50ms,
			BareAddedP50ms: b.FixedRate.P50ms - d.FixedRate.P50ms,
			SatAddedP50ms:  p.Saturation.P50ms - d.Saturation.P50ms,
		})
	}
	return out
}
