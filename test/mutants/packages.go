package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// pkg is a package with tests, and what its tests import, all the way down.
type pkg struct {
	name  string
	deps  map[string]bool
	suite bool // a black-box suite under test/: it builds the binary
}

func testPackages(dir string) ([]pkg, error) {
	out, err := goCmd(dir, "list", "-f", "{{.ImportPath}} {{len .TestGoFiles}} {{len .XTestGoFiles}}", "./...")
	if err != nil {
		return nil, err
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] == "0" && f[2] == "0" {
			continue
		}
		switch f[0] {
		case module + "/test/bench", module + "/test/mutants", module + "/test/e2e":
			continue
		}
		d, err := deps(dir, "-test", f[0])
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, pkg{name: f[0], deps: d, suite: strings.HasPrefix(f[0], module+"/test/")})
	}
	return pkgs, nil
}

func deps(dir string, args ...string) (map[string]bool, error) {
	out, err := goCmd(dir, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, args...)...)
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(out) {
		m[p] = true
	}
	return m, nil
}

func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// affectedPackages are those whose tests compile the mutated package in
// (unit), and the black-box suites when the binary or their tests do.
func affectedPackages(pkgs []pkg, mutated string, binaryDeps map[string]bool) (unit, suites []string) {
	for _, p := range pkgs {
		switch {
		case p.suite && (binaryDeps[mutated] || p.deps[mutated]):
			suites = append(suites, p.name)
		case !p.suite && p.deps[mutated]:
			unit = append(unit, p.name)
		}
	}
	return unit, suites
}

func allNames(pkgs []pkg) []string {
	var names []string
	for _, p := range pkgs {
		names = append(names, p.name)
	}
	return names
}
