package config_test

import (
	"errors"
	"strings"
	"testing"

	"handoff/internal/config"
)

func TestMetricsAddr(t *testing.T) {
	for _, ok := range []struct{ in, want string }{{"", ""}, {":9091", ":9091"}, {" 127.0.0.1:9091 ", "127.0.0.1:9091"}, {"[::1]:9091", "[::1]:9091"}} {
		c, err := load(t, "METRICS_ADDR", ok.in)
		if err != nil {
			t.Errorf("METRICS_ADDR=%q: %v", ok.in, err)
			continue
		}
		if c.MetricsAddr != ok.want {
			t.Errorf("METRICS_ADDR=%q: %q, want %q", ok.in, c.MetricsAddr, ok.want)
		}
	}
	for _, bad := range []string{"9091", ":http", ":0", ":70000", "host", ":8787", "127.0.0.1:8787"} {
		_, err := load(t, "METRICS_ADDR", bad)
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "METRICS_ADDR") {
			t.Errorf("METRICS_ADDR=%q: %v, want a problem naming METRICS_ADDR", bad, err)
		}
	}
}
