package security

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"handoff/internal/testkit"
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
// (MaxIdleWorkerDuration, which startHandoff sets to idleWorkers), so it is
// given time to exit rather than ignored.
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

// idleWorkers is the MaxIdleWorkerDuration of the in-process servers: how
// long the worker pool's cleaner may sleep after the server stops. The
// leak check waits many times longer (fasthttp's own default, 10 s, left a
// margin of 5 s on a 15 s wait).
const idleWorkers = time.Second

// owned labels the goroutines that the test's goroutine starts from now on
// (servers, their workers, client connections) with the test's name, so a
// leak found after all tests have run names the test that left it.
func owned(t testing.TB) {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("test", t.Name())))
}

var testLabel = regexp.MustCompile(`(?m)^# labels: \{.*"test":"([^"]+)"`)

// leakOwners returns the tests whose labelled goroutines are still running,
// but for those leakOptions ignores.
func leakOwners() []string {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	seen := map[string]bool{}
	var names []string
	for _, group := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(group, "expirable.NewLRU") || strings.Contains(group, "fasthttp.updateServerDate") {
			continue
		}
		if m := testLabel.FindStringSubmatch(group); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return names
}

func TestMain(m *testing.M) {
	code := testkit.Run(m)
	if code == 0 {
		if err := findLeaks(20 * time.Second); err != nil {
			owners := "no test's label: started by the harness itself"
			if names := leakOwners(); len(names) > 0 {
				owners = "started under " + strings.Join(names, ", ")
			}
			fmt.Fprintf(os.Stderr, "test/security: goroutines leaked by the tests (%s): %v\n", owners, err)
			code = 1
		}
	}
	os.Exit(code)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// process is the built binary, running.
type process struct{ *testkit.Proc }

// startBinary runs the binary with exactly env (plus PATH and HOME), in an
// empty working directory (no .env, no mkcert files), and waits until
// /healthz answers.
func startBinary(t *testing.T, env func(base string) map[string]string) *process {
	t.Helper()
	// The port is testkit's to choose, and to choose again if another
	// process takes it before handoff binds it.
	return &process{testkit.Start(t, testkit.Options{Env: func(port int) map[string]string {
		return env("http://127.0.0.1:" + strconv.Itoa(port))
	}})}
}

// startBinaryFor runs the binary against p, configured as startHandoff
// configures the in-process server (rate limits off) plus env, and returns
// it with a client that keeps every error body to search for secrets.
func startBinaryFor(t *testing.T, p *fakeProvider, env map[string]string) (*process, *handoff) {
	t.Helper()
	proc := startBinary(t, func(base string) map[string]string {
		return p.env(base, map[string]string{"RATE_LIMIT": "off", "LOG_LEVEL": "warn"}, env)
	})
	return proc, attach(t, proc.URL, p)
}

// memoryCeilingKB is SECURITY.md property 8's bound on the server's resident memory under
// any mix of hostile requests: 64 MB, a quarter of Fly's smallest machine.
const memoryCeilingKB = 64 << 10

// stop sends sig and waits up to limit for the process to exit, returning
// its exit code.
func (p *process) stop(t *testing.T, sig syscall.Signal, limit time.Duration) int {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, limit)
}

func (p *process) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	if !p.Wait(limit) {
		t.Fatalf("handoff did not exit within %v:\n%s", limit, p.Out.String())
	}
	return p.Cmd.ProcessState.ExitCode()
}
