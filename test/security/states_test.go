package security

// SECURITY.md property 2: a state that is tampered with (any bit), truncated, sealed under
// another key, expired or replayed is refused before any request to the
// provider. Every attempt below carries a genuine, unused authorization code,
// so a state check that let one through would show up as a token request at
// the fake provider, which counts them.

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// refused asserts that /redirect with these parameters answers the "invalid
// or expired link" page and that the provider saw no token request.
func (h *handoff) refused(t *testing.T, what string, params url.Values) {
	t.Helper()
	before := h.provider.TokenRequests()
	r := h.client.get(t, h.redirectURL(params))
	wantPage(t, what, r, http.StatusBadRequest, "invalid")
	if n := h.provider.TokenRequests() - before; n != 0 {
		t.Errorf("%s: %d token request(s) reached the provider", what, n)
	}
}

// codeFor runs the user's consent and returns the provider's code for l.
func (h *handoff) codeFor(t *testing.T, l login) string {
	t.Helper()
	u, err := url.Parse(h.client.consent(t, l, false))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
}

func TestStateForgedTamperedTruncatedOversizedNeverReachProvider(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	// A state with a '-' or '_', whose spelling in the standard base64
	// alphabet (tried below) differs from it: about one state in 23 has
	// neither, and the "other spelling" was then the state itself.
	l := h.authorize(t)
	for !strings.ContainsAny(l.state, "-_") {
		l = h.authorize(t)
	}
	code := h.codeFor(t, l)
	raw, err := base64.RawURLEncoding.DecodeString(l.state)
	if err != nil {
		t.Fatalf("the state is not base64url: %v", err)
	}
	try := func(what, state string) {
		t.Helper()
		h.refused(t, what, url.Values{"state": {state}, "code": {code}})
	}

	h.refused(t, "no state", url.Values{"code": {code}})
	try("empty state", "")
	for _, s := range []string{"x", "null", "' OR '1'='1", "../../etc/passwd", "%00", "\x00\x01", "état", strings.Repeat("A", 131)} {
		try("garbage state", s)
	}
	for i := 0; i < 20; i++ { // well-formed, right length and version, random content
		forged := append([]byte{raw[0]}, randBytes(len(raw)-1)...)
		try("forged state", base64.RawURLEncoding.EncodeToString(forged))
	}
	for bit := 0; bit < len(raw)*8; bit++ {
		flipped := append([]byte(nil), raw...)
		flipped[bit/8] ^= 1 << (bit % 8)
		try("state with bit "+strconv.Itoa(bit)+" flipped", base64.RawURLEncoding.EncodeToString(flipped))
	}
	for n := 0; n < len(l.state); n++ {
		try("state truncated to "+strconv.Itoa(n)+" characters", l.state[:n])
	}
	try("state with a byte appended", base64.RawURLEncoding.EncodeToString(append(raw, 0)))
	try("state with characters appended", l.state+"AAAA")

	// One state has one encoding: the same bytes spelled differently are
	// refused (the used-state memory is keyed by what they decode to).
	try("padded state", base64.URLEncoding.EncodeToString(raw))
	try("state in the standard alphabet", base64.RawStdEncoding.EncodeToString(raw))
	try("state with a line break", l.state[:40]+"\n"+l.state[40:])
	try("state with a CR LF", l.state[:40]+"\r\n"+l.state[40:])
	last := strings.IndexByte(base64URLAlphabet, l.state[len(l.state)-1])
	for b := 1; b < 4; b++ { // the final character's unused low bits
		try("state with non-zero padding bits", l.state[:len(l.state)-1]+string(base64URLAlphabet[last^b]))
	}
	try("state and read key swapped", l.readKey)
	try("two states concatenated", l.state+l.state)

	// A forged state is refused even when the provider says the user
	// declined: the state is checked first, whatever else the request holds.
	h.refused(t, "forged state with error=access_denied", url.Values{
		"state": {l.state[:len(l.state)-2] + "AA"}, "error": {"access_denied"}})

	// A state far past the sealed size, still under the header limit, gets
	// the page; one past the 8 KiB header limit is refused before routing.
	try("7 KB state", strings.Repeat("A", 7<<10))
	before := p.TokenRequests()
	r := rawExchange(t, strings.TrimPrefix(h.URL, "http://"), "GET /redirect?"+url.Values{"state": {strings.Repeat("A", 10<<10)}, "code": {code}}.Encode()+
		" HTTP/1.1\r\nHost: x\r\n\r\n", "")
	h.client.checkBody(r)
	if r.status != http.StatusRequestHeaderFieldsTooLarge && r.status != http.StatusRequestURITooLong {
		t.Errorf("10 KB state: got %v, want 431 or 414", r)
	}
	if p.TokenRequests() != before {
		t.Error("10 KB state: a token request reached the provider")
	}

	// None of that spent the genuine state: the real login still works,
	// with the one and only token request.
	r = h.client.get(t, h.redirectURL(url.Values{"state": {l.state}, "code": {code}}))
	wantPage(t, "the genuine redirect after all the attacks", r, http.StatusOK, "authenticated")
	if n := p.TokenRequests(); n != 1 {
		t.Errorf("the provider saw %d token requests, want exactly 1", n)
	}
	if r := h.poll(t, l.readKey); r.status != http.StatusOK {
		t.Errorf("poll after the genuine redirect: %v", r)
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestStateReplayedIsRefusedAndTokensStay(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	l := h.authorize(t)
	back := h.client.consent(t, l, false)
	if r := h.client.get(t, back); r.status != http.StatusOK {
		t.Fatalf("first redirect: %v", r)
	}
	// Another code of the attacker's own, to pair with the used state.
	other := h.codeFor(t, h.authorize(t))
	u, _ := url.Parse(back)
	q := u.Query()

	h.refused(t, "the same redirect again", q)
	h.refused(t, "the used state with another code", url.Values{"state": {q.Get("state")}, "code": {other}})
	h.refused(t, "the used state with error=access_denied", url.Values{"state": {q.Get("state")}, "error": {"access_denied"}})
	h.refused(t, "the used state with no code", url.Values{"state": {q.Get("state")}})
	// Still refused when spelled with a line break (another encoding of the
	// same nonce).
	h.refused(t, "the used state with a line break", url.Values{"state": {q.Get("state")[:10] + "\n" + q.Get("state")[10:]}, "code": {other}})

	// The replays neither replaced nor removed the waiting tokens.
	r := h.poll(t, l.readKey)
	if r.status != http.StatusOK || !strings.Contains(r.body, "access_token") {
		t.Fatalf("poll after the replays: %v", r)
	}
	if n := p.TokenRequests(); n != 1 {
		t.Errorf("the provider saw %d token requests, want 1", n)
	}
	// And a replay after delivery is refused the same way.
	h.refused(t, "the same redirect after delivery", q)
}

func TestStateExpiredIsRefused(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"LOGIN_TTL": "300ms"})
	l := h.authorize(t)
	code := h.codeFor(t, l)
	time.Sleep(1500 * time.Millisecond) // five times LOGIN_TTL
	h.refused(t, "a state older than LOGIN_TTL", url.Values{"state": {l.state}, "code": {code}})
	wantCode(t, "poll of the expired login", h.poll(t, l.readKey), http.StatusGone, "expired_token")
}

