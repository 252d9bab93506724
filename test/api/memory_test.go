package api

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"

	"handoff/internal/testkit"
)

// memoryCeilingKB is SECURITY.md property 8's bound on the server's
// resident memory: 64 MB, a quarter of Fly's smallest machine.
const memoryCeilingKB = 64 << 10

// pattern is a deterministic stream of n bytes, so both ends can hash it
// without holding it.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestStreamsWithoutHolding: a 100 MB answer and a 10 MiB request body
// (API_MAX_BODY's default) pass through handoff whole and in order, while
// its peak resident memory (VmHWM) stays under 64 MB: bodies stream, they
// are never held. The binary is built without -race, whose shadow memory
// would be measured too.
func TestStreamsWithoutHolding(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 110 MB through the binary")
	}
	const answer = 100 << 20
	const upload = 10 << 20
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			if r.URL.Query().Get("chunked") == "" {
				w.Header().Set("Content-Length", strconv.Itoa(answer))
			}
			io.Copy(w, &pattern{n: answer})
		}
	})
	prov := newProvider(t)
	srv := testkit.Start(t, testkit.Options{Env: baseEnv(prov, up.Origin, map[string]string{"LOG_LEVEL": "warn"})})
	pid := srv.Cmd.Process.Pid
	idle := testkit.StatusKB(t, pid, "VmRSS")

	want := sha256.New()
	io.Copy(want, &pattern{n: answer})
	for _, target := range []string{"/api/" + up.Addr + "/big", "/?" + up.Origin + "/big?chunked=1"} {
		resp, err := client.Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		n, err := io.Copy(got, resp.Body)
		resp.Body.Close()
		if err != nil || n != answer || string(got.Sum(nil)) != string(want.Sum(nil)) {
			t.Fatalf("%s: %d bytes (%v), want %d bytes, the same", target, n, err, answer)
		}
	}

	req, _ := http.NewRequest("POST", srv.URL+"/api/"+up.Addr+"/upload", &pattern{n: upload})
	req.ContentLength = upload
	req.Header.Set("X-Test-Discard", "1") // the upstream counts, not keeps
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Received") != strconv.Itoa(upload) {
		t.Fatalf("upload: %d, upstream received %s bytes", resp.StatusCode, resp.Header.Get("X-Received"))
	}

	peak := testkit.StatusKB(t, pid, "VmHWM")
	t.Logf("RSS idle %d kB; peak %d kB after %d MB out and %d MB in", idle, peak, answer>>20, upload>>20)
	if peak > memoryCeilingKB {
		t.Errorf("peak RSS %d kB, over %d kB: bodies are held, not streamed", peak, memoryCeilingKB)
	}
}
