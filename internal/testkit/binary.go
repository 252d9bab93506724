package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// moduleRoot is where package main (main.go) is, found from this file's
// path so that tests in any directory build the same binary.
var moduleRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}()

// buildTimeout bounds a build, so that a stuck toolchain fails the test
// rather than the test binary's own deadline.
const buildTimeout = 3 * time.Minute

type build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// builds[1] is the -race build.
var builds [2]build

// Binary returns the handoff binary, built once per test process: a package
// starts it many times, and a build costs more than most of its tests.
func Binary(t testing.TB) string {
	t.Helper()
	return builds[0].get(t, false)
}

// RaceBinary is Binary built with -race when the tests themselves run with
// -race, so that a data race inside the server is reported in its output
// (Options.Race then fails the test). Without -race it is Binary.
func RaceBinary(t testing.TB) string {
	t.Helper()
	if !raceEnabled {
		return Binary(t)
	}
	return builds[1].get(t, true)
}

func (b *build) get(t testing.TB, race bool) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "handoff-testkit-")
		if b.err != nil {
			return
		}
		path := filepath.Join(b.dir, "handoff")
		args := []string{"build", "-o", path}
		if race {
			args = append(args, "-race")
		}
		args = append(args, ".")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), moduleRoot, err, out)
			return
		}
		b.path = path
	})
	if b.err != nil {
		t.Fatalf("cannot build handoff: %v", b.err)
	}
	return b.path
}

// Run is m.Run for a TestMain, followed by the removal of what Binary and
// RaceBinary built: every test of the process shares the binary, so only
// TestMain sees the end of its use.
func Run(m *testing.M) int {
	code := m.Run()
	for i := range builds {
		if builds[i].dir != "" {
			os.RemoveAll(builds[i].dir)
		}
	}
	return code
}
