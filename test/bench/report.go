package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

type scenarioResult struct {
	Scenario   string   `json:"scenario"`
	Unit       string   `json:"unit"`
	LogLevel   string   `json:"log_level,omitempty"`
	Saturation runStats `json:"saturation"`
	FixedRate  runStats `json:"fixed_rate"`
	Skipped    string   `json:"skipped,omitempty"`
}

type floodResult struct {
	Requests   int64   `json:"requests"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"per_sec"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
	RSSAfter   int64   `json:"rss_after_bytes"`
	ServerCPU  float64 `json:"server_cpu_cores"`
	HarnessCPU float64 `json:"harness_cpu_cores"`
	OtherCPU   float64 `json:"other_cpu_cores"`
}

type resources struct {
	BinaryBytes     int64        `json:"binary_bytes,omitempty"`
	ColdStarts      int          `json:"cold_starts,omitempty"`
	ColdStartMedian float64      `json:"cold_start_median_ms,omitempty"`
	ColdStartMin    float64      `json:"cold_start_min_ms,omitempty"`
	ColdStartMax    float64      `json:"cold_start_max_ms,omitempty"`
	IdleRSS         int64        `json:"idle_rss_bytes,omitempty"`
	Flood           *floodResult `json:"flood,omitempty"`
}

type report struct {
	Machine     machine              `json:"machine"`
	Command     string               `json:"command"`
	Target      string               `json:"target"`
	Duration    string               `json:"duration"`
	Connections int                  `json:"connections"`
	Rate        float64              `json:"fixed_rate"`
	Results     []scenarioResult     `json:"results"`
	Resources   resources            `json:"resources"`
	Passthrough []passthroughSummary `json:"passthrough,omitempty"`
	Notes       []string             `json:"notes"`
	Started     time.Time            `json:"started"`
}

// failures lists what -strict refuses: skipped scenarios and failed
// requests. Speed is never a failure.
func failures(r *report) []string {
	var out []string
	for _, x := range r.Results {
		switch {
		case x.Skipped != "":
			out = append(out, fmt.Sprintf("%s (%s): skipped: %s", x.Scenario, x.LogLevel, x.Skipped))
		case x.Saturation.Errors+x.FixedRate.Errors > 0:
			out = append(out, fmt.Sprintf("%s (%s): %d failed requests: %s", x.Scenario, x.LogLevel,
				x.Saturation.Errors+x.FixedRate.Errors, firstNonEmpty(x.Saturation.FirstError, x.FixedRate.FirstError)))
		case x.Saturation.Ops == 0 || x.FixedRate.Ops == 0:
			out = append(out, fmt.Sprintf("%s (%s): no request completed", x.Scenario, x.LogLevel))
		}
	}
	if f := r.Resources.Flood; f != nil && f.Errors > 0 {
		out = append(out, fmt.Sprintf("flood: %d failed requests: %s", f.Errors, f.FirstError))
	}
	return out
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

func printReport(out io.Writer, r *report) {
	fmt.Fprintf(out, "\nhandoff benchmark — %d CPU (%s), %s, %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.OS)
	fmt.Fprintf(out, "target: %s; %s per run; %d connections at saturation; fixed rate %.0f ops/s\n", r.Target, r.Duration, r.Connections, r.Rate)
	fmt.Fprintln(out, "the load generator and the fake provider share these cores with the server (CPU columns: cores used at saturation")
	fmt.Fprintln(out, "by the server, by the harness, and by other processes; latencies in ms; the @ columns are the open-loop fixed-rate run)")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.AlignRight)
	at := fmt.Sprintf("@%s", rateLabel(r.Rate))
	anyNoisy := false
	fmt.Fprintf(tw, "scenario\tlog\t|\tsat ops/s\tp50 ms\tp99 ms\tp99.9 ms\t|\t%s p50\t%[1]s p99\t%[1]s p99.9\t%[1]s max\t|\tCPU srv\tgen\tother\t|\terrors\tpeak RSS MB\t\n", at)
	for _, x := range r.Results {
		name := x.Scenario
		if x.Unit != "req" {
			name += " (" + x.Unit + "s)"
		}
		if x.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t|\tskipped\t\t\t\t|\t\t\t\t\t|\t\t\t\t|\t\t\t\n", name, x.LogLevel)
			continue
		}
		s, f := x.Saturation, x.FixedRate
		if s.OtherCPU > noisy || f.OtherCPU > noisy {
			name = "*" + name
			anyNoisy = true
		}
		fmt.Fprintf(tw, "%s\t%s\t|\t%.0f\t%.3f\t%.3f\t%.3f\t|\t%.3f\t%.3f\t%.3f\t%.2f\t|\t%s\t%.2f\t%.2f\t|\t%d\t%s\t\n",
			name, x.LogLevel, s.PerSec, s.P50ms, s.P99ms, s.P999ms,
			f.P50ms, f.P99ms, f.P999ms, f.MaxMs,
			cores(s.ServerCPU), s.HarnessCPU, s.OtherCPU,
			s.Errors+f.Errors, mb(max(s.PeakRSS, f.PeakRSS)))
	}
	tw.Flush()
	if anyNoisy {
		fmt.Fprintf(out, "* other processes used more than %.2f cores during the run: its figures are unreliable\n", noisy)
	}
	for _, x := range r.Results {
		if x.Skipped != "" {
			fmt.Fprintf(out, "skipped %s: %s\n", x.Scenario, x.Skipped)
		}
		if x.FixedRate.Ops > 0 && x.FixedRate.PerSec < 0.95*x.FixedRate.Rate {
			fmt.Fprintf(out, "%s (%s): the fixed-rate run reached only %.0f of %.0f ops/s\n", x.Scenario, x.LogLevel, x.FixedRate.PerSec, x.FixedRate.Rate)
		}
		if e := firstNonEmpty(x.Saturation.FirstError, x.FixedRate.FirstError); e != "" {
			fmt.Fprintf(out, "first error in %s (%s): %s\n", x.Scenario, x.LogLevel, e)
		}
	}
	res := r.Resources
	fmt.Fprintln(out)
	if res.BinaryBytes > 0 {
		fmt.Fprintf(out, "binary size:          %.1f MB (CGO_ENABLED=0 -trimpath -ldflags='-s -w')\n", float64(res.BinaryBytes)/1e6)
	}
	if res.ColdStarts > 0 {
		fmt.Fprintf(out, "cold start:           %.1f ms median of %d (min %.1f, max %.1f), exec to first 200 from /healthz\n",
			res.ColdStartMedian, res.ColdStarts, res.ColdStartMin, res.ColdStartMax)
	}
	if res.IdleRSS > 0 {
		fmt.Fprintf(out, "idle RSS:             %s MB\n", mb(res.IdleRSS))
	}
	if f := res.Flood; f != nil {
		fmt.Fprintf(out, "flood:                %d bogus requests in %.1f s (%.0f/s), %d errors; CPU cores: server %.2f, harness %.2f, other %.2f\n",
			f.Requests, f.Seconds, f.PerSec, f.Errors, f.ServerCPU, f.HarnessCPU, f.OtherCPU)
		fmt.Fprintf(out, "RSS during flood:     peak %s MB; after: %s MB\n", mb(f.PeakRSS), mb(f.RSSAfter))
		if f.FirstError != "" {
			fmt.Fprintf(out, "first flood error:    %s\n", f.FirstError)
		}
	}
	for _, p := range r.Passthrough {
		fmt.Fprintf(out, "API passthrough (%s): %.2f× the bare forwarder's throughput (target ≥ 0.6×); p50 added over the direct call at %s: %+.3f ms (bare forwarder %+.3f ms; target < 0.5 ms); at saturation %+.3f ms\n",
			p.LogLevel, p.Ratio, rateLabel(r.Rate), p.AddedP50ms, p.BareAddedP50ms, p.SatAddedP50ms)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(out, "note:", n)
	}
}

// noisy is how many cores other processes may take before a run's figures
// are marked unreliable.
const noisy = 0.2

func rateLabel(r float64) string {
	if r >= 1000 && int(r)%1000 == 0 {
		return fmt.Sprintf("%dk", int(r)/1000)
	}
	return fmt.Sprintf("%.0f", r)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func mb(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

func cores(c float64) string {
	if c == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", c)
}
