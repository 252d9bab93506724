package metrics

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Path is where the metrics listener serves, and where fly.toml's [metrics]
// points Fly's scraper.
const Path = "/metrics"

// Handler serves GET (and HEAD) Path in Prometheus text format; any other
// path is 404. It belongs on the METRICS_ADDR listener only: the series
// name each app and describe its traffic, which the public port never shows.
// It is a fasthttp handler because fasthttp's server is in the binary
// already; net/http's would add half a megabyte.
func (r *Registry) Handler(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != Path {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	r.WritePrometheus(ctx)
}

// Server is the metrics listener, apart from the public one so that nothing
// on the public port can reach it.
type Server struct {
	srv  *fasthttp.Server
	ln   net.Listener
	done chan error
}

// Serve listens on addr (host:port; ":9091" is every interface, as Fly's
// scraper comes over the private network) and serves r until Shutdown.
func Serve(addr string, r *Registry) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv: &fasthttp.Server{
			Handler:            r.Handler,
			Name:               "handoff",
			ReadTimeout:        10 * time.Second,
			WriteTimeout:       10 * time.Second,
			IdleTimeout:        75 * time.Second,
			ReadBufferSize:     8 << 10,
			MaxRequestBodySize: 1 << 10,
			Concurrency:        16, // a scraper, a person with curl
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting and waits for scrapes in flight, within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}
