package web_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a fake API on a loopback port. It counts the connections it
// accepts and keeps every byte it receives, so a test can prove that a
// refused request made no connection and that no secret ever reached it.
type upstream struct {
	addr   string // 127.0.0.1:port
	origin string // http://127.0.0.1:port
	conns  atomic.Int64
	reqs   atomic.Int64

	mu      sync.Mutex
	raw     bytes.Buffer
	seen    []seenRequest
	handler http.HandlerFunc
}

// seenRequest is one request as the upstream received it.
type seenRequest struct {
	method     string
	requestURI string // the raw request target
	host       string
	header     http.Header
	body       []byte
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String()}
	u.origin = "http://" + u.addr
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(&countingListener{Listener: ln, u: u})
	t.Cleanup(func() { srv.Close() })
	return u
}

// answer sets how the upstream answers; without one it answers 200
// {"ok":true}.
func (u *upstream) answer(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.reqs.Add(1)
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
	h := u.handler
	u.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
		return
	}
	h(w, r)
}

// last is the last request the upstream received.
func (u *upstream) last(t *testing.T) seenRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.seen[len(u.seen)-1]
}

// received is every byte that reached the upstream.
func (u *upstream) received() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return bytes.Clone(u.raw.Bytes())
}

type countingListener struct {
	net.Listener
	u *upstream
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.u.conns.Add(1)
		c = &teeConn{Conn: c, u: l.u}
	}
	return c, err
}

type teeConn struct {
	net.Conn
	u *upstream
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.u.mu.Lock()
	c.u.raw.Write(p[:n])
	c.u.mu.Unlock()
	return n, err
}
