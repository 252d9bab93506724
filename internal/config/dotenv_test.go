package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"handoff/internal/config"
)

func TestParseDotenv(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want [][2]string
		bad  bool
	}{
		{name: "plain", in: "CLIENT_ID=abc\nCLIENT_SECRET=def\n", want: [][2]string{{"CLIENT_ID", "abc"}, {"CLIENT_SECRET", "def"}}},
		{name: "no final newline", in: "A=1", want: [][2]string{{"A", "1"}}},
		{name: "CRLF", in: "A=1\r\nB=2\r\n", want: [][2]string{{"A", "1"}, {"B", "2"}}},
		{name: "BOM", in: "\ufeffA=1\n", want: [][2]string{{"A", "1"}}},
		{name: "spaces around =", in: "PLUGIN_ID = \"\"\n  SCOPE =  a b  \n", want: [][2]string{{"PLUGIN_ID", ""}, {"SCOPE", "a b"}}},
		{name: "comments and blank lines", in: "# comment\n\n   # indented\nA=1 # trailing\nB=x#not-a-comment\n", want: [][2]string{{"A", "1"}, {"B", "x#not-a-comment"}}},
		{name: "export", in: "export A=1\nexport  B = 2\n", want: [][2]string{{"A", "1"}, {"B", "2"}}},
		{name: "empty value", in: "A=\nB=''\nC=\"\"\n", want: [][2]string{{"A", ""}, {"B", ""}, {"C", ""}}},
		{name: "double quotes", in: `A="a b # c"` + "\n" + `B="x\ny\t\"q\" \\ \$"` + "\n",
			want: [][2]string{{"A", "a b # c"}, {"B", "x\ny\t\"q\" \\ $"}}},
		{name: "single quotes are literal", in: `A='a\nb "c" # d'`, want: [][2]string{{"A", `a\nb "c" # d`}}},
		{name: "comment after quotes", in: "A='x' # c\nB=\"y\"#c\n", want: [][2]string{{"A", "x"}, {"B", "y"}}},
		{name: "= in value", in: "AUTHORIZE_PARAMS=access_type=offline&prompt=consent\nK=abc==\n",
			want: [][2]string{{"AUTHORIZE_PARAMS", "access_type=offline&prompt=consent"}, {"K", "abc=="}}},
		{name: "URL", in: "REDIRECT_URI=https://localhost:8787/redirect", want: [][2]string{{"REDIRECT_URI", "https://localhost:8787/redirect"}}},
		{name: "lowercase and digits", in: "a_1=x\n_B=y", want: [][2]string{{"a_1", "x"}, {"_B", "y"}}},
		{name: "later duplicate kept in order", in: "A=1\nA=2", want: [][2]string{{"A", "1"}, {"A", "2"}}},
		{name: "only comments", in: "# nothing\n", want: nil},
		{name: "empty", in: "", want: nil},

		{name: "no =", in: "JUSTAKEY\n", bad: true},
		{name: "no key", in: "=value\n", bad: true},
		{name: "key with dash", in: "CLIENT-ID=x\n", bad: true},
		{name: "key with space", in: "CLIENT ID=x\n", bad: true},
		{name: "key starting with a digit", in: "1A=x\n", bad: true},
		{name: "unterminated double", in: "A=\"abc\n", bad: true},
		{name: "unterminated single", in: "A='abc\n", bad: true},
		{name: "text after quote", in: "A=\"abc\"def\n", bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.ParseDotenv(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("accepted: %q", got)
				}
				if !strings.Contains(err.Error(), "line ") {
					t.Errorf("error %q names no line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestParseDotenvErrorsHideValues: an error names the line (and key), never
// the value, which may be a secret.
func TestParseDotenvErrorsHideValues(t *testing.T) {
	for _, in := range []string{
		"OK=1\nCLIENT_SECRET=\"hunter2-SECRET\n",
		"CLIENT_SECRET='hunter2-SECRET\n",
		"CLIENT_SECRET=\"hunter2-SECRET\"tail\n",
		"hunter2-SECRET\n",
		"CLIENT SECRET=hunter2-SECRET\n",
	} {
		_, err := config.ParseDotenv(in)
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the value", err)
		}
	}
}

// TestWorkerDevVars: a .dev.vars.example of an older plugin backend
// (testdata/dev.vars.example) loads as is, and handoff starts with it.
func TestWorkerDevVars(t *testing.T) {
	data, err := os.ReadFile("testdata/dev.vars.example")
	if err != nil {
		t.Fatal(err)
	}
	vars, err := config.ParseDotenv(string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"CLIENT_ID", "XXXXX"},
		{"CLIENT_SECRET", "XXXX"},
		{"PLUGIN_ID", ""},
		{"REDIRECT_URI", "https://localhost:8787/redirect"},
		{"AUTHORIZE_ENDPOINT", "https://accounts.google.com/o/oauth2/v2/auth"},
		{"TOKEN_ENDPOINT", "https://oauth2.googleapis.com/token"},
		{"SCOPE", "https://www.googleapis.com/auth/userinfo.profile"},
	}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("got %q\nwant %q", vars, want)
	}

	cleanEnv(t) // in an empty directory now
	if err := os.WriteFile(".dev.vars", data, 0o600); err != nil {
		t.Fatal(err)
	}
	read, err := config.LoadDotenv(".")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, []string{".dev.vars"}) {
		t.Errorf("read %q", read)
	}
	// The placeholder secret cannot be the seal key's source (SECURITY.md, property 10):
	// start-up asks for SEAL_KEY, which the real environment then gives.
	_, err = config.Load(false)
	if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, "CLIENT_SECRET") || !strings.Contains(ps[0], "SEAL_KEY") {
		t.Errorf("Load with that .dev.vars and no SEAL_KEY: %q, want one problem asking for SEAL_KEY", ps)
	}
	t.Setenv("SEAL_KEY", strings.Repeat("0123456789abcdef", 4))
	c, err := config.Load(false)
	if err != nil {
		t.Fatalf("Load with that .dev.vars: %v", err)
	}
	a := c.Apps[0]
	if a.Flow.ClientID != "XXXXX" || a.RedirectPath != "/redirect" || a.PluginID != "" ||
		a.Flow.Scope != "https://www.googleapis.com/auth/userinfo.profile" {
		t.Errorf("app %+v", a)
	}
}

