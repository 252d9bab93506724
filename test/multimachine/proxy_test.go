package multimachine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// flyProxy plays Fly's proxy in front of the machines: each request goes to
// a machine picked at random among those in the pool (another one if that
// one cannot be reached), and a fly-replay answer is honoured as Fly
// documents it. It records every replay and every replay loop.
type flyProxy struct {
	mu       sync.RWMutex
	backends map[string]*backend
	ids      []string

	client *http.Client

	requests, replays, fallbacks atomic.Int64

	vmu        sync.Mutex
	violations []string
}

type backend struct {
	id  string
	url string
	// routable: in the load balancer's pool for new requests.
	routable atomic.Bool
	// unreachable: replays to it fail without a connection (a Machine
	// being stopped); once the process is gone, replays really dial it.
	unreachable atomic.Bool
	inflight    atomic.Int64
}

func newFlyProxy() *flyProxy {
	transport := &http.Transport{
		// The replay header asks for timeout=2s: the time to reach the
		// target. A loopback connection to a dead port fails at once.
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	return &flyProxy{
		backends: map[string]*backend{},
		client: &http.Client{Transport: transport, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

func (p *flyProxy) add(m *machine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := &backend{id: m.id, url: m.URL}
	b.routable.Store(true)
	p.backends[m.id] = b
	p.ids = append(p.ids, m.id)
}

func (p *flyProxy) backend(id string) *backend {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.backends[id]
}

func (p *flyProxy) violate(format string, args ...any) {
	p.vmu.Lock()
	defer p.vmu.Unlock()
	p.violations = append(p.violations, fmt.Sprintf(format, args...))
}

func (p *flyProxy) Violations() []string {
	p.vmu.Lock()
	defer p.vmu.Unlock()
	return append([]string(nil), p.violations...)
}

// pick returns a random routable backend not in tried.
func (p *flyProxy) pick(tried map[string]bool) *backend {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var ok []*backend
	for _, id := range p.ids {
		if b := p.backends[id]; b.routable.Load() && !tried[id] {
			ok = append(ok, b)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	return ok[rand.IntN(len(ok))]
}

// reply is a machine's whole answer, read before the connection is let go.
type reply struct {
	status int
	header http.Header
	body   []byte
}

var errUnreachable = errors.New("fly proxy: machine unreachable")

// send delivers the client's request to b, with extra headers.
func (p *flyProxy) send(b *backend, r *http.Request, body []byte, extra http.Header) (*reply, error) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	req, err := http.NewRequestWithContext(r.Context(), r.Method, b.url+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection":
			continue
		}
		req.Header[k] = vs
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	req.Header.Set("Fly-Client-IP", host)
	for k, vs := range extra {
		req.Header[k] = vs
	}
	req.Host = r.Host
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: rb}, nil
}

// replayFields parses `instance=ID;timeout=2s;fallback=force_self`.
func replayFields(h string) map[string]string {
	f := map[string]string{}
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		f[strings.ToLower(k)] = strings.Trim(v, `"`)
	}
	return f
}

func (p *flyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "fly proxy: reading the request", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Fly-Replay-Failed") != "" || r.Header.Get("Fly-Replay-Src") != "" {
		// Clients never send these; the harness's own clients do not.
		p.violate("a client request carried a fly-replay header")
	}
	tried := map[string]bool{}
	for {
		b := p.pick(tried)
		if b == nil {
			http.Error(w, "fly proxy: no machine can take the request", http.StatusServiceUnavailable)
			return
		}
		tried[b.id] = true
		first, err := p.send(b, r, body, nil)
		if err != nil {
			continue // as Fly does: another machine, if there is one
		}
		p.answer(w, r, body, b, first)
		return
	}
}

// answer honours a fly-replay in the first machine's reply, or passes the
// reply on.
func (p *flyProxy) answer(w http.ResponseWriter, r *http.Request, body []byte, origin *backend, first *reply) {
	h := first.header.Get("Fly-Replay")
	if h == "" {
		p.write(w, first, origin.id)
		return
	}
	f := replayFields(h)
	target := f["instance"]
	switch {
	case target == "":
		p.violate("%s %s: fly-replay without instance: %q", r.Method, r.URL.Path, h)
	case target == origin.id:
		p.violate("%s %s: machine %s asked for a replay to itself", r.Method, r.URL.Path, origin.id)
		http.Error(w, "fly proxy: replay loop", http.StatusBadGateway)
		return
	}
	if f["timeout"] != "2s" || f["fallback"] != "force_self" {
		p.violate("%s %s: fly-replay %q lacks timeout=2s;fallback=force_self", r.Method, r.URL.Path, h)
	}
	if len(first.body) != 0 {
		p.violate("%s %s: the replaying answer has a body (%d bytes)", r.Method, r.URL.Path, len(first.body))
	}
	p.replays.Add(1)

	var second *reply
	err := errUnreachable
	if b := p.backend(target); b != nil && !b.unreachable.Load() {
		src := fmt.Sprintf("instance=%s;region=ams;t=%d", origin.id, time.Now().UnixMicro())
		second, err = p.send(b, r, body, http.Header{"Fly-Replay-Src": {src}})
	}
	if err == nil {
		if second.header.Get("Fly-Replay") != "" {
			p.violate("%s %s: the replayed request was replayed again by %s", r.Method, r.URL.Path, target)
			http.Error(w, "fly proxy: replay loop", http.StatusBadGateway)
			return
		}
		p.write(w, second, target)
		return
	}

	// The target cannot be reached: with fallback=force_self the request
	// goes back to the machine that asked for the replay, marked.
	if f["fallback"] != "force_self" && f["fallback"] != "prefer_self" {
		http.Error(w, "fly proxy: replay failed", http.StatusBadGateway)
		return
	}
	p.fallbacks.Add(1)
	third, err := p.send(origin, r, body, http.Header{
		"Fly-Replay-Failed": {fmt.Sprintf("reason=unreachable;instance=%s", target)},
	})
	if err != nil {
		http.Error(w, "fly proxy: fallback failed", http.StatusBadGateway)
		return
	}
	if third.header.Get("Fly-Replay") != "" {
		p.violate("%s %s: machine %s asked for a replay of a request carrying fly-replay-failed", r.Method, r.URL.Path, origin.id)
		http.Error(w, "fly proxy: replay loop", http.StatusBadGateway)
		return
	}
	p.write(w, third, origin.id)
}

// write passes a reply to the client, naming the machine that made it in
// X-Test-Machine (the test's own header, so journeys know who owns a login).
func (p *flyProxy) write(w http.ResponseWriter, rp *reply, machineID string) {
	for k, vs := range rp.header {
		switch k {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length":
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("X-Test-Machine", machineID)
	w.WriteHeader(rp.status)
	w.Write(rp.body)
}
