package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// testEvent is a line of go test -json.
type testEvent struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

// runTests runs the batches of packages in turn, stopping after the first
// batch in which a test failed, and returns the top-level tests that failed
// (or the package, when it failed outside any test), and the build error if
// a package did not compile.
func runTests(dir string, batches [][]string, timeout time.Duration) (failed []string, buildErr string) {
	seen := map[string]bool{}
	for _, batch := range batches {
		if len(batch) == 0 {
			continue
		}
		f, b := runBatch(dir, batch, timeout)
		for _, name := range f {
			if !seen[name] {
				seen[name] = true
				failed = append(failed, name)
			}
		}
		if b != "" {
			return failed, b
		}
		if len(failed) > 0 {
			break
		}
	}
	sort.Strings(failed)
	return failed, ""
}

func runBatch(dir string, pkgs []string, timeout time.Duration) (failed []string, buildErr string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"test", "-count=1", "-json", "-timeout", timeout.String()}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	failedTests := map[string]bool{}
	failedPkgs := map[string]bool{}
	pkgTests := map[string]bool{} // packages with a failed test
	var build strings.Builder
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var e testEvent
		if err := dec.Decode(&e); err != nil {
			if err != io.EOF {
				failedPkgs["(unreadable go test output)"] = true
			}
			break
		}
		switch e.Action {
		case "build-output":
			build.WriteString(e.Output)
			continue
		case "build-fail":
			return nil, firstLines(build.String(), 3)
		case "fail":
		default:
			continue
		}
		if e.Test != "" {
			top, _, _ := strings.Cut(e.Test, "/")
			failedTests[strings.TrimPrefix(e.Package, module+"/")+"."+top] = true
			pkgTests[e.Package] = true
		} else {
			failedPkgs[e.Package] = true
		}
	}
	if s := stderr.String(); strings.Contains(s, "[build failed]") || strings.Contains(s, "setup failed") {
		return nil, firstLines(s, 3)
	}
	for name := range failedTests {
		failed = append(failed, name)
	}
	for p := range failedPkgs {
		if !pkgTests[p] { // failed outside its tests: TestMain, a timeout, a crash
			failed = append(failed, strings.TrimPrefix(p, module+"/")+" (the package)")
		}
	}
	if ctx.Err() != nil {
		failed = append(failed, "(the tests ran out of time)")
	}
	return failed, ""
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
