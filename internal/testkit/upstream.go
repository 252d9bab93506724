package testkit

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Upstream is a fake provider API on a loopback port, for the API
// passthrough (docs/protocol.md#api-passthrough). It counts the connections
// it accepts and the requests it serves and keeps every byte it reads, so a
// test can prove that a refused request made no connection and that no
// secret ever reached it.
//
// Without an answer set (Answer) it answers 200 {"ok":true}. A request with
// an X-Test-Discard header has its body counted, not kept: the answer
// carries the count in X-Received (for bodies too large to keep).
type Upstream struct {
	Addr   string // 127.0.0.1:port
	Origin string // http://127.0.0.1:port
	Conns  atomic.Int64
	Reqs   atomic.Int64

	mu      sync.Mutex
	raw     bytes.Buffer
	seen    []Seen
	handler http.HandlerFunc
}

// Seen is one request as the upstream received it.
type Seen struct {
	Method     string
	RequestURI string // the raw request target
	Host       string
	Header     http.Header
	Body       []byte
}

// rawKept is how much of what reaches the upstream Received keeps: the
// bulk of a large body (the memory test sends 10 MiB) is not needed.
const rawKept = 64 << 20

// NewUpstream starts an upstream that stops when the test ends.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Addr: ln.Addr().String()}
	u.Origin = "http://" + u.Addr
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(&countingListener{Listener: ln, u: u})
	t.Cleanup(func() { srv.Close() })
	return u
}

// Answer sets how the upstream answers from now on; nil restores the
// default 200 {"ok":true}.
func (u *Upstream) Answer(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.Reqs.Add(1)
	var body []byte
	if r.Header.Get("X-Test-Discard") == "" {
		body, _ = io.ReadAll(r.Body)
	} else {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Received", strconv.FormatInt(n, 10))
	}
	u.mu.Lock()
	u.seen = append(u.seen, Seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
	h := u.handler
	u.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
		return
	}
	h(w, r)
}

// Last is the last request the upstream received; the test fails if there
// was none.
func (u *Upstream) Last(t testing.TB) Seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.seen[len(u.seen)-1]
}

// Received is every byte that reached the upstream (up to 64 MiB).
func (u *Upstream) Received() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return bytes.Clone(u.raw.Bytes())
}

type countingListener struct {
	net.Listener
	u *Upstream
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.u.Conns.Add(1)
		c = &teeConn{Conn: c, u: l.u}
	}
	return c, err
}

// teeConn keeps what the upstream reads.
type teeConn struct {
	net.Conn
	u *Upstream
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.u.mu.Lock()
	if c.u.raw.Len() < rawKept {
		c.u.raw.Write(p[:n])
	}
	c.u.mu.Unlock()
	return n, err
}
