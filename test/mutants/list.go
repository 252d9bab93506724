package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// mutant is one planted bug: in file, the text from (which must occur
// exactly once) becomes to.
type mutant struct {
	name, file, from, to string
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
