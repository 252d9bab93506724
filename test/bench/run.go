package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

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
