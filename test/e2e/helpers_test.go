//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// Timeouts. Every wait is bounded; the whole run stays far under 5 minutes.
const (
	startTimeout   = 20 * time.Second // a child process until it is ready
	journeyTimeout = 90 * time.Second // one test: browser, pages, polls
	stepTimeout    = 20 * time.Second // one wait for a page or a DOM state
)

// Client credentials registered in test/e2e/provider/server.js (its defaults). The
// secrets carry characters that form-encoding for HTTP Basic must escape.
const (
	basicClientID     = "handoff-basic"
	basicClientSecret = "basic-secret-with+plus/slash=and:colon"
	postClientID      = "handoff-post"
	postClientSecret  = "post-secret-with+plus/slash=and:colon"
)

var (
	repoRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Dir(filepath.Dir(filepath.Dir(file)))
	}()
	e2eDir = filepath.Join(repoRoot, "test", "e2e")

	// buildTime is how long the first caller waited for testkit.Binary:
	// the shared build, which each journey's line reports apart.
	buildTimeOnce sync.Once
	buildTime     time.Duration
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// handoffBinary builds handoff from the repository root once per run (or uses
// HANDOFF_BIN).
func handoffBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HANDOFF_BIN"); p != "" {
		return p
	}
	start := time.Now()
	bin := testkit.Binary(t)
	buildTimeOnce.Do(func() { buildTime = time.Since(start) })
	return bin
}

// child is a process that the test started and stops in its cleanup.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *testkit.Buffer
	done   chan struct{}
	err    error // set when done is closed
	grace  time.Duration
	stopMu sync.Once
}

func startChild(t *testing.T, name string, cmd *exec.Cmd, grace time.Duration) *child {
	t.Helper()
	c := &child{name: name, cmd: cmd, out: &testkit.Buffer{}, done: make(chan struct{}), grace: grace}
	if cmd.Stdout == nil {
		cmd.Stdout = c.out
	}
	cmd.Stderr = c.out
	// Its own process group, so that nothing it starts outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop(t)
		showOutput(t, name, c.out)
	})
	return c
}

// showOutput logs a process's output when the test failed, or always with
// E2E_VERBOSE=1.
func showOutput(t *testing.T, name string, out *testkit.Buffer) {
	if t.Failed() || os.Getenv("E2E_VERBOSE") == "1" {
		t.Logf("---- %s output ----\n%s---- end of %s output ----", name, out.String(), name)
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits for the grace period, then kills the group.
func (c *child) stop(t *testing.T) {
	c.stopMu.Do(func() {
		if c.exited() {
			t.Logf("%s had already exited: %v", c.name, c.err)
			return
		}
		pid := c.cmd.Process.Pid
		start := time.Now()
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-c.done:
			t.Logf("%s stopped on SIGTERM in %v (%v)", c.name, time.Since(start).Round(time.Millisecond), exitText(c.err))
		case <-time.After(c.grace):
			t.Logf("%s still running %v after SIGTERM: killing it", c.name, c.grace)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-c.done
		}
		// Anything left in its process group.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	})
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// journey times one test and logs it in a form the report can collect.
func journey(t *testing.T) func() {
	handoffBinary(t) // the build is shared, and not part of a journey's time
	start := time.Now()
	return func() {
		status := "ok"
		if t.Failed() {
			status = "FAILED"
		}
		t.Logf("JOURNEY %s %s in %v (shared handoff build: %v)", t.Name(), status, time.Since(start).Round(10*time.Millisecond), buildTime.Round(10*time.Millisecond))
	}
}
