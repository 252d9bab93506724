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
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

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
