package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The samples this tool scraped from handoff's /metrics, by series.

type labels map[string]string

// key identifies a label set: its pairs in the order of their names.
func (l labels) key() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
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
