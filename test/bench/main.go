// Command bench is handoff's load harness (BENCHMARKS.md). It builds handoff as
// the Dockerfile does, starts it as a child process with real environment
// variables next to an in-process fake provider (internal/mockprovider,
// auto-approving), and measures on loopback with keep-alive connections:
// requests per second at saturation and latency at a fixed open-loop rate
// for /authorize, /poll (pending and forged keys), whole logins and
// /refresh; cold start, idle RSS, peak RSS per run and RSS after a flood of
// a million bogus requests; the binary's size. See BENCHMARKS.md.
//
//	go run ./test/bench                       # the full run (a few minutes)
//	go run ./test/bench -duration 1s -quick   # seconds: shows it works (CI)
//	go run ./test/bench -json out.json        # also write the figures as JSON
//	go run ./test/bench -base http://127.0.0.1:8787   # any server with the same API
//
// The load generator runs on the same machine as the server and shares its
// cores; every run ends by itself, and only loopback addresses are used.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	duration   time.Duration
	quick      bool
	conns      int
	rate       float64
	ratePool   int
	levels     []string
	floodN     int64
	coldStarts int
	jsonOut    string
	base       string
	bin        string
	pid        int
	only       map[string]bool
	extraEnv   []string
	strict     bool
	waitQuiet  time.Duration
	retries    int
	// rig is the fake API and the bare forwarder of the api-*
	// scenarios, when they run.
	rig *apiRig
}

