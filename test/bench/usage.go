package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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

// rss reads the child's resident set size in bytes from /proc.
func rss(pid int) (int64, error) {
	return procStatus(pid, "VmRSS:")
}

func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// rssSampler polls the RSS of pid until stopped and keeps the peak.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	peak  int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	if pid == 0 {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := rss(pid); err == nil && v > s.peak {
				s.peak = v
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	<-s.done
	return s.peak
}

// serverUsage measures a run's CPU (the server's, the harness's and the
// rest of the machine's) and the server's peak RSS.
type serverUsage struct {
	cpu *cpuMeter
	rss *rssSampler
}

func startUsage(pid int) *serverUsage {
	return &serverUsage{cpu: startCPU(pid), rss: sampleRSS(pid)}
}

// record ends the measurement and puts its figures, and the run's
// connections, in s.
func (u *serverUsage) record(s *runStats, conns int) {
	s.Conns = conns
	s.ServerCPU, s.HarnessCPU, s.OtherCPU = u.cpu.stop()
	s.PeakRSS = u.rss.stop()
}
