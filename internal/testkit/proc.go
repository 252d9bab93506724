package testkit

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Command runs bin with exactly env plus PATH and HOME, in an empty working
// directory: neither the test's own environment nor a .env, .dev.vars or
// mkcert file of the repository may add to the configuration under test.
func Command(t testing.TB, bin string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// ErrStillRunning is RunToExit's error when the process outlived its limit.
var ErrStillRunning = errors.New("still running")

// RunToExit runs cmd to its end and returns its output (stdout and stderr
// interleaved) and cmd.Wait's error. It is for configurations that must
// stop start-up: a process still running after limit is killed, and the
// error is ErrStillRunning.
func RunToExit(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return out.String(), ErrStillRunning
	}
}

// Options says how Start runs handoff.
type Options struct {
	// Port is the port to serve on. With 0 Start picks a free one, and
	// retries with another when a different process took it first; a port
	// the caller chose cannot change, as its env may already name it.
	Port int
	// Env is handoff's configuration for a port (REDIRECT_URI often names
	// it); PATH, HOME and PORT are added.
	Env func(port int) map[string]string
	// Race runs RaceBinary, and fails the test at the end if the server
	// reported a data race.
	Race bool
	// Name is what failure messages call the process ("handoff" if empty).
	Name string
}

// healthyWithin bounds the wait for GET /healthz; a loaded machine running
// a -race binary can take seconds.
const healthyWithin = 20 * time.Second

// stopGrace is how long the cleanup waits after SIGINT before SIGKILL.
const stopGrace = 20 * time.Second

// Proc is the handoff binary, running.
type Proc struct {
	Cmd  *exec.Cmd
	Port int
	URL  string  // http://127.0.0.1:PORT
	Out  *Buffer // stdout and stderr, interleaved

	name   string
	exited chan struct{}
}

// Start runs handoff as Command does and returns once GET /healthz answers
// 200. When the test ends it stops the process as Fly does (SIGINT, then
// SIGKILL after 20 s) if the test has not.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	bin := Binary(t)
	if o.Race {
		bin = RaceBinary(t)
	}
	name := o.Name
	if name == "" {
		name = "handoff"
	}
	for attempt := 0; ; attempt++ {
		port := o.Port
		if port == 0 {
			port = FreePort(t)
		}
		var env map[string]string
		if o.Env != nil {
			env = o.Env(port)
		}
		p := &Proc{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Out: &Buffer{},
			name: name, exited: make(chan struct{})}
		p.Cmd = Command(t, bin, env)
		p.Cmd.Env = append(p.Cmd.Env, "PORT="+strconv.Itoa(port))
		p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
		if err := p.Cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.Cmd.Wait(); close(p.exited) }()
		err := p.waitHealthy(healthyWithin)
		if err == nil {
			t.Cleanup(func() {
				p.Stop(syscall.SIGINT, stopGrace)
				if o.Race && strings.Contains(p.Out.String(), "DATA RACE") {
					t.Errorf("%s reported a data race:\n%s", p.name, p.Out)
				}
			})
			return p
		}
		p.Kill()
		if o.Port == 0 && attempt < 2 && strings.Contains(p.Out.String(), "address already in use") {
			continue
		}
		t.Fatalf("%s did not become healthy: %v\n%s", name, err, p.Out)
	}
}

func (p *Proc) waitHealthy(limit time.Duration) error {
	// No keep-alive: an idle connection would outlive the check, and
	// goroutine leak checks would see it.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("it exited at start (%v)", p.Cmd.ProcessState)
		default:
		}
		res, err := hc.Get(p.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %s", res.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %v: %v", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal is for tests that stop the process themselves, to see how it
// ends.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait reports whether the process exited within limit.
func (p *Proc) Wait(limit time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(limit):
		return false
	}
}

// Kill ends the process at once, as a crashed host would, and returns when
// it is gone.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
	default:
		p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Stop sends sig, and SIGKILL if the process still runs after grace. It
// returns when the process is gone.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.Signal(sig)
	if !p.Wait(grace) {
		p.Kill()
	}
}
