package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DotenvFiles are read from the working directory, in this order, when they
// exist: .env as most tools expect, and .dev.vars, the file older plugin
// backends on Cloudflare Workers read locally, so such a file works
// unchanged.
var DotenvFiles = []string{".env", ".dev.vars"}

// LoadDotenv sets, from the dotenv files in dir, every variable the real
// environment does not already have: the real environment wins, and the
// first file to name a variable wins over later ones. It returns the files
// it read.
func LoadDotenv(dir string) ([]string, error) {
	var read []string
	for _, name := range DotenvFiles {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return read, fmt.Errorf("read %s: %w", name, err)
		}
		vars, err := ParseDotenv(string(data))
		if err != nil {
			return read, fmt.Errorf("%s: %w", name, err)
		}
		for _, kv := range vars {
			if _, set := os.LookupEnv(kv[0]); !set {
				os.Setenv(kv[0], kv[1])
			}
		}
		read = append(read, name)
	}
	return read, nil
}

// ParseDotenv reads dotenv syntax: KEY=value lines, optional "export ",
// spaces around '=', values in single quotes (literal) or double quotes
// (with \n, \t, \" and \\ escapes), '#' comments on their own line or after
// an unquoted value. Errors name the line, never its value, which may be a
// secret.
func ParseDotenv(s string) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, rest, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validKey(key) {
			return nil, fmt.Errorf("line %d: expected KEY=value", n)
		}
		val, err := parseValue(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, key, err)
		}
		out = append(out, [2]string{key, val})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func validKey(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func parseValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '\'', '"':
		end := closingQuote(v, q)
		if end < 0 {
			return "", fmt.Errorf("unterminated %c quote", q)
		}
		if tail := strings.TrimSpace(v[end+1:]); tail != "" && tail[0] != '#' {
			return "", fmt.Errorf("text after the closing quote")
		}
		if q == '\'' {
			return v[1:end], nil
		}
		return unescape(v[1:end]), nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

func closingQuote(v string, q byte) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if q == '"' {
				i++
			}
		case q:
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
