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
	"os"
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
