package web

import (
	"net/url"
	"strings"
)

// CORS decides the Access-Control-Allow-Origin of one app (docs/protocol.md#cors). The
// rules are the compatible ones, tightened (docs/protocol.md#cors): the plugin's own origin, its versioned
// origins, loopback for development, and exact extra origins.
type CORS struct {
	// PluginID is the Framer plugin's id; empty admits any plugin origin
	// under ParentDomain (with a warning at start-up).
	PluginID     string
	ParentDomain string
	// Extra are exact origins, in canonical form (CanonicalOrigin).
	Extra []string
	// LoopbackOnly admits loopback origins and Extra only, and sends no
	// Access-Control-Allow-Origin otherwise: the rules outside every app
	// when there are several, where no app's plugin is favoured.
	LoopbackOnly bool
}

// AllowOrigin returns the Access-Control-Allow-Origin value for a request
// from origin, or "" to send none.
func (c CORS) AllowOrigin(origin string) string {
	if origin != "" {
		if isLoopbackOrigin(origin) || !c.LoopbackOnly && c.isPluginOrigin(origin) {
			return origin
		}
		for _, o := range c.Extra {
			if o == origin {
				return origin
			}
		}
	}
	if c.PluginID == "" || c.LoopbackOnly {
		return ""
	}
	return "https://" + c.PluginID + "." + c.ParentDomain
}

// isPluginOrigin admits https://<id>.<parent> and https://<id>-<version>.<parent>,
// where the version is one DNS label. A prefix match would also let
// https://<id>evil.<parent> through; this does not.
func (c CORS) isPluginOrigin(origin string) bool {
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok {
		return false
	}
	label, ok := strings.CutSuffix(host, "."+c.ParentDomain)
	if !ok || !IsLabel(label) {
		return false
	}
	if c.PluginID == "" {
		return true
	}
	if label == c.PluginID {
		return true
	}
	version, ok := strings.CutPrefix(label, c.PluginID+"-")
	return ok && version != "" && version[0] != '-'
}

// isLoopbackOrigin admits http(s)://localhost, 127.0.0.1 and [::1] with any
// port, and nothing else (not localhost.example.com, not user@localhost).
func isLoopbackOrigin(origin string) bool {
	rest, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(origin, "https://"); !ok {
			return false
		}
	}
	var host string
	switch {
	case strings.HasPrefix(rest, "localhost"):
		host = "localhost"
	case strings.HasPrefix(rest, "127.0.0.1"):
		host = "127.0.0.1"
	case strings.HasPrefix(rest, "[::1]"):
		host = "[::1]"
	default:
		return false
	}
	port := rest[len(host):]
	if port == "" {
		return true
	}
	if port[0] != ':' || len(port) < 2 || len(port) > 6 {
		return false
	}
	n := 0
	for i := 1; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
		n = n*10 + int(port[i]-'0')
	}
	return n > 0 && n <= 65535
}

// IsLabel is one DNS label: letters, digits and inner hyphens, at most 63.
func IsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Describe lists the origins the rules admit, for the start-up log; it is
// written beside AllowOrigin so that the two cannot drift apart.
func (c CORS) Describe() string {
	origins := []string{"http(s)://localhost, 127.0.0.1, [::1]"}
	switch {
	case c.LoopbackOnly:
	case c.PluginID != "":
		origins = append(origins, "https://"+c.PluginID+"."+c.ParentDomain, "https://"+c.PluginID+"-*."+c.ParentDomain)
	default:
		origins = append(origins, "https://*."+c.ParentDomain)
	}
	return strings.Join(append(origins, c.Extra...), " ")
}

// CanonicalOrigin checks an origin (scheme://host[:port]) and returns it in
// the form browsers send: lowercase, without a default port.
func CanonicalOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, true
}

// IsHost is a DNS name of labels (no trailing dot).
func IsHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !IsLabel(l) {
			return false
		}
	}
	return true
}