// TestLoadDotenv: .env and .dev.vars fill what the real environment lacks;
// the real environment wins, then .env, then .dev.vars.
func TestLoadDotenv(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".env", "CLIENT_ID=from-env-file\nSCOPE=env-scope\n")
	write(".dev.vars", "CLIENT_ID=from-dev-vars\nSCOPE=dev-scope\nPLUGIN_ID=dev-plugin\nCLIENT_SECRET=dev-secret\n")
	t.Setenv("CLIENT_SECRET", "from-real-env")
	t.Setenv("PLUGIN_ID", "") // set, though empty: still the real environment's

	read, err := config.LoadDotenv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, []string{".env", ".dev.vars"}) {
		t.Errorf("read %q", read)
	}
	for name, want := range map[string]string{
		"CLIENT_ID":     "from-env-file",
		"SCOPE":         "env-scope",
		"CLIENT_SECRET": "from-real-env",
		"PLUGIN_ID":     "",
	} {
		if got := os.Getenv(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// No files: nothing read, no error.
	if read, err := config.LoadDotenv(t.TempDir()); err != nil || len(read) != 0 {
		t.Errorf("empty dir: %q %v", read, err)
	}
	// A broken file: an error naming the file and line, not the value.
	write(".env", "OK=1\nCLIENT_SECRET=\"unterminated-SECRET\n")
	_, err = config.LoadDotenv(dir)
	if err == nil || !strings.Contains(err.Error(), ".env") || !strings.Contains(err.Error(), "line 2") ||
		strings.Contains(err.Error(), "unterminated-SECRET") {
		t.Errorf("broken .env: %v", err)
	}
}

var validKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FuzzParseDotenv: any input parses or fails cleanly; keys are always valid
// names; a single-quoted value comes back exactly.
func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{
		"CLIENT_ID=abc\n", "PLUGIN_ID = \"\"\n", "export A='x' # c\n", `B="x\ny\"z\\"`,
		"# c\n\nA=1 # t\r\n", "\ufeffA=", "A=\"", "A='", "=", "A=\"\\", "A=\"\\\"", "A= #",
		"A=\"x\" # c\nB='y'\n", "export\n", "export =1", strings.Repeat("A=1\n", 100),
	} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		vars, err := config.ParseDotenv(s)
		if err == nil {
			for _, kv := range vars {
				if !validKey.MatchString(kv[0]) {
					t.Errorf("key %q", kv[0])
				}
			}
		}
		if strings.ContainsAny(v, "'\n\r") {
			return
		}
		got, err := config.ParseDotenv("KEY='" + v + "'\n")
		if err != nil || len(got) != 1 || got[0] != [2]string{"KEY", v} {
			t.Errorf("KEY='%s': got %q, %v", v, got, err)
		}
	})
}
