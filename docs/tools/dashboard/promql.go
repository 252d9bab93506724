package main

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A small evaluator for the query shapes docs/grafana/handoff.json uses, over
// the samples this tool scraped: sum/max [by (...)], rate, increase,
// histogram_quantile, selectors with matchers, and * or / with a number or
// another vector. Grafana's variables ($app, $handoff_app) match everything:
// the local server is one Fly app. A query of another shape is an error, so
// the dashboard cannot drift from what the screenshot shows.

type labels map[string]string

func (l labels) key() string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%s=%q,", k, l[k])
	}
	return b.String()
}

type sample struct {
	t time.Time
	v float64
}

type seriesData struct {
	name   string
	labels labels
	pts    []sample
}

// store holds every scraped series.
type store struct{ series map[string]*seriesData }

func (s *store) add(t time.Time, text string) error {
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return fmt.Errorf("bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return err
		}
		id := line[:i]
		sd := s.series[id]
		if sd == nil {
			name, ls, err := parseSeries(id)
			if err != nil {
				return err
			}
			sd = &seriesData{name: name, labels: ls}
			s.series[id] = sd
		}
		sd.pts = append(sd.pts, sample{t, v})
	}
	return nil
}

func parseSeries(id string) (string, labels, error) {
	ls := labels{}
	name, rest, ok := strings.Cut(id, "{")
	if !ok {
		return id, ls, nil
	}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, r, ok := strings.Cut(rest, `="`)
		if !ok {
			return "", nil, fmt.Errorf("bad labels in %q", id)
		}
		end := strings.Index(r, `"`)
		if end < 0 {
			return "", nil, fmt.Errorf("bad labels in %q", id)
		}
		ls[k] = r[:end]
		rest = strings.TrimPrefix(r[end+1:], ",")
	}
	return name, ls, nil
}

// at is the last sample at or before t.
func (sd *seriesData) at(t time.Time) (sample, bool) {
	i := sort.Search(len(sd.pts), func(i int) bool { return sd.pts[i].t.After(t) })
	if i == 0 {
		return sample{}, false
	}
	return sd.pts[i-1], true
}

// env is one evaluation: the time, the dashboard's time range start, and
// what $__rate_interval stands for.
type env struct {
	st        *store
	t, start  time.Time
	rateRange time.Duration
}

type elem struct {
	labels labels
	v      float64
}

// value is a scalar (vec == nil) or an instant vector.
type value struct {
	scalar float64
	vec    map[string]elem
}

type node func(e env) (value, error)

type parser struct {
	toks []string
	pos  int
}

var tokenRE = regexp.MustCompile(`\s*(=~|!=|[(){}\[\],*/=]|"(?:[^"\\]|\\.)*"|[A-Za-z_$][A-Za-z0-9_:$.]*|[0-9]+(?:\.[0-9]+)?)`)

func compile(expr string) (node, error) {
	var toks []string
	rest := expr
	for strings.TrimSpace(rest) != "" {
		m := tokenRE.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("cannot read %q", rest)
		}
		toks = append(toks, rest[m[2]:m[3]])
		rest = rest[m[1]:]
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err == nil && p.pos != len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	return n, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(); p.pos++; return t }

