package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The dashboard as Grafana stores it: only what this tool draws.
type dashboard struct {
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string                   `json:"type"`
	Title   string                   `json:"title"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit  string `json:"unit"`
			Color struct {
				FixedColor string `json:"fixedColor"`
			} `json:"color"`
			Custom struct {
				Stacking struct {
					Mode string `json:"mode"`
				} `json:"stacking"`
				ScaleDistribution struct {
					Type string `json:"type"`
				} `json:"scaleDistribution"`
			} `json:"custom"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

func loadDashboard(path string) (*dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	return &d, json.Unmarshal(b, &d)
}

// Grafana's dark theme and classic palette, near enough for a picture.
var (
	palette = []string{"#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0", "#508642", "#CCA300"}
	named   = map[string]string{"blue": "#5794F2", "green": "#73BF69", "orange": "#FF9830", "red": "#F2495C", "text": "#D8D9DA"}
)

const (
	pageWidth = 1600
	rowHeight = 30
	gap       = 8
)

type line struct {
	name   string
	pts    []float64 // one per time, NaN where absent
	color  string
	dashed bool
	stack  bool
}

var legendVar = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func legend(format string, ls labels) string {
	return legendVar.ReplaceAllStringFunc(format, func(m string) string {
		name := legendVar.FindStringSubmatch(m)[1]
		if v := ls[name]; v != "" {
			return v
		}
		return `""`
	})
}

// evalPanel runs a panel's queries at each time and returns its lines, in
// a stable order.
func evalPanel(p panel, st *store, times []time.Time, start time.Time, rateRange time.Duration) ([]line, error) {
	var lines []line
	for _, tg := range p.Targets {
		n, err := compile(tg.Expr)
		if err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.Title, err)
		}
		byName := map[string]*line{}
		var order []string
		for i, t := range times {
			v, err := n(env{st: st, t: t, start: start, rateRange: rateRange})
			if err != nil {
				return nil, fmt.Errorf("panel %q: %w", p.Title, err)
			}
			if v.vec == nil {
				v.vec = map[string]elem{"": {labels{}, v.scalar}}
			}
			for _, el := range v.vec {
				name := legend(tg.LegendFormat, el.labels)
				l := byName[name]
				if l == nil {
					l = &line{name: name, pts: make([]float64, len(times))}
					for j := range l.pts {
						l.pts[j] = math.NaN()
					}
					byName[name] = l
					order = append(order, name)
				}
				l.pts[i] = el.v
			}
		}
		sort.Strings(order)
		for _, name := range order {
			lines = append(lines, *byName[name])
		}
	}
	stacked := p.FieldConfig.Defaults.Custom.Stacking.Mode == "normal"
	for i := range lines {
		lines[i].color = palette[i%len(palette)]
		lines[i].stack = stacked
		for _, o := range p.FieldConfig.Overrides {
			if o.Matcher.ID != "byName" || o.Matcher.Options != lines[i].name {
				continue
			}
			for _, prop := range o.Properties {
				var v map[string]any
				json.Unmarshal(prop.Value, &v)
				switch prop.ID {
				case "color":
					if c, ok := named[fmt.Sprint(v["fixedColor"])]; ok {
						lines[i].color = c
					}
				case "custom.lineStyle":
					lines[i].dashed = v["fill"] == "dash"
				case "custom.stacking":
					lines[i].stack = v["mode"] == "normal"
				}
			}
		}
	}
	return lines, nil
}

