package config

import (
	"net"
	"strconv"
	"strings"
)

// metricsAddr checks METRICS_ADDR: empty (no metrics listener) or host:port
// with a port of its own. On the public port the metrics would be public,
// which docs/protocol.md#metrics rules out.
func (p *problems) metricsAddr(name, v string, publicPort int) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil || perr != nil || n < 1 || n > 65535:
		p.add(name, "must be host:port or :port, such as :9091")
	case n == publicPort:
		p.add(name, "must not be the public PORT: metrics are for Fly's scraper, not the internet")
	}
	return v
}
