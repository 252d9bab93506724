package deploy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
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

// TestDocLinks: every relative link in the repository's Markdown leads to
// a file or folder of the repository, and every anchor to a heading (or an
// id) of the document it names, spelled as GitHub spells anchors.
func TestDocLinks(t *testing.T) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "artifacts") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files under %s; the walk is broken", len(files), root)
	}
	link := regexp.MustCompile(`\]\(([^)#:\s]*)(#[^)\s]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range link.FindAllStringSubmatch(withoutCode(string(b)), -1) {
			target := f
			if m[1] != "" {
				target = filepath.Join(filepath.Dir(f), m[1])
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s links %s, which does not exist", rel, m[1])
					continue
				}
			}
			if m[2] == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			doc, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(doc))[m[2][1:]] {
				t.Errorf("%s links %s%s, and %s has no such heading", rel, m[1], m[2], filepath.Base(target))
			}
		}
	}
}

// withoutCode drops fenced code blocks and inline code, where ]( is not a link.
func withoutCode(doc string) string {
	var out []string
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, inlineCode.ReplaceAllString(line, ""))
		}
	}
	return strings.Join(out, "\n")
}

var (
	inlineCode = regexp.MustCompile("`[^`]*`")
	linkText   = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	htmlID     = regexp.MustCompile(`(?:id|name)="([^"]+)"`)
)

// anchors are the fragment names GitHub gives a document: each heading
// lower-cased, its punctuation dropped (hyphens and underscores kept),
// spaces turned into hyphens, and -1, -2 … added to repeats; and any HTML
// id or name.
func anchors(doc string) map[string]bool {
	seen := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		for _, m := range htmlID.FindAllStringSubmatch(line, -1) {
			seen[m[1]] = true
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := linkText.ReplaceAllString(strings.TrimLeft(line, "#"), "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		for i := 1; seen[slug]; i++ {
			slug = fmt.Sprintf("%s-%d", b.String(), i)
		}
		seen[slug] = true
	}
	return seen
}
