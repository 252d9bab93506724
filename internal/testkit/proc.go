package testkit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
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
// interleaved; a writer cmd already has gets its stream too) and cmd.Wait's
// error. It is for configurations that must stop start-up: a process still
// running after limit is killed, and the error is ErrStillRunning.
func RunToExit(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out Buffer
	cmd.Stdout, cmd.Stderr = alsoTo(cmd.Stdout, &out), alsoTo(cmd.Stderr, &out)
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

func alsoTo(w io.Writer, out *Buffer) io.Writer {
	if w == nil {
		return out
	}
	return io.MultiWriter(w, out)
}

// ExitStatus runs cmd to its end as RunToExit does and returns its exit
// status and output. A process still running after limit, or one that
// cannot start, fails the test.
func ExitStatus(t testing.TB, cmd *exec.Cmd, limit time.Duration) (int, string) {
	t.Helper()
	out, err := RunToExit(cmd, limit)
	var ee *exec.ExitError
	switch {
	case errors.Is(err, ErrStillRunning):
		t.Fatalf("handoff still ran after %v, where it should have stopped:\n%s", limit, out)
	case errors.As(err, &ee):
		return ee.ExitCode(), out
	case err != nil:
		t.Fatal(err)
	}
	return 0, out
}

// Options says how Start runs handoff.
type Options struct {
	// Vars is configuration that names no port. With Vars alone (no Port,
	// no Env) handoff starts with PORT=0 and Start reads the port the
	// system gave it from its "handoff listening" log line, so no other
	// process can take the port first. That line is at INFO level: with
	// LOG_LEVEL warn or error, Start picks a port as for Env.
	//
	// Whatever the port, Start reads that line when LOG_LEVEL lets it
	// through, and takes the scheme from it (Proc.URL): a server with
	// LOG_LEVEL warn or error is taken to serve HTTP.
	Vars map[string]string
	// Env is configuration for a port (REDIRECT_URI often names it), added
	// to Vars. With Env and no Port, Start picks a free port, and retries
	// with another when a different process took it first.
	Env func(port int) map[string]string
	// Port is the port to serve on, when the caller chose it; it cannot
	// change, as the caller's configuration may already name it.
	Port int
	// Args are handoff's command-line arguments (-demo).
	Args []string
	// Dir is the working directory (for a .env, .dev.vars or mkcert's
	// files); empty is an empty temporary one.
	Dir string
	// Client checks /healthz (one trusting the server's certificate when
	// it serves HTTPS); nil is a plain HTTP client.
	Client *http.Client
	// Race runs RaceBinary, and fails the test at the end if the server
	// reported a data race.
	Race bool
	// Bin is the binary to run (a prebuilt one); empty is Binary, or
	// RaceBinary with Race.
	Bin string
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
	URL  string  // http://127.0.0.1:PORT, or https://localhost:PORT
	Out  *Buffer // stdout and stderr, interleaved

	name   string
	exited chan struct{}
}

// Start runs handoff as Command does and returns once GET /healthz answers
// 200. When the test ends it stops the process as Fly does (SIGINT, then
// SIGKILL after 20 s) if the test has not.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	bin := o.Bin
	switch {
	case bin != "":
	case o.Race:
		bin = RaceBinary(t)
	default:
		bin = Binary(t)
	}
	name := o.Name
	if name == "" {
		name = "handoff"
	}
	anyPort := o.Port == 0 && o.Env == nil && !quiet(o.Vars["LOG_LEVEL"])
	for attempt := 0; ; attempt++ {
		port := o.Port
		if port == 0 && !anyPort {
			port = FreePort(t)
		}
		env := map[string]string{}
		for k, v := range o.Vars {
			env[k] = v
		}
		if o.Env != nil {
			for k, v := range o.Env(port) {
				env[k] = v
			}
		}
		env["PORT"] = strconv.Itoa(port)
		p := &Proc{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Out: &Buffer{},
			name: name, exited: make(chan struct{})}
		p.Cmd = Command(t, bin, env, o.Args...)
		if o.Dir != "" {
			p.Cmd.Dir = o.Dir
		}
		p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
		if err := p.Cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.Cmd.Wait(); close(p.exited) }()
		var err error
		if !quiet(env["LOG_LEVEL"]) {
			err = p.waitListening(healthyWithin)
		}
		if err == nil {
			err = p.waitHealthy(o.Client, healthyWithin)
		}
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
		if o.Port == 0 && !anyPort && attempt < 2 && strings.Contains(p.Out.String(), "address already in use") {
			continue
		}
		t.Fatalf("%s did not become healthy: %v\n%s", name, err, p.Out)
	}
}

// quiet reports whether a LOG_LEVEL hides INFO lines.
func quiet(level string) bool {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "warn", "error":
		return true
	}
	return false
}

// listening is app.Run's line naming the address it bound, in either of
// its log formats (text, or JSON on Fly).
var listening = regexp.MustCompile(`handoff listening.*?(https?)://localhost:(\d+)`)

// waitListening waits for the "handoff listening" line and takes the port
// (the one it was given, or the system's for PORT=0) and the scheme (https
// when handoff serves TLS) from it.
func (p *Proc) waitListening(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if m := listening.FindStringSubmatch(p.Out.String()); m != nil {
			p.Port, _ = strconv.Atoi(m[2])
			p.URL = fmt.Sprintf("http://127.0.0.1:%d", p.Port)
			if m[1] == "https" {
				p.URL = fmt.Sprintf("https://localhost:%d", p.Port)
			}
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("it exited at start (%v)", p.Cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no \"handoff listening\" line after %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *Proc) waitHealthy(hc *http.Client, limit time.Duration) error {
	if hc == nil {
		// No keep-alive: an idle connection would outlive the check, and
		// goroutine leak checks would see it.
		hc = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
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

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

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
