package security

// SECURITY.md properties 5 and 3: bounded inputs, timeouts on the listener, rate limits,
// and stores that never hold more than MAX_PENDING entries.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"handoff/internal/testkit"
	"handoff/web"
)

// rawExchange sends head and then body as they are on a fresh connection
// (testkit.RawExchange: it does not wait for the body to be taken) and
// reads the answer.
func rawExchange(t *testing.T, addr, head, body string) resp {
	t.Helper()
	r, err := testkit.RawExchange(addr, head+body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: r.Status, header: r.Header, body: string(r.Body)}
}

func TestOversizedBodiesAre413(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	addr := strings.TrimPrefix(h.URL, "http://")
	big := "readKey=" + strings.Repeat("A", web.MaxBodyBytes)
	for _, path := range []string{"/poll", "/refresh", "/authorize", "/redirect", "/nope"} {
		r := rawExchange(t, addr, "POST "+path+" HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:3000\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "+strconv.Itoa(len(big))+"\r\n\r\n", big)
		wantCode(t, path+" with a body over 64 KiB", r, http.StatusRequestEntityTooLarge, "invalid_request")
		if r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
			t.Errorf("%s: the 413 lacks the CORS headers: %v", path, r.header)
		}
	}
	// Chunked, so the size is not announced up front.
	chunk := strings.Repeat("A", 16<<10)
	var chunked strings.Builder
	for range 8 {
		chunked.WriteString(strconv.FormatInt(int64(len(chunk)), 16) + "\r\n" + chunk + "\r\n")
	}
	chunked.WriteString("0\r\n\r\n")
	r := rawExchange(t, addr, "POST /poll HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunked.String())
	wantCode(t, "a chunked body over 64 KiB", r, http.StatusRequestEntityTooLarge, "invalid_request")
	// A body just under the limit is read (and its key refused).
	wantCode(t, "a 64 KiB body", h.client.post(t, h.URL+"/poll", "application/x-www-form-urlencoded",
		"readKey="+strings.Repeat("A", web.MaxBodyBytes-len("readKey="))), http.StatusBadRequest, "invalid_request")
	if r := h.client.get(t, h.URL+"/healthz"); r.status != http.StatusOK {
		t.Errorf("/healthz after: %v", r)
	}
}

