package main

import (
	"bytes"
	"math"
	"regexp"
	"testing"
	"time"

	"handoff/internal/metrics"
)

// Every query of docs/grafana/handoff.json is one this tool can draw, and
// every series it names is one handoff serves: a renamed metric or label
// fails here, not in an author's empty panel.
func TestDashboardQueriesMatchServedSeries(t *testing.T) {
	d, err := loadDashboard("../../grafana/handoff.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	reg.MaxPending(10000)
	reg.Pending("", "tokens", func() int { return 3 })
	app := reg.App("")
	app.API("api.example.com").Answered(200)
	var buf bytes.Buffer
	reg.WritePrometheus(&buf)
	served := buf.String()

	name := regexp.MustCompile(`\b(handoff_[a-z_]+)\{`)
	label := regexp.MustCompile(`\b([a-z_]+)=~?"`)
	byLabels := regexp.MustCompile(`by \(([^)]*)\)`)
	queries := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queries++
			if _, err := compile(tg.Expr); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				if !regexp.MustCompile(`(?m)^` + m[1] + `[{ ]`).MatchString(served) {
					t.Errorf("panel %q queries %s, which handoff does not serve", p.Title, m[1])
				}
			}
			for _, m := range label.FindAllStringSubmatch(tg.Expr, -1) {
				// app is Fly's label, added when it scrapes.
				if m[1] != "app" && !regexp.MustCompile(`[{,]`+m[1]+`="`).MatchString(served) {
					t.Errorf("panel %q matches on label %s, which handoff does not serve", p.Title, m[1])
				}
			}
			for _, m := range byLabels.FindAllStringSubmatch(tg.Expr, -1) {
				for _, l := range regexp.MustCompile(`[a-z_]+`).FindAllString(m[1], -1) {
					if !regexp.MustCompile(`[{,]` + l + `="`).MatchString(served) {
						t.Errorf("panel %q groups by %s, which handoff does not serve", p.Title, l)
					}
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d queries in the dashboard", queries)
	}
}

// The evaluator computes what Prometheus would on simple data.
func TestEvaluator(t *testing.T) {
	st := &store{series: map[string]*seriesData{}}
	t0 := time.Unix(1000, 0)
	st.add(t0, "c{k=\"a\"} 0\nc{k=\"b\"} 0\nh_bucket{le=\"0.1\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n")
	st.add(t0.Add(10*time.Second), "c{k=\"a\"} 20\nc{k=\"b\"} 10\nh_bucket{le=\"0.1\"} 50\nh_bucket{le=\"1\"} 100\nh_bucket{le=\"+Inf\"} 100\n")
	e := env{st: st, t: t0.Add(10 * time.Second), start: t0, rateRange: 10 * time.Second}
	for expr, want := range map[string]float64{
		`sum(rate(c{k=~"$x"}[$__rate_interval])) * 60`:                   180,
		`sum(increase(c{k="a"}[$__range])) / sum(increase(c[$__range]))`: 20.0 / 30,
		`max(c)`: 20,
		`histogram_quantile(0.5, sum by (le) (rate(h_bucket[$__rate_interval])))`:  0.1,
		`histogram_quantile(0.75, sum by (le) (rate(h_bucket[$__rate_interval])))`: 0.55,
	} {
		n, err := compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		v, err := n(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.vec) != 1 {
			t.Fatalf("%s: %d elements", expr, len(v.vec))
		}
		for _, el := range v.vec {
			if math.Abs(el.v-want) > 1e-9 {
				t.Errorf("%s = %v, want %v", expr, el.v, want)
			}
		}
	}
}