func main() {
	var o options
	var levels, only, cpuprofile string
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured run (saturation and fixed rate, per scenario)")
	flag.BoolVar(&o.quick, "quick", false, "smoke mode: warn level only, 3 cold starts, a 20,000-request flood (for CI; figures are not meaningful)")
	flag.IntVar(&o.conns, "c", 32, "keep-alive connections (closed loops) at saturation")
	flag.Float64Var(&o.rate, "rate", 1000, "fixed open-loop rate, ops per second")
	flag.IntVar(&o.ratePool, "rate-conns", 64, "connections available to the fixed-rate run")
	flag.StringVar(&levels, "levels", "warn,info", "LOG_LEVEL values to measure, comma-separated")
	flag.Int64Var(&o.floodN, "flood", 1_000_000, "bogus requests before the RSS-after-flood reading (0 skips it)")
	flag.IntVar(&o.coldStarts, "coldstarts", 20, "cold starts to take the median of (0 skips them)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.base, "base", "", "measure a server already running at this loopback URL (authorize and poll only: no provider control)")
	flag.StringVar(&o.bin, "bin", "", "use this handoff binary instead of building one")
	flag.IntVar(&o.pid, "pid", 0, "with -base: the server's process id, to read its RSS and CPU")
	flag.Func("env", "extra KEY=VALUE for the server's environment (repeatable), e.g. -env MAX_PENDING=1000", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE")
		}
		o.extraEnv = append(o.extraEnv, v)
		return nil
	})
	flag.StringVar(&only, "only", "", "run only these scenarios, comma-separated (authorize, poll-pending, poll-forged, login, refresh, api-direct, api-bare, api-passthrough)")
	// The api-* scenarios' children: this harness, re-executed.
	var serveAPI, serveForwarder bool
	var to string
	flag.BoolVar(&serveAPI, "serve-api", false, "internal: serve the fake API (a child of the api-* scenarios)")
	flag.BoolVar(&serveForwarder, "serve-forwarder", false, "internal: serve the bare forwarder to -to (a child of the api-* scenarios)")
	flag.StringVar(&to, "to", "", "internal: the fake API's address, for -serve-forwarder")
	flag.DurationVar(&o.waitQuiet, "wait-quiet", 30*time.Second, "before each run, wait up to this long for other processes to leave the CPU idle (0: never wait)")
	flag.IntVar(&o.retries, "retries", 2, "runs to repeat when other processes disturbed them (see -wait-quiet)")
	flag.BoolVar(&o.strict, "strict", false, "exit with status 1 if a scenario was skipped or any request got an unexpected answer (for CI)")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write the harness's own CPU profile (load generator and fake provider) to this file")
	flag.Parse()
	switch {
	case serveAPI:
		serveAux("api", "")
	case serveForwarder:
		serveAux("forwarder", to)
	}
	o.levels = splitList(levels)
	if o.quick {
		o.waitQuiet = 0
		o.retries = 0
		o.levels = o.levels[:1]
		o.coldStarts = min(o.coldStarts, 3)
		o.floodN = min(o.floodN, 20_000)
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, s := range splitList(only) {
			o.only[s] = true
		}
	}
	if o.duration <= 0 || o.conns < 1 || o.rate <= 0 || o.ratePool < 1 || len(o.levels) == 0 {
		fmt.Fprintln(os.Stderr, "bench: -duration, -c, -rate, -rate-conns and -levels must be positive")
		os.Exit(2)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	rep, err := run(o)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	printReport(os.Stdout, rep)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if o.strict {
		if problems := failures(rep); len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "bench: -strict:\n  "+strings.Join(problems, "\n  "))
			os.Exit(1)
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) (*report, error) {
	rep := &report{
		Machine:     machineInfo(),
		Command:     strings.Join(os.Args, " "),
		Duration:    o.duration.String(),
		Connections: o.conns,
		Rate:        o.rate,
		Started:     time.Now().UTC().Truncate(time.Second),
		Notes: []string{
			"load generator, fake provider and server share the same cores (loopback)",
			"saturation latency counts from each send (closed loops); fixed-rate latency counts from each op's scheduled time (open loop, no coordinated omission)",
			"login ops are whole flows: POST /authorize, GET provider authorize (302), GET /redirect (code exchange at the fake provider), POST /poll (200)",
		},
	}
	if o.base != "" {
		return runBase(o, rep)
	}

	tmp, err := os.MkdirTemp("", "handoff-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := o.bin
	if bin == "" {
		progress("building handoff (CGO_ENABLED=0 go build -trimpath -ldflags='-s -w')")
		if bin, err = buildHandoff(tmp); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Stat(bin); err == nil {
		rep.Resources.BinaryBytes = fi.Size()
	}
	rep.Target = "handoff child process (" + filepath.Base(bin) + ")"
	workdir := filepath.Join(tmp, "wd")
	if err := os.Mkdir(workdir, 0o755); err != nil {
		return nil, err
	}
	clientID := "bench-client"
	secret := randomHex(24)
	if wantsAPI(o) {
		progress("starting the fake API and the bare forwarder")
		if o.rig, err = startAPIRig(); err != nil {
			return nil, err
		}
		defer o.rig.stop()
		rep.Notes = append(rep.Notes, "api-* ops are one GET of a small JSON page with a bearer token: straight to a fake API (api-direct), "+
			"through a bare fasthttp forwarder (api-bare: HostClient.Do of the request as it came, no checks), and through handoff's "+
			"/api/<host>/ passthrough (api-passthrough); the fake API and the forwarder are child processes, counted as harness CPU, "+
			"and their CPU column is the one process that serves the row")
	}

	if o.coldStarts > 0 {
		progress("cold start ×%d", o.coldStarts)
		if err := coldStarts(o, rep, bin, workdir, clientID, secret); err != nil {
			return nil, err
		}
	}

	for li, level := range o.levels {
		srv, prov, t, err := launch(o, bin, workdir, clientID, secret, level)
		if err != nil {
			return nil, err
		}
		if li == 0 {
			time.Sleep(min(time.Second, o.duration))
			rep.Resources.IdleRSS, _ = rss(srv.cmd.Process.Pid)
		}
		for _, sc := range scenarios {
			if o.only != nil && !o.only[sc.name] {
				continue
			}
			r := runScenario(o, t, sc)
			r.LogLevel = level
			rep.Results = append(rep.Results, r)
			if !srv.alive() {
				prov.close()
				return nil, fmt.Errorf("handoff exited during %s:\n%s", sc.name, srv.tail.String())
			}
		}
		srv.stop()
		prov.close()
	}

	if o.floodN > 0 {
		srv, prov, t, err := launch(o, bin, workdir, clientID, secret, o.levels[0])
		if err != nil {
			return nil, err
		}
		quiet(o, t)
		progress("flood: %d bogus requests", o.floodN)
		sent, s := flood(t, o.floodN, o.conns)
		// Let the server settle (the expirable LRUs sweep, the GC runs)
		// the way a quiet moment after an attack would.
		time.Sleep(min(2*time.Second, o.duration))
		after, _ := rss(srv.cmd.Process.Pid)
		rep.Resources.Flood = &floodResult{Requests: sent, Seconds: s.Seconds, PerSec: float64(sent) / s.Seconds,
			Errors: s.Errors, FirstError: s.FirstError, PeakRSS: s.PeakRSS, RSSAfter: after,
			ServerCPU: s.ServerCPU, HarnessCPU: s.HarnessCPU, OtherCPU: s.OtherCPU}
		srv.stop()
		prov.close()
	}
	if o.quick {
		rep.Notes = append(rep.Notes, "-quick: smoke run; the figures are not meaningful")
	}
	rep.Passthrough = summarizePassthrough(rep.Results)
	return rep, nil
}

// wantsAPI reports whether the run includes an api-* scenario.
func wantsAPI(o options) bool {
	for _, sc := range scenarios {
		if sc.api && (o.only == nil || o.only[sc.name]) {
			return true
		}
	}
	return false
}

// launch starts a fake provider and a handoff child wired to it, and waits
// for it to be healthy.
func launch(o options, bin, workdir, clientID, secret, level string) (*child, *provider, *target, error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, nil, err
	}
	prov, err := startProvider(clientID, secret, redirectURIFor(port))
	if err != nil {
		return nil, nil, nil, err
	}
	env := serverEnv(port, prov, clientID, level)
	if o.rig != nil {
		env = append(env, "API_ORIGINS=http://"+o.rig.api.addr)
	}
	srv, err := startChild(bin, workdir, port, append(env, o.extraEnv...))
	if err != nil {
		prov.close()
		return nil, nil, nil, err
	}
	if _, err := srv.waitHealthy(10 * time.Second); err != nil {
		srv.stop()
		prov.close()
		return nil, nil, nil, err
	}
	conns := max(o.conns, o.ratePool)
	t := &target{
		base:      "http://" + srv.addr,
		hc:        newHostClient(srv.addr, false, conns),
		prov:      newHostClient(prov.addr, false, conns),
		pid:       srv.cmd.Process.Pid,
		provConns: &prov.conns,
	}
	if o.rig != nil {
		t.rig = o.rig
		t.apiHC = newHostClient(o.rig.api.addr, false, conns)
		t.fwdHC = newHostClient(o.rig.fwd.addr, false, conns)
	}
	if t.refreshToken, err = fetchRefreshToken(t); err != nil {
		srv.stop()
		prov.close()
		return nil, nil, nil, err
	}
	return srv, prov, t, nil
}

func runScenario(o options, t *target, sc scenario) scenarioResult {
	r := scenarioResult{Scenario: sc.name, Unit: sc.unit}
	if sc.provider && t.prov == nil {
		r.Skipped = "needs the harness's fake provider (not available with -base)"
		return r
	}
	if sc.api && t.rig == nil {
		r.Skipped = "needs the harness's fake API in handoff's API_ORIGINS (not available with -base)"
		return r
	}
	if sc.pidOf != nil {
		// The CPU and RSS columns are of the process serving this row.
		t2 := *t
		t2.pid = sc.pidOf(t)
		t = &t2
	}
	o2, err := sc.prepare(t)
	if err != nil {
		r.Skipped = "setup failed: " + err.Error()
		progress("%s: %s", sc.name, r.Skipped)
		return r
	}
	r.Saturation = measure(o, t, func() runStats {
		progress("%s: saturation, %d connections, %v", sc.name, o.conns, o.duration)
		return saturate(t, o2, o.conns, o.duration)
	})
	// A pause so the fixed-rate run does not start on the saturation
	// run's garbage.
	time.Sleep(200 * time.Millisecond)
	r.FixedRate = measure(o, t, func() runStats {
		progress("%s: %.0f/s open loop, %v", sc.name, o.rate, o.duration)
		return atRate(t, o2, o.rate, o.duration, o.ratePool)
	})
	return r
}

// measure runs one measurement after waiting for a quiet machine and, when
// other processes still took more than the noisy share of the CPU, runs it
// again (up to -retries times), keeping the run they disturbed least.
func measure(o options, t *target, run func() runStats) runStats {
	var best runStats
	var errs int64
	conns0 := int64(0)
	if t.provConns != nil {
		conns0 = t.provConns.Load()
	}
	var firstErr string
	for i := 0; i <= o.retries; i++ {
		quiet(o, t)
		s := run()
		if t.provConns != nil {
			s.ProviderConns = t.provConns.Load() - conns0
			conns0 = t.provConns.Load()
		}
		errs += s.Errors // a failed request counts, whichever run is kept
		firstErr = firstNonEmpty(firstErr, s.FirstError)
		if i == 0 || s.OtherCPU < best.OtherCPU {
			best = s
		}
		if best.OtherCPU <= noisy {
			break
		}
		if i < o.retries {
			progress("other processes took %.2f cores; measuring again", s.OtherCPU)
		}
	}
	best.Errors, best.FirstError = errs, firstErr
	return best
}

func quiet(o options, t *target) {
	if o.waitQuiet > 0 && !waitQuiet(t.pid, o.waitQuiet) {
		progress("other processes kept the CPU busy for %v; measuring anyway", o.waitQuiet)
	}
}

func coldStarts(o options, rep *report, bin, workdir, clientID, secret string) error {
	// The provider is never called during start-up; it only has to exist.
	prov, err := startProvider(clientID, secret, "")
	if err != nil {
		return err
	}
	defer prov.close()
	var ds []time.Duration
	for range o.coldStarts {
		port, err := freePort()
		if err != nil {
			return err
		}
		srv, err := startChild(bin, workdir, port, append(serverEnv(port, prov, clientID, o.levels[0]), o.extraEnv...))
		if err != nil {
			return err
		}
		d, err := srv.waitHealthy(10 * time.Second)
		srv.stop()
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	rep.Resources.ColdStarts = len(ds)
	rep.Resources.ColdStartMedian = ms(median(ds))
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	rep.Resources.ColdStartMin, rep.Resources.ColdStartMax = ms(lo), ms(hi)
	return nil
}

// runBase measures a server the harness did not start: only what needs no
// provider control (authorize, poll pending, poll forged).
func runBase(o options, rep *report) (*report, error) {
	u, err := url.Parse(strings.TrimSuffix(o.base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-base %q: not an http(s) URL", o.base)
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	t := &target{
		base: u.Scheme + "://" + u.Host + u.Path,
		hc:   newHostClient(addr, u.Scheme == "https", max(o.conns, o.ratePool)),
		pid:  o.pid,
	}
	rep.Target = t.base
	rep.Notes = append(rep.Notes, "-base: authorize and poll only; login and refresh need the harness's own fake provider")
	if o.pid != 0 {
		rep.Resources.IdleRSS, _ = rss(o.pid)
	}
	for _, sc := range scenarios {
		if o.only != nil && !o.only[sc.name] {
			continue
		}
		rep.Results = append(rep.Results, runScenario(o, t, sc))
	}
	return rep, nil
}

func checkLoopback(host string) error {
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("-base: %v", err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("-base: %s is not a loopback address; the harness measures on loopback only", host)
		}
	}
	return nil
}
