package jsonstr_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"handoff/internal/jsonstr"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"https://p.example/authorize?a=1&b=2", `"https://p.example/authorize?a=1&b=2"`},
		{`say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"tab\there\nnew\rline\x00\x1f", `"tab\there\nnew\rline\u0000\u001f"`},
		{"<script>", `"<script>"`},
		{"héllo ✓", `"héllo ✓"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"line\u2028sep\u2029", `"line\u2028sep\u2029"`},
	} {
		if got := string(jsonstr.Append([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got[1:], tc.want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a&b", "\"\\", "\x00\xff", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonstr.Append(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, out, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("Append(%q) decodes to %q", s, back)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	buf := make([]byte, 0, 256)
	s := "https://provider.example/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fh.example%2Fredirect&state=AbCdEf"
	b.ReportAllocs()
	for b.Loop() {
		buf = jsonstr.Append(buf[:0], s)
	}
}