func TestStateFromAnotherDeploymentIsRefused(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	// Same provider client, same secret: only the seal keys differ.
	ours := startHandoff(t, p, map[string]string{"SEAL_KEY": hexKey()})
	theirs := startHandoff(t, p, map[string]string{"SEAL_KEY": hexKey()})
	l := theirs.authorize(t)
	code := theirs.codeFor(t, l)
	ours.refused(t, "a state sealed by another deployment", url.Values{"state": {l.state}, "code": {code}})
	wantCode(t, "poll with another deployment's read key", ours.poll(t, l.readKey), http.StatusBadRequest, "invalid_request")

	// Keys derived from the client secret differ per deployment label too:
	// two apps of one deployment sharing a client refuse each other's states.
	apps := startHandoff(t, p, map[string]string{
		"APPS":                   "one,two",
		"ONE_CLIENT_ID":          p.clientID,
		"ONE_CLIENT_SECRET":      p.clientSecret,
		"ONE_REDIRECT_URI":       "http://127.0.0.1:1/one/redirect", // replaced below
		"TWO_CLIENT_ID":          p.clientID,
		"TWO_CLIENT_SECRET":      p.clientSecret,
		"TWO_REDIRECT_URI":       "http://127.0.0.1:1/two/redirect",
		"ONE_AUTHORIZE_ENDPOINT": p.URL + "/authorize", "ONE_TOKEN_ENDPOINT": p.URL + "/token",
		"TWO_AUTHORIZE_ENDPOINT": p.URL + "/authorize", "TWO_TOKEN_ENDPOINT": p.URL + "/token",
	})
	one := authorizeAt(t, apps.client, apps.URL+"/one", secrets)
	before := p.TokenRequests()
	r := apps.client.get(t, apps.URL+"/two/redirect?"+url.Values{"state": {one.state}, "code": {"x"}}.Encode())
	wantPage(t, "app one's state at app two's redirect", r, http.StatusBadRequest, "invalid")
	wantCode(t, "app one's read key at app two's poll",
		apps.client.post(t, apps.URL+"/two/poll?readKey="+url.QueryEscape(one.readKey), "", ""), http.StatusBadRequest, "invalid_request")
	if p.TokenRequests() != before {
		t.Error("a token request reached the provider")
	}
}

func TestStateAcrossSealKeyRotation(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	oldKey, newKey := hexKey(), hexKey()

	before := startHandoff(t, p, map[string]string{"SEAL_KEY": oldKey})
	l1 := before.authorize(t)
	l2 := before.authorize(t)
	code1, code2 := before.codeFor(t, l1), before.codeFor(t, l2)

	// Rotated without SEAL_KEYS_OLD: logins started before are refused.
	bare := startHandoff(t, p, map[string]string{"SEAL_KEY": newKey})
	bare.refused(t, "a state from before the rotation, old key dropped", url.Values{"state": {l1.state}, "code": {code1}})
	wantCode(t, "a read key from before the rotation, old key dropped", bare.poll(t, l1.readKey), http.StatusBadRequest, "invalid_request")

	// Rotated with SEAL_KEYS_OLD: they still complete, and new logins are
	// sealed under the new key only.
	// (The same app: the REDIRECT_URI the provider checks codes against.)
	rotated := startHandoff(t, p, map[string]string{"SEAL_KEY": newKey, "SEAL_KEYS_OLD": hexKey() + "," + oldKey,
		"REDIRECT_URI": before.URL + "/redirect"})
	r := rotated.client.get(t, rotated.redirectURL(url.Values{"state": {l2.state}, "code": {code2}}))
	wantPage(t, "a state from before the rotation, SEAL_KEYS_OLD set", r, http.StatusOK, "authenticated")
	if r := rotated.poll(t, l2.readKey); r.status != http.StatusOK {
		t.Errorf("poll with a read key from before the rotation: %v", r)
	}
	fresh := rotated.authorize(t)
	before.refused(t, "a state sealed under the new key, at a server with only the old key",
		url.Values{"state": {fresh.state}, "code": {"x"}})
}

func hexKey() string { return hex.EncodeToString(randBytes(32)) }