func (p *parser) want(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (p *parser) expr() (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "*" || p.peek() == "/" {
		op := p.next()
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = binary(op, left, right)
	}
	return left, nil
}

func (p *parser) unary() (node, error) {
	t := p.next()
	if t == "(" {
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		return n, p.want(")")
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return func(env) (value, error) { return value{scalar: f}, nil }, nil
	}
	if t == "" || !unicode.IsLetter(rune(t[0])) && t[0] != '_' {
		return nil, fmt.Errorf("unexpected %q", t)
	}
	switch t {
	case "sum", "max":
		var by []string
		if p.peek() == "by" {
			p.next()
			if err := p.want("("); err != nil {
				return nil, err
			}
			for p.peek() != ")" {
				if l := p.next(); l != "," {
					by = append(by, l)
				}
			}
			p.next()
		}
		if err := p.want("("); err != nil {
			return nil, err
		}
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		return aggregate(t, by, inner), p.want(")")
	case "rate", "increase":
		if err := p.want("("); err != nil {
			return nil, err
		}
		sel, rng, err := p.selector(true)
		if err != nil {
			return nil, err
		}
		return counterChange(t == "rate", sel, rng), p.want(")")
	case "histogram_quantile":
		if err := p.want("("); err != nil {
			return nil, err
		}
		q, err := strconv.ParseFloat(p.next(), 64)
		if err != nil {
			return nil, err
		}
		if err := p.want(","); err != nil {
			return nil, err
		}
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		return quantile(q, inner), p.want(")")
	}
	p.pos--
	sel, _, err := p.selector(false)
	if err != nil {
		return nil, err
	}
	return func(e env) (value, error) {
		out := map[string]elem{}
		for _, sd := range e.st.series {
			if sel(sd) {
				if s, ok := sd.at(e.t); ok {
					out[sd.labels.key()] = elem{sd.labels, s.v}
				}
			}
		}
		return value{vec: out}, nil
	}, nil
}

// selector reads name{matchers} and, with withRange, [range].
func (p *parser) selector(withRange bool) (func(*seriesData) bool, string, error) {
	name := p.next()
	type matcher struct {
		label, op, val string
		re             *regexp.Regexp
	}
	var ms []matcher
	if p.peek() == "{" {
		p.next()
		for p.peek() != "}" {
			if p.peek() == "," {
				p.next()
				continue
			}
			l, op, v := p.next(), p.next(), p.next()
			uq, err := strconv.Unquote(v)
			if err != nil {
				return nil, "", fmt.Errorf("matcher %s%s%s: %v", l, op, v, err)
			}
			if strings.Contains(uq, "$") { // a Grafana variable matches all here
				continue
			}
			m := matcher{label: l, op: op, val: uq}
			if op == "=~" {
				if m.re, err = regexp.Compile("^(?:" + uq + ")$"); err != nil {
					return nil, "", err
				}
			}
			ms = append(ms, m)
		}
		p.next()
	}
	rng := ""
	if withRange {
		if err := p.want("["); err != nil {
			return nil, "", err
		}
		rng = p.next()
		if err := p.want("]"); err != nil {
			return nil, "", err
		}
	}
	match := func(sd *seriesData) bool {
		if sd.name != name {
			return false
		}
		for _, m := range ms {
			v := sd.labels[m.label]
			switch m.op {
			case "=":
				if v != m.val {
					return false
				}
			case "!=":
				if v == m.val {
					return false
				}
			case "=~":
				if !m.re.MatchString(v) {
					return false
				}
			}
		}
		return true
	}
	return match, rng, nil
}

func (e env) window(rng string) (time.Duration, error) {
	switch rng {
	case "$__rate_interval":
		return e.rateRange, nil
	case "$__range":
		return e.t.Sub(e.start), nil
	}
	return time.ParseDuration(rng)
}

// counterChange is rate() or increase() without Prometheus's extrapolation:
// the change between the samples that bound the window.
func counterChange(rate bool, sel func(*seriesData) bool, rng string) node {
	return func(e env) (value, error) {
		w, err := e.window(rng)
		if err != nil {
			return value{}, err
		}
		out := map[string]elem{}
		for _, sd := range e.st.series {
			if !sel(sd) {
				continue
			}
			end, ok := sd.at(e.t)
			if !ok {
				continue
			}
			begin, ok := sd.at(e.t.Add(-w))
			if !ok {
				begin = sd.pts[0]
			}
			d := end.v - begin.v
			if rate {
				secs := end.t.Sub(begin.t).Seconds()
				if secs <= 0 {
					continue
				}
				d /= secs
			}
			out[sd.labels.key()] = elem{sd.labels, d}
		}
		return value{vec: out}, nil
	}
}

func aggregate(op string, by []string, inner node) node {
	return func(e env) (value, error) {
		v, err := inner(e)
		if err != nil || v.vec == nil {
			return v, err
		}
		out := map[string]elem{}
		for _, el := range v.vec {
			ls := labels{}
			for _, l := range by {
				ls[l] = el.labels[l]
			}
			k := ls.key()
			cur, ok := out[k]
			switch {
			case !ok:
				out[k] = elem{ls, el.v}
			case op == "sum":
				out[k] = elem{ls, cur.v + el.v}
			case el.v > cur.v:
				out[k] = elem{ls, el.v}
			}
		}
		return value{vec: out}, nil
	}
}

// quantile is histogram_quantile: linear within the bucket that holds the
// rank, as Prometheus does.
func quantile(q float64, inner node) node {
	return func(e env) (value, error) {
		v, err := inner(e)
		if err != nil {
			return v, err
		}
		type bucket struct{ le, n float64 }
		groups := map[string][]bucket{}
		lab := map[string]labels{}
		for _, el := range v.vec {
			ls := labels{}
			for k, x := range el.labels {
				if k != "le" {
					ls[k] = x
				}
			}
			le, err := strconv.ParseFloat(el.labels["le"], 64)
			if err != nil {
				le = math.Inf(1)
			}
			k := ls.key()
			groups[k] = append(groups[k], bucket{le, el.v})
			lab[k] = ls
		}
		out := map[string]elem{}
		for k, bs := range groups {
			sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
			total := bs[len(bs)-1].n
			if total <= 0 {
				continue
			}
			rank := q * total
			lower, prev := 0.0, 0.0
			for _, b := range bs {
				if b.n >= rank {
					x := b.le
					if math.IsInf(b.le, 1) {
						x = lower
					} else if b.n > prev {
						x = lower + (b.le-lower)*(rank-prev)/(b.n-prev)
					}
					out[k] = elem{lab[k], x}
					break
				}
				lower, prev = b.le, b.n
			}
		}
		return value{vec: out}, nil
	}
}

func binary(op string, a, b node) node {
	apply := func(x, y float64) float64 {
		if op == "*" {
			return x * y
		}
		return x / y
	}
	return func(e env) (value, error) {
		va, err := a(e)
		if err != nil {
			return va, err
		}
		vb, err := b(e)
		if err != nil {
			return vb, err
		}
		out := map[string]elem{}
		switch {
		case va.vec == nil && vb.vec == nil:
			return value{scalar: apply(va.scalar, vb.scalar)}, nil
		case vb.vec == nil:
			for k, el := range va.vec {
				out[k] = elem{el.labels, apply(el.v, vb.scalar)}
			}
		case va.vec == nil:
			for k, el := range vb.vec {
				out[k] = elem{el.labels, apply(va.scalar, el.v)}
			}
		default:
			for k, el := range va.vec {
				if other, ok := vb.vec[k]; ok {
					out[k] = elem{el.labels, apply(el.v, other.v)}
				}
			}
		}
		return value{vec: out}, nil
	}
}
