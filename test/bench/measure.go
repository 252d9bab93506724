package main

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
	"time"
)

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

// saturate runs conns closed loops of o for d after a short warm-up and
// reports throughput and the latency of each op (from its send: at
// saturation the loops are closed, so this is service time under load).
func saturate(t *target, o op, conns int, d time.Duration) runStats {
	warm := min(d/5, time.Second)
	rec := &recorder{}
	startAt := time.Now().Add(warm)
	endAt := startAt.Add(d)
	var u *serverUsage
	var once sync.Once
	begin := func() { u = startUsage(t.pid) }
	startLoops(t, conns, 1, func(w *worker) {
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
	})()
	once.Do(begin)
	s := rec.stats(endAt.Sub(startAt))
	u.record(&s, conns)
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
	wait := startLoops(t, pool, 1000, func(w *worker) {
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
	})
	u := startUsage(t.pid)
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
	wait()
	elapsed := time.Since(start)
	s := rec.stats(elapsed)
	s.PerSec = float64(s.Ops) / max(elapsed.Seconds(), d.Seconds())
	s.Rate = rate
	s.SendLagP99ms = lagRec.stats(elapsed).P99ms
	u.record(&s, pool)
	return s
}

var errStop = errors.New("stop")

const prSetTimerSlack = 29 // PR_SET_TIMERSLACK, linux/prctl.h

// floodRun runs o on conns loops until o says stop.
func floodRun(t *target, o op, conns int) runStats {
	rec := &recorder{}
	u := startUsage(t.pid)
	start := time.Now()
	startLoops(t, conns, 5000, func(w *worker) {
		for {
			err := o(w)
			w.n++
			if err == errStop {
				break
			}
			if err != nil {
				rec.fail(err)
			}
		}
	})()
	s := rec.stats(time.Since(start))
	u.record(&s, conns)
	return s
}

// startLoops runs loop in n goroutines, each with a worker of its own
// (seeded seed, seed+1, …), and returns a function that waits for them
// all.
func startLoops(t *target, n int, seed uint64, loop func(w *worker)) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(t, seed+uint64(i))
			defer w.release()
			loop(w)
		}()
	}
	return wg.Wait
}
