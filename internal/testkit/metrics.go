package testkit

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// ParseMetrics reads Prometheus text format into series → value, the series
// written as served (name{labels}). It is strict about the lines it reads,
// so a malformed exposition fails the test that reads it.
func ParseMetrics(text string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("line %d: no value: %q", n, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		series := line[:i]
		if _, dup := out[series]; dup {
			return nil, fmt.Errorf("line %d: %s twice", n, series)
		}
		out[series] = v
	}
	return out, sc.Err()
}
