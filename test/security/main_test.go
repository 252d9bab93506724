package security

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
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
	code := testkit.Run(m)
	if code == 0 {
		if err := findLeaks(20 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "test/security: goroutines leaked by the tests:", err)
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
// it with a client that keeps every error body to search for secrets. The
// port is testkit's to choose, and to choose again if another process takes
// it first.
func startBinaryFor(t *testing.T, p *fakeProvider, env map[string]string) (*process, *handoff) {
	t.Helper()
	proc := &process{testkit.Start(t, testkit.Options{Env: func(port int) map[string]string {
		vars := map[string]string{
			"CLIENT_ID":          p.clientID,
			"CLIENT_SECRET":      p.clientSecret,
			"REDIRECT_URI":       "http://127.0.0.1:" + strconv.Itoa(port) + "/redirect",
			"AUTHORIZE_ENDPOINT": p.URL + "/authorize",
			"TOKEN_ENDPOINT":     p.URL + "/token",
			"RATE_LIMIT":         "off",
			"LOG_LEVEL":          "warn",
		}
		for k, v := range env {
			vars[k] = v
		}
		return vars
	}})}
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