func TestOversizedHeadersAndURLsAreRefused(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	addr := strings.TrimPrefix(h.URL, "http://")
	// Raw requests: the server answers and hangs up before a 9 KiB request
	// is read in full, which Go's client may report as a reset instead.
	tooLarge := func(what string, r resp) {
		t.Helper()
		if r.status != http.StatusRequestHeaderFieldsTooLarge && r.status != http.StatusRequestURITooLong {
			t.Errorf("%s: got %d %.200s, want 431 or 414", what, r.status, r.body)
		}
		h.client.checkBody(r)
	}
	tooLarge("a 9 KiB header", rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: "+strings.Repeat("a", 9<<10)+"\r\n\r\n", ""))
	var many strings.Builder
	for i := range 400 {
		many.WriteString("X-Many-" + strconv.Itoa(i) + ": aaaaaaaaaaaaaaaaaaaa\r\n")
	}
	tooLarge("400 headers", rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n"+many.String()+"\r\n", ""))
	for _, path := range []string{"/redirect?state=", "/poll?readKey=", "/nope/"} {
		tooLarge("a 9 KiB URL "+path, rawExchange(t, addr, "POST "+path+strings.Repeat("A", 9<<10)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", ""))
	}
	if r := h.client.get(t, h.URL+"/healthz"); r.status != http.StatusOK {
		t.Errorf("/healthz after: %v", r)
	}
}

// slowClient connects and sends what it is given one byte at a time, every
// interval, until the server hangs up. It reports how long that took.
func slowClient(addr, data string, interval, giveUp time.Duration) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() { // the server's answer (408) and EOF, or a reset
		io.Copy(io.Discard, conn)
		close(closed)
	}()
	for i := 0; time.Since(start) < giveUp; i++ {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-time.After(interval):
		}
		if data != "" {
			if _, err := conn.Write([]byte{data[i%len(data)]}); err != nil {
				return time.Since(start), nil
			}
		}
	}
	return 0, errors.New("the server kept the connection open")
}

func TestSlowlorisIsCutOffByTheReadTimeout(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	const readTimeout = 2 * time.Second
	h := startHandoff(t, p, nil, func(o *web.Options) {
		o.ReadTimeout, o.IdleTimeout = readTimeout, readTimeout
	})
	addr := strings.TrimPrefix(h.URL, "http://")
	// Headers that never end, one byte a second; a body that never
	// arrives; a connection that sends nothing; a keep-alive connection
	// that goes quiet after one request. Each would hold a connection
	// forever without timeouts. 30 s is fifteen times the read timeout.
	attacks := map[string]string{
		"headers, one byte a second": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100),
		"a body, one byte a second":  "POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("a", 1000),
		"nothing at all":             "",
	}
	var wg sync.WaitGroup
	for name, data := range attacks {
		for range 20 { // many at once, so a server with a worker per connection would notice
			wg.Add(1)
			go func() {
				defer wg.Done()
				interval := time.Second
				if strings.HasPrefix(name, "a body") {
					interval = 10 * time.Millisecond // 10 s for the whole request: 5 read timeouts
				}
				if _, err := slowClient(addr, data, interval, 30*time.Second); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}()
		}
	}
	// Meanwhile, everyone else is served.
	time.Sleep(500 * time.Millisecond)
	if r := h.client.get(t, h.URL+"/healthz"); r.status != http.StatusOK {
		t.Errorf("/healthz during the slowloris: %v", r)
	}
	// A keep-alive connection that goes quiet after a request is closed too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("keep-alive request: %v", err)
			return
		}
		res.Body.Close()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Errorf("an idle keep-alive connection was not closed: %v", err)
		}
	}()
	wg.Wait()
}

func TestPollRateLimitPerKey(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"RATE_LIMIT": "on"})
	l := h.authorize(t)
	byStatus, answers := h.race(t, l.readKey, 100)
	if byStatus[http.StatusTooManyRequests] == 0 || byStatus[http.StatusNotFound] == 0 {
		t.Fatalf("100 polls of one key at once: %v, want some 404 and some 429", byStatus)
	}
	for _, a := range answers {
		if a.status == http.StatusTooManyRequests {
			wantCode(t, "a throttled poll", a, http.StatusTooManyRequests, "slow_down")
			if a.header.Get("Retry-After") != "1" {
				t.Errorf("a 429 with Retry-After %q, want 1", a.header.Get("Retry-After"))
			}
		}
	}
	// A plugin that backs off is served again; other keys never noticed.
	time.Sleep(1500 * time.Millisecond)
	wantCode(t, "the throttled key after a pause", h.poll(t, l.readKey), http.StatusNotFound, "authorization_pending")
	wantCode(t, "another key", h.poll(t, h.authorize(t).readKey), http.StatusNotFound, "authorization_pending")
}

// Framer's plugins poll every 1.5–2.5 s, one fails a login on any 429, and
// many users share NAT addresses: none of that may be throttled.
func TestPluginPollingIsNeverThrottled(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"RATE_LIMIT": "on"})
	var logins []login
	for range 50 {
		logins = append(logins, h.authorize(t))
	}
	var wg sync.WaitGroup
	poll := func(l login, every time.Duration, times int) {
		defer wg.Done()
		for i := range times {
			if i > 0 {
				time.Sleep(every)
			}
			if r := h.pollAsync(l.readKey); r.status != http.StatusNotFound {
				t.Errorf("a plugin polling every %v got %v", every, r)
				return
			}
		}
	}
	for _, l := range logins[1:] { // 49 logins behind one address, each once a second
		wg.Add(1)
		go poll(l, time.Second, 8)
	}
	wg.Add(1)
	go poll(logins[0], 1500*time.Millisecond, 6) // the Framer plugins' pace
	wg.Wait()
}

