package main

import (
	"fmt"
	"regexp"
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
