package testkit

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The upstream answers its default, then the answer set, records each
// request as received, counts connections and requests, and keeps the
// bytes on the wire; a discarded body is counted, not kept.
func TestUpstream(t *testing.T) {
	u := NewUpstream(t)
	if u.Origin != "http://"+u.Addr {
		t.Fatalf("Origin %q, Addr %q", u.Origin, u.Addr)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	send := func(method, target, body string, header ...string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, u.Origin+target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	if st, _, b := send("POST", "/a%20b?x=1", "BODYMARK", "X-Mark", "m1"); st != 200 || b != `{"ok":true}` {
		t.Errorf("default answer: %d %s", st, b)
	}
	got := u.Last(t)
	if got.Method != "POST" || got.RequestURI != "/a%20b?x=1" || got.Host != u.Addr ||
		got.Header.Get("X-Mark") != "m1" || string(got.Body) != "BODYMARK" {
		t.Errorf("seen %+v", got)
	}

	u.Answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) })
	if st, _, _ := send("GET", "/b", ""); st != 418 {
		t.Errorf("answer set: %d, want 418", st)
	}
	u.Answer(nil)
	if st, _, b := send("GET", "/c", ""); st != 200 || b != `{"ok":true}` {
		t.Errorf("answer reset: %d %s", st, b)
	}

	st, h, _ := send("PUT", "/d", strings.Repeat("z", 1000), "X-Test-Discard", "1")
	if st != 200 || h.Get("X-Received") != "1000" || len(u.Last(t).Body) != 0 {
		t.Errorf("discarded body: %d X-Received %q, kept %d bytes", st, h.Get("X-Received"), len(u.Last(t).Body))
	}

	if n, m := u.Reqs.Load(), u.Conns.Load(); n != 4 || m != 4 {
		t.Errorf("%d requests on %d connections, want 4 on 4", n, m)
	}
	raw := u.Received()
	if !bytes.Contains(raw, []byte("POST /a%20b?x=1 HTTP/1.1\r\n")) || !bytes.Contains(raw, []byte("BODYMARK")) {
		t.Errorf("received bytes lack the first request:\n%s", raw)
	}
}
