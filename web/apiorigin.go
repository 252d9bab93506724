package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// APIOrigin checks an API_ORIGINS entry (docs/protocol.md#api-passthrough)
// and returns it as CanonicalOrigin writes it. An https origin names its
// host by DNS name (no IP literal, no trailing dot): API hosts are public
// services, and the addresses a name resolves to are checked when dialled
// (publicAddr). http:// is for a loopback host only (localhost, 127.0.0.0/8,
// [::1]), so that tests can call a local fake upstream; such an origin, like
// https://localhost, dials loopback addresses only. The error never quotes
// the value.
func APIOrigin(s string) (string, error) {
	canon, ok := CanonicalOrigin(strings.TrimSpace(s))
	if !ok {
		return "", errors.New("not an origin such as https://api.example.com (scheme, host and port only)")
	}
	https := strings.HasPrefix(canon, "https://")
	host, port := splitHostPort(canon[strings.Index(canon, "://")+3:])
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("the port must be a number from 1 to 65535")
		}
	}
	switch {
	case isLoopbackHost(host):
		return canon, nil
	case !https:
		return "", errors.New("http:// is for a loopback host only (localhost, 127.0.0.0/8, [::1]); use https://")
	case isIPLiteral(host):
		return "", errors.New("an https origin names its host, not an IP address")
	case !IsHost(host):
		return "", errors.New("not a host name")
	}
	return canon, nil
}

// splitHostPort splits host[:port], where an IPv6 host is in brackets; the
// host comes back without them.
func splitHostPort(s string) (host, port string) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return s, ""
		}
		host, rest := s[1:end], s[end+1:]
		port, _ = strings.CutPrefix(rest, ":")
		return host, port
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// isLoopbackHost: localhost, or an address in 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// lookupIP resolves an upstream's host name (a variable for the tests,
// which cannot make a name resolve to what they need).
var lookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// errNoAllowedAddress: the upstream's name resolved only to addresses
// handoff does not call.
var errNoAllowedAddress = errors.New("the host resolves to no address handoff calls (a loopback, private, link-local or reserved address for a public origin)")

// dial connects to the first address of the upstream's host that its kind
// allows: a loopback origin dials loopback addresses, any other origin
// public addresses only. A listed name that resolves into the machine or
// its private network (a metadata service, Fly's 6PN, a rebinding DNS
// answer) is never dialled, whatever DNS says.
func (u *upstream) dial(addr string, timeout time.Duration) (net.Conn, error) {
	host, port := splitHostPort(addr)
	if timeout <= 0 {
		timeout = DefaultAPITimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = lookupIP(ctx, host); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	var d net.Dialer
	err := errNoAllowedAddress
	for _, ip := range ips {
		ip = ip.Unmap()
		if u.loopback && !ip.IsLoopback() || !u.loopback && !publicAddr(ip) {
			continue
		}
		var c net.Conn
		if c, err = d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port)); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// nonPublic are ranges that IsGlobalUnicast admits but no public API lives
// in: shared address space (carrier NAT), IETF protocol assignments,
// documentation, benchmarking, reserved, and IPv6 documentation and
// Teredo.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("fec0::/10"),
}

// embedsIPv4 are IPv6 ranges that carry an IPv4 address (NAT64, 6to4):
// the IPv4 address decides.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether ip may be dialled for a public API origin: a
// global unicast address outside private (RFC 1918, fc00::/7, which holds
// Fly's fdaa::/16), loopback, link-local (169.254.169.254) and the ranges of
// nonPublic.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
