package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// runStats are the figures of one run.
type runStats struct {
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	P999ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	Rate       float64 `json:"target_rate,omitempty"`
	Conns      int     `json:"connections"`
	ServerCPU  float64 `json:"server_cpu_cores,omitempty"`
	HarnessCPU float64 `json:"harness_cpu_cores"`
	OtherCPU   float64 `json:"other_cpu_cores"`
	// SendLagP99ms is how late the fixed-rate loop started its ops against
	// their schedule (the harness's own delay, included in the latencies).
	SendLagP99ms float64 `json:"send_lag_p99_ms,omitempty"`
	PeakRSS      int64   `json:"peak_rss_bytes,omitempty"`
	// ProviderConns is how many connections were opened to the fake
	// provider during the run (by handoff's token client and by the
	// harness playing the browser).
	ProviderConns int64  `json:"provider_conns_opened,omitempty"`
	FirstError    string `json:"first_error,omitempty"`
}

type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     atomic.Int64
	firstErr atomic.Pointer[string]
}

func (r *recorder) fail(err error) {
	if r.errs.Add(1) == 1 {
		s := err.Error()
		r.firstErr.Store(&s)
	}
}

func (r *recorder) add(l []time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, l...)
	r.mu.Unlock()
}

func (r *recorder) stats(elapsed time.Duration) runStats {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	s := runStats{Ops: int64(len(r.lat)), Errors: r.errs.Load(), Seconds: elapsed.Seconds()}
	s.PerSec = float64(s.Ops) / elapsed.Seconds()
	s.P50ms = ms(quantile(r.lat, 0.50))
	s.P99ms = ms(quantile(r.lat, 0.99))
	s.P999ms = ms(quantile(r.lat, 0.999))
	if len(r.lat) > 0 {
		s.MaxMs = ms(r.lat[len(r.lat)-1])
	}
	if p := r.firstErr.Load(); p != nil {
		s.FirstError = *p
	}
	return s
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuMeter measures the CPU time of the server, of the harness (load
// generator and fake provider) and of everything else on the machine over a
// run, in cores. Other processes busy on the same cores make the figures
// unreliable; the table shows how much they took.
type cpuMeter struct {
	pid     int
	start   time.Time
	child   time.Duration
	childOK bool
	self    time.Duration
	busy    time.Duration
	busyOK  bool
}

// auxPIDs are the harness's own child processes (the api-* scenarios'
// fake API and bare forwarder): their CPU counts as the harness's, but for
// the one serving the row, which counts as the server's.
var auxPIDs []int

// harnessCPU is the CPU time of the harness's process and of its auxPIDs
// but skip.
func harnessCPU(skip int) time.Duration {
	d := selfCPU()
	for _, p := range auxPIDs {
		if p != skip {
			c, _ := procCPU(p)
			d += c
		}
	}
	return d
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now()}
	m.child, m.childOK = procCPU(pid)
	m.self = harnessCPU(pid)
	m.busy, m.busyOK = machineBusy()
	return m
}

func (m *cpuMeter) stop() (server, harness, other float64) {
	el := time.Since(m.start).Seconds()
	c, ok := procCPU(m.pid)
	if ok && m.childOK {
		server = (c - m.child).Seconds() / el
	}
	harness = (harnessCPU(m.pid) - m.self).Seconds() / el
	if b, ok := machineBusy(); ok && m.busyOK {
		other = max(0, (b-m.busy).Seconds()/el-server-harness)
	}
	return server, harness, other
}

// machineBusy is the non-idle CPU time of the whole machine, from the first
// line of /proc/stat (USER_HZ = 100).
func machineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond, true
}