func format(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case unit == "s" && v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	case unit == "percentunit":
		return fmt.Sprintf("%.1f%%", v*100)
	case v >= 10000:
		return fmt.Sprintf("%.1fK", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func last(pts []float64) float64 {
	for i := len(pts) - 1; i >= 0; i-- {
		if !math.IsNaN(pts[i]) {
			return pts[i]
		}
	}
	return math.NaN()
}

// renderHTML lays the panels out on Grafana's 24-column grid.
func renderHTML(d *dashboard, st *store, times []time.Time, start time.Time, rateRange time.Duration, note string) (string, int, error) {
	col := float64(pageWidth-gap) / 24
	bottom := 0
	var b strings.Builder
	for _, p := range d.Panels {
		x := int(float64(p.GridPos.X)*col) + gap
		y := p.GridPos.Y*rowHeight + 56
		w := int(float64(p.GridPos.W)*col) - gap
		h := p.GridPos.H*rowHeight - gap
		bottom = max(bottom, y+h)
		if p.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="left:%dpx;top:%dpx;width:%dpx">%s</div>`, x, y, w, html.EscapeString(p.Title))
			continue
		}
		lines, err := evalPanel(p, st, times, start, rateRange)
		if err != nil {
			return "", 0, err
		}
		fmt.Fprintf(&b, `<div class="panel" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx"><div class="title">%s</div>`,
			x, y, w, h, html.EscapeString(p.Title))
		unit := p.FieldConfig.Defaults.Unit
		switch p.Type {
		case "stat":
			c := named[p.FieldConfig.Defaults.Color.FixedColor]
			v := math.NaN()
			if len(lines) > 0 {
				v = last(lines[0].pts)
			}
			fmt.Fprintf(&b, `<div class="stat" style="color:%s">%s</div>`, c, format(v, unit))
		case "bargauge":
			b.WriteString(bars(lines, w, h-28, unit))
		default:
			b.WriteString(chart(lines, times, w, h-28, unit, p.FieldConfig.Defaults.Custom.ScaleDistribution.Type == "log"))
		}
		b.WriteString(`</div>`)
	}
	page := fmt.Sprintf(`<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;font:13px Inter,Helvetica,Arial,sans-serif;color:#ccccdc}
.top{position:absolute;left:%dpx;top:12px;font-size:18px;color:#d8d9da}
.top span{font-size:12px;color:#8e8e8e;margin-left:16px}
.row{position:absolute;font-size:15px;font-weight:500;color:#d8d9da;padding-top:6px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;overflow:hidden}
.title{font-size:13px;font-weight:500;padding:6px 8px;color:#d8d9da}
.stat{font-size:44px;font-weight:500;text-align:center;margin-top:6px}
svg text{fill:#9fa7b3;font-size:11px}
</style></head><body><div class="top">%s<span>%s</span></div>%s</body></html>`,
		gap, html.EscapeString(d.Title), html.EscapeString(note), b.String())
	return page, bottom + gap, nil
}

func chart(lines []line, times []time.Time, w, h int, unit string, logScale bool) string {
	const left, right, top, legendH = 56, 10, 6, 40
	pw, ph := float64(w-left-right), float64(h-top-legendH-18)
	// Stack the stacked lines, in order.
	base := make([]float64, len(times))
	drawn := make([]line, len(lines))
	lows := make([][]float64, len(lines))
	for i, l := range lines {
		drawn[i] = l
		if !l.stack {
			continue
		}
		lows[i] = append([]float64(nil), base...)
		pts := make([]float64, len(l.pts))
		for j, v := range l.pts {
			if math.IsNaN(v) {
				v = 0
			}
			base[j] += v
			pts[j] = base[j]
		}
		drawn[i].pts = pts
	}
	hi := 0.0
	for _, l := range drawn {
		for _, v := range l.pts {
			if !math.IsNaN(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	lo := 0.0
	if logScale {
		lo, hi = 0, math.Ceil(math.Log10(math.Max(hi, 10)))
	} else if hi == 0 {
		hi = 1
	} else {
		hi *= 1.1
	}
	yOf := func(v float64) float64 {
		if logScale {
			v = math.Log10(math.Max(v, 1))
		}
		return float64(top) + ph - (v-lo)/(hi-lo)*ph
	}
	xOf := func(i int) float64 { return float64(left) + float64(i)/float64(max(len(times)-1, 1))*pw }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d">`, w, h)
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*float64(k)/4
		label := v
		if logScale {
			label = math.Pow(10, v)
		}
		y := yOf(label)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#2c3235"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			left, w-right, y, y, left-6, y+4, format(label, unit))
	}
	for k := 0; k < 5; k++ {
		i, anchor := k*(len(times)-1)/4, "middle"
		if k == 4 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, xOf(i), float64(top)+ph+14, anchor, times[i].Format("15:04:05"))
	}
	if len(lines) == 0 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" style="font-size:15px">No data</text>`, float64(left)+pw/2, float64(top)+ph/2)
	}
	for i, l := range drawn {
		var path strings.Builder
		pen := false
		for j, v := range l.pts {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd, pen = "M", true
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, xOf(j), yOf(v))
		}
		if l.stack && path.Len() > 0 {
			var area strings.Builder
			area.WriteString(path.String())
			for j := len(l.pts) - 1; j >= 0; j-- {
				if !math.IsNaN(l.pts[j]) {
					fmt.Fprintf(&area, "L%.1f %.1f ", xOf(j), yOf(lows[i][j]))
				}
			}
			fmt.Fprintf(&b, `<path d="%sZ" fill="%s" fill-opacity="0.25" stroke="none"/>`, area.String(), l.color)
		}
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="8 6"`
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, path.String(), l.color, dash)
	}
	// The legend leaves out series that stayed at zero (Grafana lists
	// them too), so the ones with data fit.
	x, y := float64(left), float64(h-legendH+12)
	for _, l := range lines {
		if !nonzero(l.pts) {
			continue
		}
		label := l.name
		width := 26 + 6.5*float64(len(label))
		if x+width > float64(w) {
			x, y = float64(left), y+16
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="14" height="4" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`,
			x, y-4, l.color, x+18, y, html.EscapeString(label))
		x += width + 10
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func bars(lines []line, w, h int, unit string) string {
	hi := 0.0
	for _, l := range lines {
		hi = math.Max(hi, last(l.pts))
	}
	if hi == 0 {
		hi = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d">`, w, h)
	rowH := math.Min(28, float64(h-8)/float64(max(len(lines), 1)))
	for i, l := range lines {
		v := last(l.pts)
		y := 4 + float64(i)*rowH
		bw := (float64(w) - 190) * math.Max(v, 0) / hi
		fmt.Fprintf(&b, `<text x="8" y="%.1f">%s</text><rect x="120" y="%.1f" width="%.1f" height="%.1f" fill="#23272d"/>`+
			`<rect x="120" y="%.1f" width="%.1f" height="%.1f" fill="%s"/><text x="%.1f" y="%.1f" style="fill:%s;font-size:13px">%s</text>`,
			y+rowH/2+4, html.EscapeString(l.name), y+3, float64(w)-190, rowH-6,
			y+3, bw, rowH-6, l.color, float64(w)-62, y+rowH/2+4, l.color, format(v, unit))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func nonzero(pts []float64) bool {
	for _, v := range pts {
		if !math.IsNaN(v) && v != 0 {
			return true
		}
	}
	return false
}
