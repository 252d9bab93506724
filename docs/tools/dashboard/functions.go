package main

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// What the parsed queries compute: rate and increase, sum and max,
// histogram_quantile, and * or /.

// window is how far back a range ([5m], $__rate_interval, $__range) looks.
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
