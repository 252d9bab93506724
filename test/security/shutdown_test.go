package security

// SECURITY.md property 6: on SIGINT or SIGTERM, handoff stops accepting connections,
// finishes the requests in flight (a token exchange is not cancelled: the
// code it carries cannot be used twice) and exits 0 within SHUTDOWN_GRACE.
// Tested on the built binary, with a provider that holds its answer.

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"handoff/internal/testkit"
)

func TestSignalMidExchangeFinishesItAndExits0(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) { signalMidExchange(t, sig) })
	}
}

func signalMidExchange(t *testing.T, sig syscall.Signal) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	p.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
		return false // then answer normally, with tokens
	})
	const grace = 10 * time.Second
	proc := startBinary(t, func(base string) map[string]string {
		return p.env(base, map[string]string{"SHUTDOWN_GRACE": grace.String(), "PROVIDER_TIMEOUT": "20s"})
	})
	h := attach(t, proc.URL, p)
	back := h.client.consent(t, h.authorize(t), false)
	h.client.close()

	done := make(chan resp, 1)
	go func() { // no t.Fatal off the test's goroutine
		res, err := h.client.hc.Get(back)
		if err != nil {
			done <- resp{status: -1, body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- resp{status: res.StatusCode, header: res.Header, body: string(b)}
	}()
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the token request never reached the provider")
	}
	held := time.Now()
	if err := proc.Signal(sig); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()

	// The listener closes while the exchange is still held at the provider.
	refused := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(proc.Port), time.Second)
		if err != nil {
			refused = true
			break
		}
		conn.Close()
	}
	if !refused {
		t.Error("new connections were still accepted 10 s after the signal")
	}
	select {
	case r := <-done:
		t.Fatalf("the redirect ended before the provider answered: %v", r)
	default:
	}

	time.Sleep(time.Until(held.Add(2 * time.Second))) // the provider answers after about 2 s
	close(release)
	select {
	case r := <-done:
		wantPage(t, "the redirect in flight at the signal", r, http.StatusOK, "authenticated")
	case <-time.After(20 * time.Second):
		t.Fatal("the redirect in flight never completed")
	}
	// Exit within the grace, measured from the signal, with a wide margin
	// for a loaded machine; a process that ignored the grace would hang.
	if code := proc.wait(t, grace+10*time.Second-time.Since(signalled)); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	out := proc.Out.String()
	if !strings.Contains(out, "shutting down") || strings.Contains(out, "grace ran out") {
		t.Errorf("the shutdown did not finish cleanly:\n%s", out)
	}
}
