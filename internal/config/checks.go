package config

import (
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// problems collects "NAME: what is wrong" lines. Values are never quoted:
// any of them may be a secret.
type problems []string

func (p *problems) add(name, msg string) { *p = append(*p, name+": "+msg) }

func (p *problems) required(name, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		p.add(name, "missing")
	}
	return v
}

func (p *problems) httpURL(name, v string, required bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			p.add(name, "missing")
		}
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		p.add(name, "not an absolute http(s) URL")
		return ""
	}
	return v
}

func (p *problems) duration(name, v string) time.Duration {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		// A bare number is seconds, as in most hosting dashboards.
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d <= 0 {
		p.add(name, "must be a positive duration such as 30s or 10m")
	}
	return d
}

func (p *problems) positive(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		p.add(name, "must be a positive whole number")
	}
	return n
}

// port reads a port number; 0 asks the system for a free one (tests run
// many servers at once and read the port back from the log).
func (p *problems) port(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 65535 {
		p.add(name, "must be a port number from 1 to 65535, or 0 for any free port")
	}
	return n
}

func (p *problems) onOff(name, v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "1", "yes":
		return true
	case "off", "false", "0", "no":
		return false
	}
	p.add(name, "must be on or off (true or false)")
	return false
}

func (p *problems) logLevel(name, v string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
		p.add(name, "must be debug, info, warn or error")
	}
	return l
}