// procCPU reads utime+stime of pid from /proc/pid/stat (USER_HZ = 100 on
// Linux).
func procCPU(pid int) (time.Duration, bool) {
	if pid == 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+st) * 10 * time.Millisecond, true
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// saturate runs conns closed loops of o for d after a short warm-up and
// reports throughput and the latency of each op (from its send: at
// saturation the loops are closed, so this is service time under load).
func saturate(t *target, o op, conns int, d time.Duration) runStats {
	warm := min(d/5, time.Second)
	rec := &recorder{}
	var wg sync.WaitGroup
	startAt := time.Now().Add(warm)
	endAt := startAt.Add(d)
	var meter *cpuMeter
	var sampler *rssSampler
	var once sync.Once
	begin := func() {
		meter = startCPU(t.pid)
		sampler = sampleRSS(t.pid)
	}
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := newWorker(t, uint64(i)+1)
			defer w.release()
			lat := make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(endAt) {
					break
				}
				err := o(w)
				w.n++
				if t0.Before(startAt) {
					continue // warm-up
				}
				once.Do(begin)
				if err != nil {
					rec.fail(err)
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			rec.add(lat)
		}(i)
	}
	wg.Wait()
	once.Do(begin)
	s := rec.stats(endAt.Sub(startAt))
	s.Conns = conns
	s.ServerCPU, s.HarnessCPU, s.OtherCPU = meter.stop()
	s.PeakRSS = sampler.stop()
	return s
}

// atRate sends o at a fixed rate for d, open-loop: each op has a scheduled
// time on the clock and its latency counts from that time, so a server
// stall shows in the figures instead of delaying the next sends
// (coordinated omission).
func atRate(t *target, o op, rate float64, d time.Duration, pool int) runStats {
	period := time.Duration(float64(time.Second) / rate)
	total := int(d / period)
	jobs := make(chan time.Time, total+1)
	rec, lagRec := &recorder{}, &recorder{}
	var wg sync.WaitGroup
	for i := 0; i < pool; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := newWorker(t, uint64(i)+1000)
			defer w.release()
			var lat, lags []time.Duration
			for at := range jobs {
				lags = append(lags, time.Since(at))
				if err := o(w); err != nil {
					rec.fail(err)
					continue
				}
				lat = append(lat, time.Since(at))
			}
			rec.add(lat)
			lagRec.add(lags)
		}(i)
	}
	meter := startCPU(t.pid)
	sampler := sampleRSS(t.pid)
	// The clock: time.Sleep would wake up to a millisecond late (the Go
	// runtime's netpoller waits in whole milliseconds), which at 1,000/s is
	// half the period; a thread of its own in nanosleep with a tight timer
	// slack keeps to the schedule within tens of microseconds on an idle
	// machine.
	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	start := time.Now().Add(5 * time.Millisecond)
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(i) * period)
		if wait := time.Until(at); wait > 0 {
			ts := syscall.NsecToTimespec(int64(wait))
			syscall.Nanosleep(&ts, nil)
		}
		jobs <- at
	}
	close(jobs)
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 0, 0) // back to the default
	runtime.UnlockOSThread()
	wg.Wait()
	elapsed := time.Since(start)
	s := rec.stats(elapsed)
	s.PerSec = float64(s.Ops) / max(elapsed.Seconds(), d.Seconds())
	s.Rate = rate
	s.SendLagP99ms = lagRec.stats(elapsed).P99ms
	s.Conns = pool
	s.ServerCPU, s.HarnessCPU, s.OtherCPU = meter.stop()
	s.PeakRSS = sampler.stop()
	return s
}

var errStop = errors.New("stop")

// waitQuiet waits, up to limit, until the rest of the machine (everything
// but the server and the harness) has used less than a tenth of a core for
// half a second, so that other work on a shared machine spoils fewer runs.
// It reports whether the machine was quiet.
func waitQuiet(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		m := startCPU(pid)
		time.Sleep(500 * time.Millisecond)
		if _, _, other := m.stop(); other < 0.1 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

const prSetTimerSlack = 29 // PR_SET_TIMERSLACK, linux/prctl.h
