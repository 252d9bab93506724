package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEQuickStart holds the README to what it promises a newcomer: a
// quick start of at most ~150 lines whose first screen holds the two
// commands, the Go version go.mod states, deploy in four commands, links
// that lead somewhere, and no reference material that lives in docs/ (a copy
// there would drift).
func TestREADMEQuickStart(t *testing.T) {
	readme := read(t, "README.md")
	lines := strings.Split(readme, "\n")
	if len(lines) > 150 {
		t.Errorf("README.md has %d lines, want a quick start of at most 150", len(lines))
	}
	firstScreen := strings.Join(lines[:min(30, len(lines))], "\n")
	for _, cmd := range []string{"go run . -demo", "go test ./...", "PORT=8788 go run . -demo"} {
		if !strings.Contains(firstScreen, cmd) {
			t.Errorf("the README's first 30 lines lack %q", cmd)
		}
	}

	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(read(t, "go.mod"))
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if !strings.Contains(firstScreen, "Go](https://go.dev/dl/) "+goLine[1]+" or newer") {
		t.Errorf("the README does not ask for Go %s, go.mod's version", goLine[1])
	}

	deploy := section(t, readme, "## Deploy")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(deploy)
	if block == nil {
		t.Fatal("the deploy section has no sh block")
	}
	var cmds []string
	for _, l := range strings.Split(block[1], "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			cmds = append(cmds, strings.Fields(l)[0]+" "+strings.Fields(l)[1])
		}
	}
	if want := []string{"fly apps", "fly secrets", "fly deploy", "curl https://your-app.fly.dev/healthz"}; strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Errorf("deploy commands %q, want %q", cmds, want)
	}
	if !strings.Contains(block[1], "SEAL_KEY=$(openssl rand -hex 32)") {
		t.Error("the deploy commands set no SEAL_KEY")
	}

	// The 429 comment of the polling loop says what the loop does.
	if strings.Contains(readme, "continue // slow_down") || !strings.Contains(readme, `res.headers.get("Retry-After")`) {
		t.Error("the polling loop's 429 branch does not wait Retry-After")
	}

	// Reference material lives in docs/, linked.
	if strings.Contains(readme, "<!-- presets") {
		t.Error("the README carries the preset table; it lives in docs/providers.md")
	}
	for _, doc := range []string{"docs/protocol.md#configuration", "docs/providers.md", "docs/multi-app.md",
		"docs/multi-machine.md", "docs/deploy.md", "docs/curl.md", "SECURITY.md", "BENCHMARKS.md", "examples/framer-plugin/"} {
		if !strings.Contains(readme, "("+doc+")") {
			t.Errorf("the README does not link %s", doc)
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(readme, -1) {
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			t.Errorf("the README links %s, which the repository does not have", m[1])
		}
	}
	if !strings.Contains(readme, "[`framer/plugin-oauth`](https://github.com/framer/plugin-oauth)") {
		t.Error("the README does not name the worker it replaces")
	}
}

var root = filepath.Join("..", "..")

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section is the text from heading to the next heading of its level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading)
	if i < 0 {
		t.Fatalf("no %q section", heading)
	}
	rest := doc[i+1+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestDocLinks: every relative link in the top-level documents and docs/
// leads to a file or folder of the repository (anchors are not checked).
func TestDocLinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, f := range []string{"README.md", "SECURITY.md", "BENCHMARKS.md"} {
		files = append(files, filepath.Join(root, f))
	}
	link := regexp.MustCompile(`\]\(([^)#:\s]+)(#[^)]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), m[1])); err != nil {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s links %s, which does not exist", rel, m[1])
			}
		}
	}
}
