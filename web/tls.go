package web

import (
	"crypto/tls"
	"fmt"
	"net"
)

// TLSListener wraps ln to serve HTTPS with the certificate in certFile and
// keyFile (PEM), for running handoff without a proxy in front, as a local
// setup made with mkcert does (docs/protocol.md#configuration).
func TLSListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // fasthttp speaks HTTP/1.1 only
	}), nil
}
