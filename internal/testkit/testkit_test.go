package testkit

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyTestsImportIt: testkit builds and starts binaries and has no place
// in what ships.
func TestOnlyTestsImportIt(t *testing.T) {
	cmd := exec.Command("go", "list", "-tags", "e2e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = moduleRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Fields(imports) {
			if imp == "handoff/internal/testkit" {
				t.Errorf("%s imports testkit outside its tests", pkg)
			}
		}
	}
}
