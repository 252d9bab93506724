// Command mutants plants each bug of a fixed list (mutants.txt) in a copy
// of the working tree, one at a time, runs the tests after each, and says
// which tests caught it. A bug that no test catches is a gap in the suite;
// one that no longer applies (the code moved) is a stale entry to update.
//
//	go run ./test/mutants                 # every mutant, every affected package
//	go run ./test/mutants -quick          # the slow black-box suites only when needed
//	go run ./test/mutants -run 'cap|PKCE' # mutants whose name matches
//
// It runs `go test` (not -race; not the e2e tag; not test/bench, a load
// tool) on the packages whose tests depend on the mutated package, plus the
// black-box suites under test/ when the binary does, since they build it.
// It takes tens of minutes: it is not part of CI. docs/development.md says
// when to run it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// mutant is one planted bug: in file, the text from (which must occur
// exactly once) becomes to.
type mutant struct {
	name, file, from, to string
}

const module = "handoff"

func main() { os.Exit(run()) }

// run is main, returning the exit status, so that the copy of the tree is
// removed however it ends (os.Exit skips deferred calls).
func run() int {
	list := flag.String("list", "test/mutants/mutants.txt", "the mutants, relative to the module root")
	run := flag.String("run", "", "only the mutants whose name matches this regular expression")
	quick := flag.Bool("quick", false, "for each mutant, run the black-box suites under test/ only if no other package's tests failed")
	timeout := flag.Duration("timeout", 15*time.Minute, "limit on the tests of one mutant")
	keep := flag.Bool("keep", false, "keep the copy of the tree (its path is printed)")
	baseline := flag.Bool("baseline", true, "first run the tests unmutated, and stop if they fail")
	flag.Parse()

	root, err := moduleRoot()
	check(err)
	mutants, err := parse(filepath.Join(root, *list))
	check(err)
	if *run != "" {
		re, err := regexp.Compile(*run)
		check(err)
		var some []mutant
		for _, m := range mutants {
			if re.MatchString(m.name) {
				some = append(some, m)
			}
		}
		mutants = some
	}
	if len(mutants) == 0 {
		check(errors.New("no mutant to run"))
	}

	work, err := os.MkdirTemp("", "handoff-mutants-")
	check(err)
	if *keep {
		fmt.Println("copy of the tree:", work)
	} else {
		defer os.RemoveAll(work)
	}
	pkgs, binaryDeps, err := prepare(root, work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}

	fmt.Printf("%d mutants\n", len(mutants))
	if *baseline {
		fmt.Println("baseline: the tests must pass unmutated")
		if failed, buildErr := runTests(work, [][]string{allNames(pkgs)}, *timeout); len(failed) > 0 || buildErr != "" {
			fmt.Printf("the tests fail without any mutant: %s%s\n", strings.Join(failed, ", "), buildErr)
			return 2
		}
	}

	caught, stale := 0, 0
	var survivors []string
	for i, m := range mutants {
		start := time.Now()
		fmt.Printf("\n[%d/%d] %s (%s)\n", i+1, len(mutants), m.name, m.file)
		original, err := os.ReadFile(filepath.Join(work, m.file))
		if err == nil && bytes.Count(original, []byte(m.from)) != 1 {
			err = fmt.Errorf("the original text occurs %d times, want once", bytes.Count(original, []byte(m.from)))
		}
		if err != nil {
			fmt.Printf("  STALE: %v\n", err)
			stale++
			continue
		}
		mutated := bytes.Replace(original, []byte(m.from), []byte(m.to), 1)
		if err := os.WriteFile(filepath.Join(work, m.file), mutated, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mutants:", err)
			return 2
		}
		unit, suites := affectedPackages(pkgs, module+"/"+path.Dir(filepath.ToSlash(m.file)), binaryDeps)
		batches := [][]string{append(unit, suites...)}
		if *quick {
			batches = [][]string{unit, suites}
		}
		failed, buildErr := runTests(work, batches, *timeout)
		if err := os.WriteFile(filepath.Join(work, m.file), original, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mutants:", err)
			return 2
		}
		took := time.Since(start).Round(time.Second)
		switch {
		case buildErr != "":
			fmt.Printf("  INVALID (does not build, so it proves nothing; fix the entry): %s\n", buildErr)
			stale++
		case len(failed) == 0:
			fmt.Printf("  SURVIVED: no test failed (%d packages, %v)\n", len(unit)+len(suites), took)
			survivors = append(survivors, m.name)
		default:
			caught++
			fmt.Printf("  caught by %d tests (%v):\n", len(failed), took)
			for _, name := range failed {
				fmt.Printf("    %s\n", name)
			}
		}
	}
	fmt.Printf("\nscore: %d of %d mutants caught", caught, len(mutants))
	if stale > 0 {
		fmt.Printf(", %d stale or invalid", stale)
	}
	fmt.Println()
	for _, s := range survivors {
		fmt.Printf("  survived: %s\n", s)
	}
	if caught != len(mutants) {
		return 1
	}
	return 0
}

// prepare copies the tree to work and lists its test packages and what the
// binary is built from.
func prepare(root, work string) ([]pkg, map[string]bool, error) {
	if err := copyTree(root, work); err != nil {
		return nil, nil, err
	}
	pkgs, err := testPackages(work)
	if err != nil {
		return nil, nil, err
	}
	binaryDeps, err := deps(work, module)
	return pkgs, binaryDeps, err
}

// check stops at an error before the copy of the tree exists.
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(2)
	}
}

// parse reads the list. Each entry is
//
//	=== name
//	file: path/from/the/root.go
//	--- from
//	text to find (any number of lines)
//	+++ to
//	text to put in its place (any number of lines, or none)
//
// Lines before the first entry starting with # are comments; blank lines at
// the end of a text separate entries and are not part of it.
func parse(file string) ([]mutant, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mutant
	var cur *mutant
	var section string // "", "from", "to"
	var from, to []string
	flush := func() error {
		if cur == nil {
			return nil
		}
		cur.from, cur.to = joinTrimmed(from), joinTrimmed(to)
		if cur.file == "" || cur.from == "" {
			return fmt.Errorf("mutant %q: no file or no original text", cur.name)
		}
		out = append(out, *cur)
		return nil
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== "):
			if err := flush(); err != nil {
				return nil, err
			}
			cur, section, from, to = &mutant{name: strings.TrimPrefix(line, "=== ")}, "", nil, nil
		case cur == nil:
			if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
				return nil, fmt.Errorf("%s:%d: text before the first entry", file, n)
			}
		case section == "" && strings.HasPrefix(line, "file: "):
			cur.file = strings.TrimPrefix(line, "file: ")
		case line == "--- from":
			section = "from"
		case line == "+++ to":
			section = "to"
		case section == "from":
			from = append(from, line)
		case section == "to":
			to = append(to, line)
		case strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("%s:%d: unexpected line %q", file, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func joinTrimmed(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it inside the module")
	}
	return filepath.Dir(mod), nil
}

// copyTree copies the files git knows of (tracked, or new and not
// ignored), as they are in the working tree, so uncommitted work is tested.
func copyTree(root, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or a link
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

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