// exhaust sends requests until one is refused with 429, up to twice the
// per-minute limit (the budget refills as they go), and returns it.
func exhaust(t *testing.T, send func() resp) resp {
	t.Helper()
	for range 2 * web.IPLimit {
		if r := send(); r.status == http.StatusTooManyRequests {
			return r
		}
	}
	t.Fatalf("%d requests from one address were never refused", 2*web.IPLimit)
	return resp{}
}

func TestPerIPLimits(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"RATE_LIMIT": "on"})
	fakeIP := []string{"Fly-Client-IP", "203.0.113.7", "X-Forwarded-For", "203.0.113.7", "X-Real-IP", "203.0.113.7"}

	r := exhaust(t, func() resp { return h.client.post(t, h.URL+"/authorize", "", "") })
	wantCode(t, "/authorize past the limit", r, http.StatusTooManyRequests, "slow_down")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("/authorize 429: Retry-After %q", r.header.Get("Retry-After"))
	}
	// Off Fly, client-supplied address headers are not believed.
	wantCode(t, "/authorize with forged address headers", h.client.post(t, h.URL+"/authorize", "", "", fakeIP...),
		http.StatusTooManyRequests, "slow_down")

	r = exhaust(t, func() resp {
		return h.client.post(t, h.URL+"/refresh", "application/x-www-form-urlencoded", "refresh_token=nope")
	})
	wantCode(t, "/refresh past the limit", r, http.StatusTooManyRequests, "slow_down")
	before := p.TokenRequests()
	h.client.post(t, h.URL+"/refresh", "application/x-www-form-urlencoded", "refresh_token=nope", fakeIP...)
	if p.TokenRequests() != before {
		t.Error("a throttled /refresh reached the provider")
	}

	r = exhaust(t, func() resp { return h.client.get(t, h.URL+"/redirect?state=x") })
	wantPage(t, "/redirect past the limit", r, http.StatusTooManyRequests, "slow_down")

	// /poll has no per-address limit: many logins share NAT addresses.
	for range 2 * web.IPLimit {
		if r := h.poll(t, h.brokers[0].Authorize().ReadKey); r.status != http.StatusNotFound {
			t.Fatalf("polls of distinct keys from one address: %v", r)
		}
	}
}

func TestFlyClientIPTrustedOnlyOnFly(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"RATE_LIMIT": "on", "FLY_APP_NAME": "handoff-test"})
	from := func(ip string) func() resp {
		return func() resp { return h.client.post(t, h.URL+"/authorize", "", "", "Fly-Client-IP", ip) }
	}
	exhaust(t, from("198.51.100.1"))
	if r := from("198.51.100.2")(); r.status != http.StatusOK {
		t.Errorf("on Fly, another client behind the proxy was throttled: %v", r)
	}
	wantCode(t, "the throttled client again", from("198.51.100.1")(), http.StatusTooManyRequests, "slow_down")
	// The limiter keeps its own copy of each address: other clients'
	// requests, which reuse the server's buffers, do not rewrite it.
	for i := range 50 {
		if r := from("203.0.113." + strconv.Itoa(100+i))(); r.status != http.StatusOK {
			t.Fatalf("a fresh client: %v", r)
		}
	}
	wantCode(t, "the throttled client after 50 others", from("198.51.100.1")(), http.StatusTooManyRequests, "slow_down")
	// X-Forwarded-For is not Fly's header and is never believed.
	exhaust(t, func() resp { return h.client.post(t, h.URL+"/authorize", "", "", "X-Forwarded-For", "198.51.100.3") })
	wantCode(t, "a rotated X-Forwarded-For", h.client.post(t, h.URL+"/authorize", "", "", "X-Forwarded-For", "198.51.100.4"),
		http.StatusTooManyRequests, "slow_down")
}

