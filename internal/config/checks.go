package config

import (
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"handoff/flow"
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

// endpoint is httpURL for a provider endpoint, which may hold placeholders
// that flow fills: the preset's template variables ({shop}) in any
// endpoint, and {client_id} in the revocation endpoint alone (GitHub's
// /applications/{client_id}/grant); {tenant} is filled before (tenantOf).
// The URL is checked with each filled in. Any other brace would reach the
// provider as written (%7Bclient_id%7D), so it is a problem, named when it
// has a placeholder's shape: a typo such as {tennant}, a {shop} of no
// preset, or {client_id} outside REVOKE_ENDPOINT.
func (p *problems) endpoint(name, v string, vars []flow.TemplateVar, clientID, required bool) string {
	sample := v
	for _, tv := range vars {
		sample = strings.ReplaceAll(sample, "{"+tv.Name+"}", "x")
	}
	if clientID {
		sample = strings.ReplaceAll(sample, clientIDPlaceholder, "x")
	}
	if strings.ContainsAny(sample, "{}") {
		p.add(name, unfilled(sample, vars, clientID))
		return ""
	}
	if p.httpURL(name, sample, required) == "" {
		return ""
	}
	return strings.TrimSpace(v)
}

// clientIDPlaceholder is filled with CLIENT_ID in REVOKE_ENDPOINT only.
const clientIDPlaceholder = "{client_id}"

// placeholder is a {name} with the shape of a template variable's name:
// such a word is quoted in a problem, any other brace is not (the URL may
// hold a key).
var placeholder = regexp.MustCompile(`\{[a-z0-9_]{1,32}\}`)

// unfilled says what is wrong with an endpoint that still holds a brace
// once the placeholders that will be filled are.
func unfilled(sample string, vars []flow.TemplateVar, clientID bool) string {
	var fillable []string
	for _, tv := range vars {
		fillable = append(fillable, "{"+tv.Name+"}")
	}
	if clientID {
		fillable = append(fillable, clientIDPlaceholder)
	}
	what := "holds a { or } that nothing fills"
	if ph := placeholder.FindString(sample); ph != "" {
		what = ph + " is not filled in this endpoint"
		if ph == clientIDPlaceholder {
			what += " (only in REVOKE_ENDPOINT)"
		}
	}
	what += ", so it would reach the provider as written; "
	if len(fillable) == 0 {
		return what + "this endpoint may hold no placeholder"
	}
	return what + "this endpoint may hold only " + strings.Join(fillable, ", ")
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

// displayName checks a name shown on the pages (PLUGIN_NAME): one line of
// printable text, short enough for a title.
func (p *problems) displayName(name, v string) string {
	v = strings.TrimSpace(v)
	switch {
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		p.add(name, "must be one line of printable text")
		return ""
	case utf8.RuneCountInString(v) > 60:
		p.add(name, "must be at most 60 characters")
		return ""
	}
	return v
}

// size reads a byte count: a whole number, or one with a unit (KiB, MiB,
// GiB, or KB, MB, GB in powers of ten; B), as in API_MAX_BODY=10MiB.
func (p *problems) size(name, v string) int64 {
	v = strings.TrimSpace(v)
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	unit := map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}
	mult, ok := unit[strings.ToLower(strings.TrimSpace(v[i:]))]
	if err != nil || !ok || n <= 0 || n > (1<<62)/mult {
		p.add(name, "must be a positive size such as 10MiB, 512KiB or 1048576 (bytes)")
		return 0
	}
	return n * mult
}
