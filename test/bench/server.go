package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"handoff/internal/mockprovider"
)

// buildHandoff builds the server the way the Dockerfile does (static,
// stripped) into dir and returns the binary's path.
func buildHandoff(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "handoff")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness from inside the handoff module (go run ./test/bench)")
	}
	return filepath.Dir(mod), nil
}

// provider is the fake OAuth server the child handoff talks to: the
// repository's strict mock provider, approving every login at once, served
// by net/http on a loopback port of the harness's own process.
type provider struct {
	addr   string // 127.0.0.1:port
	srv    *http.Server
	ln     net.Listener
	secret string
	// conns counts the connections handoff opened to the provider: with
	// its client reusing connections, a run opens few.
	conns atomic.Int64
}

func startProvider(clientID, clientSecret, redirectURI string) (*provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &provider{addr: ln.Addr().String(), ln: ln, secret: clientSecret}
	var uris []string
	if redirectURI != "" {
		uris = []string{redirectURI}
	}
	mock := mockprovider.New(mockprovider.Options{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURIs: uris,
		AutoApprove:  true,
	})
	p.srv = &http.Server{Handler: mock, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				p.conns.Add(1)
			}
		}}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *provider) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
}

// child is a running handoff process.
type child struct {
	cmd   *exec.Cmd
	port  int
	addr  string // 127.0.0.1:port
	tail  *tailBuffer
	done  chan struct{}
	start time.Time
}

// serverEnv is the whole environment of the child: nothing is inherited
// from the harness's own environment (a FLY_APP_NAME or a .env there would
// change what is measured) except runtime knobs a user may want to try.
func serverEnv(port int, prov *provider, clientID, logLevel string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"CLIENT_ID=" + clientID,
		"CLIENT_SECRET=" + prov.secret,
		"REDIRECT_URI=" + redirectURIFor(port),
		"AUTHORIZE_ENDPOINT=http://" + prov.addr + "/authorize",
		"TOKEN_ENDPOINT=http://" + prov.addr + "/token",
		"PORT=" + strconv.Itoa(port),
		"RATE_LIMIT=off",
		"LOG_LEVEL=" + logLevel,
	}
	for _, k := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG", "MAX_PENDING"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func redirectURIFor(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/redirect"
}

// startChild execs bin with env in an empty working directory (so no .env,
// .dev.vars or mkcert files apply). Its log goes through a pipe that the
// harness reads and discards, as a log collector would.
func startChild(bin, workdir string, port int, env []string) (*child, error) {
	cmd := exec.Command(bin)
	cmd.Dir = workdir
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	c := &child{cmd: cmd, port: port, addr: "127.0.0.1:" + strconv.Itoa(port), tail: &tailBuffer{}, done: make(chan struct{})}
	c.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		io.Copy(c.tail, out)
		cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// waitHealthy polls /healthz until it answers 200 and returns the time from
// exec to that answer.
func (c *child) waitHealthy(timeout time.Duration) (time.Duration, error) {
	hc := &fasthttp.HostClient{Addr: c.addr, MaxConns: 1, ReadTimeout: time.Second, WriteTimeout: time.Second}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + c.addr + "/healthz")
	deadline := c.start.Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return 0, fmt.Errorf("handoff exited during start-up:\n%s", c.tail.String())
		default:
		}
		if err := hc.DoTimeout(req, resp, time.Second); err == nil && resp.StatusCode() == 200 {
			return time.Since(c.start), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("no 200 from /healthz within %v:\n%s", timeout, c.tail.String())
}

// stop sends SIGTERM and waits (bounded) for the process to exit.
func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last few KiB of the child's output, for error
// messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
	}
	return string(b)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
