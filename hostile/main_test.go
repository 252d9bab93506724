package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Goroutines that outlive their owner by design, named one by one.
var leakOptions = []goleak.Option{
	// golang-lru v2.0.7: expirable.NewLRU starts a cleanup goroutine that
	// never exits (its done channel is never closed; the library plans a
	// way to stop it after v2). One per store of every Broker.
	goleak.IgnoreTopFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
	// fasthttp refreshes its cached Date header once a second for the
	// life of the process, started by the first server (asleep in time.Sleep,
	// hence IgnoreAnyFunction).
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
}

// findLeaks is goleak.Find, retried for up to within: fasthttp's worker pool
// cleaner sees a server's stop signal only after its sleep
// (MaxIdleWorkerDuration, 10 s by default), so it is given time to exit
// rather than ignored.
func findLeaks(within time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(within)
	for {
		err := goleak.Find(append(leakOptions, opts...)...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := findLeaks(15 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "hostile: goroutines leaked by the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

var (
	moduleRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Dir(filepath.Dir(file))
	}()
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// handoffBinary builds the real binary once per test run.
func handoffBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "handoff-hostile-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "handoff")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is the built binary, running.
type process struct {
	URL    string
	port   int
	cmd    *exec.Cmd
	output *syncBuffer // stdout and stderr, interleaved
	exited chan struct{}
	err    error // set when exited is closed
}

// freePort finds a loopback port nobody listens on (a race with other
// processes is possible, never with this one).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBinary runs the binary with exactly env (plus PATH and HOME), in an
// empty working directory (no .env, no mkcert files), and waits until
// /healthz answers.
func startBinary(t *testing.T, port int, env map[string]string) *process {
	t.Helper()
	bin := handoffBinary(t)
	p := &process{port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port), output: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + strconv.Itoa(port)}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("handoff exited at start (%v):\n%s", p.err, p.output.String())
		default:
		}
		if res, err := hc.Get(p.URL + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("handoff did not become healthy:\n%s", p.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits up to limit for the process to exit, returning
// its exit code.
func (p *process) stop(t *testing.T, sig syscall.Signal, limit time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, limit)
}

func (p *process) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("handoff did not exit within %v:\n%s", limit, p.output.String())
	}
	return p.cmd.ProcessState.ExitCode()
}