// MAX_PENDING caps the token store: a flood of completed logins that are
// never collected keeps only the newest.
func TestMaxPendingCapsTheTokenStore(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	const maxPending = 5
	h := startHandoff(t, p, map[string]string{"MAX_PENDING": strconv.Itoa(maxPending)})
	var logins []login
	for range 4 * maxPending {
		l := h.authorize(t)
		if r := h.client.get(t, h.client.consent(t, l, false)); r.status != http.StatusOK {
			t.Fatalf("redirect: %v", r)
		}
		logins = append(logins, l)
	}
	delivered := 0
	for i, l := range logins {
		r := h.poll(t, l.readKey)
		switch {
		case r.status == http.StatusOK:
			delivered++
			if i < len(logins)-maxPending {
				t.Errorf("login %d of %d was kept past the cap", i, len(logins))
			}
		case r.status == http.StatusNotFound: // evicted: as if never finished
		default:
			t.Errorf("login %d: %v", i, r)
		}
	}
	if delivered > maxPending || delivered == 0 {
		t.Errorf("%d tokens were waiting with MAX_PENDING=%d", delivered, maxPending)
	}
}

// The used-state store is capped too. A flood that evicts a used state lets
// it be replayed, and the replay reaches the provider; with PKCE on, the
// provider refuses the spent code, and nothing waiting is touched.
func TestReplayAfterUsedStateEvictionWithPKCE(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	const maxPending = 5
	h := startHandoff(t, p, map[string]string{"MAX_PENDING": strconv.Itoa(maxPending)})
	victim := h.authorize(t)
	back := h.client.consent(t, victim, false)
	h.client.get(t, back)
	flood(t, h, 2*maxPending)

	before := p.TokenRequests()
	r := h.client.get(t, back)
	if p.TokenRequests() == before {
		t.Fatal("the replay never reached the provider: the used-state store held more than MAX_PENDING states")
	}
	wantPage(t, "replay of a spent code", r, http.StatusBadGateway, "provider_error")
	if r := h.poll(t, victim.readKey); r.status != http.StatusOK {
		t.Fatalf("the victim's waiting tokens after the replay: %v", r)
	}
}

// With PKCE off (Notion), the used-state store is the only replay defence.
// Once a flood evicts a used state, an attacker holding it can pair it with
// a code of their own and the provider accepts. Handoff must still never
// replace tokens waiting for their poll (docs/protocol.md).
func TestReplayAfterEvictionNeverReplacesWaitingTokens(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	const maxPending = 5
	h := startHandoff(t, p, map[string]string{"MAX_PENDING": strconv.Itoa(maxPending), "PKCE": "false"})
	victim := h.authorize(t)
	back, _ := url.Parse(h.client.consent(t, victim, false))
	victimCode := back.Query().Get("code")
	h.client.get(t, h.redirectURL(back.Query()))
	attackerCode := h.codeFor(t, h.authorize(t))
	flood(t, h, 2*maxPending)

	h.client.get(t, h.redirectURL(url.Values{"state": {victim.state}, "code": {attackerCode}}))
	r := h.poll(t, victim.readKey)
	if r.status != http.StatusOK {
		t.Fatalf("the victim's poll: %v", r)
	}
	var got struct {
		AccessToken string `json:"access_token"`
	}
	jsonUnmarshal(r.body, &got)
	if want := p.accessFor(victimCode); got.AccessToken != want {
		t.Errorf("the victim's read key delivered tokens of another exchange (the attacker's: %t)",
			got.AccessToken == p.accessFor(attackerCode))
	}
}

// flood finishes n logins as cancelled (error=access_denied), which fills
// the used-state and outcome stores without storing tokens.
func flood(t *testing.T, h *handoff, n int) {
	t.Helper()
	for range n {
		l := h.authorize(t)
		r := h.client.get(t, h.redirectURL(url.Values{"state": {l.state}, "error": {"access_denied"}}))
		wantPage(t, "a cancelled login", r, http.StatusOK, "cancelled")
	}
}
