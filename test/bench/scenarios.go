package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
)

// scenario is one row of the table.
type scenario struct {
	name string
	// unit says what one op is.
	unit string
	// provider: the scenario needs the harness's own fake provider (not
	// available with -base).
	provider bool
	// api: the scenario needs the fake API and the bare forwarder (not
	// available with -base).
	api bool
	// pidOf is the process that serves the scenario, when not handoff.
	pidOf func(t *target) int
	// prepare makes what the op needs (keys, a refresh token) and returns it.
	prepare func(t *target) (op, error)
}

var scenarios = []scenario{
	{name: "authorize", unit: "req", prepare: prepAuthorize},
	{name: "poll-pending", unit: "req", prepare: prepPollPending},
	{name: "poll-forged", unit: "req", prepare: prepPollForged},
	{name: "login", unit: "flow", provider: true, prepare: prepLogin},
	{name: "refresh", unit: "req", provider: true, prepare: prepRefresh},
	{name: "api-direct", unit: "req", api: true, pidOf: func(t *target) int { return t.rig.api.pid() }, prepare: prepAPIDirect},
	{name: "api-bare", unit: "req", api: true, pidOf: func(t *target) int { return t.rig.fwd.pid() }, prepare: prepAPIBare},
	{name: "api-passthrough", unit: "req", api: true, prepare: prepAPIPassthrough},
}

// POST /authorize: 200 with the URL and read key.
func prepAuthorize(t *target) (op, error) {
	uri := t.base + "/authorize"
	return func(w *worker) error {
		if err := w.do("POST", uri, nil, 200); err != nil {
			return err
		}
		if !bytes.HasPrefix(w.resp.Body(), []byte(`{"url":`)) {
			return fmt.Errorf("POST /authorize: unexpected body %.80q", w.resp.Body())
		}
		return nil
	}, nil
}

// POST /poll with valid read keys of logins that are not finished: 404
// authorization_pending.
func prepPollPending(t *target) (op, error) {
	keys, err := readKeys(t, 1024)
	if err != nil {
		return nil, err
	}
	uris := make([]string, len(keys))
	for i, k := range keys {
		uris[i] = t.base + "/poll?readKey=" + url.QueryEscape(k)
	}
	return func(w *worker) error {
		return w.do("POST", uris[w.n%uint64(len(uris))], nil, 404)
	}, nil
}

// POST /poll with forged keys of the right shape: 400 invalid_request.
func prepPollForged(t *target) (op, error) {
	keys, err := readKeys(t, 1)
	if err != nil {
		return nil, err
	}
	uris := forgedKeyURIs(t, len(keys[0]), 1024)
	return func(w *worker) error {
		return w.do("POST", uris[w.n%uint64(len(uris))], nil, 400)
	}, nil
}

func forgedKeyURIs(t *target, keyLen, n int) []string {
	uris := make([]string, n)
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(keyLen))
	for i := range uris {
		for j := range raw {
			raw[j] = byte(i*131 + j*17 + j*j)
		}
		raw[0] = 1 // the current format's version byte: forged, not malformed
		uris[i] = t.base + "/poll?readKey=" + base64.RawURLEncoding.EncodeToString(raw)
	}
	return uris
}

// readKeys starts n logins and returns their read keys.
func readKeys(t *target, n int) ([]string, error) {
	w := newWorker(t, 99)
	defer w.release()
	keys := make([]string, 0, n)
	for range n {
		l, err := w.authorize()
		if err != nil {
			return nil, err
		}
		keys = append(keys, l.ReadKey)
	}
	return keys, nil
}

type login struct {
	URL     string `json:"url"`
	ReadKey string `json:"readKey"`
}

func (w *worker) authorize() (login, error) {
	var l login
	if err := w.do("POST", w.t.base+"/authorize", nil, 200); err != nil {
		return l, err
	}
	if err := json.Unmarshal(w.resp.Body(), &l); err != nil || l.URL == "" || l.ReadKey == "" {
		return l, fmt.Errorf("POST /authorize: unexpected body %.80q", w.resp.Body())
	}
	return l, nil
}

// jsonString extracts a string member from a flat JSON object without a full
// decode (the load generator shares the CPU with the server), falling back
// to encoding/json when the value has escapes.
func jsonString(body []byte, name string) (string, bool) {
	key := append(append([]byte{'"'}, name...), '"', ':', '"')
	i := bytes.Index(body, key)
	if i < 0 {
		return "", false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	if bytes.IndexByte(rest[:j], '\\') >= 0 {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return "", false
		}
		s, ok := m[name].(string)
		return s, ok
	}
	return string(rest[:j]), true
}

// loginOnce runs one whole login as the plugin and the browser would:
// POST /authorize, GET the provider's authorize URL (the fake approves at
// once with a 302 to the redirect URI), GET /redirect (handoff exchanges the
// code at the fake provider), POST /poll (200 with the tokens). It returns
// the token response.
func (w *worker) loginOnce() ([]byte, error) {
	if err := w.do("POST", w.t.base+"/authorize", nil, 200); err != nil {
		return nil, err
	}
	authURL, ok1 := jsonString(w.resp.Body(), "url")
	readKey, ok2 := jsonString(w.resp.Body(), "readKey")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("POST /authorize: unexpected body %.80q", w.resp.Body())
	}

	// The browser at the provider.
	w.req.Reset()
	w.req.SetRequestURI(authURL)
	if err := w.t.prov.Do(w.req, w.resp); err != nil {
		return nil, fmt.Errorf("provider authorize: %w", err)
	}
	if w.resp.StatusCode() != 302 {
		return nil, fmt.Errorf("provider authorize: status %d: %.200s", w.resp.StatusCode(), w.resp.Body())
	}
	w.loc = append(w.loc[:0], w.resp.Header.Peek("Location")...)

	// The browser back at handoff.
	if err := w.do("GET", string(w.loc), nil, 200); err != nil {
		return nil, err
	}
	// The plugin's poll.
	if err := w.do("POST", w.t.base+"/poll?readKey="+url.QueryEscape(readKey), nil, 200); err != nil {
		return nil, err
	}
	if !bytes.Contains(w.resp.Body(), []byte(`"access_token"`)) {
		return nil, errors.New("POST /poll: 200 without access_token")
	}
	return w.resp.Body(), nil
}

func prepLogin(t *target) (op, error) {
	return func(w *worker) error {
		_, err := w.loginOnce()
		return err
	}, nil
}

// POST /refresh with a refresh token from one real login, in the body (as
// the README recommends): handoff runs the refresh grant at the fake
// provider, which answers without a new refresh token (as Google does), so
// handoff adds the old one.
func prepRefresh(t *target) (op, error) {
	rt := t.refreshToken
	if rt == "" {
		var err error
		if rt, err = fetchRefreshToken(t); err != nil {
			return nil, err
		}
	}
	body := []byte("refresh_token=" + url.QueryEscape(rt))
	uri := t.base + "/refresh"
	return func(w *worker) error {
		if err := w.do("POST", uri, body, 200); err != nil {
			return err
		}
		if !bytes.Contains(w.resp.Body(), []byte(`"refresh_token"`)) {
			return errors.New("POST /refresh: answer without refresh_token")
		}
		return nil
	}, nil
}

// fetchRefreshToken logs in once and returns the refresh token. launch calls
// it first thing: the fake provider stops issuing refresh tokens once it
// holds 10,000 (its memory cap), which the login runs reach.
func fetchRefreshToken(t *target) (string, error) {
	w := newWorker(t, 98)
	defer w.release()
	tokens, err := w.loginOnce()
	if err != nil {
		return "", fmt.Errorf("login for a refresh token: %w", err)
	}
	rt, ok := jsonString(tokens, "refresh_token")
	if !ok {
		return "", errors.New("the fake provider's token response has no refresh_token")
	}
	return rt, nil
}

// flood sends about n requests to handoff that never complete a login,
// mixing the kinds that could make a server keep memory: forged read keys
// and states, unknown paths with long queries, polls of pending logins,
// logins cancelled at the provider (each records an outcome and a spent
// state) and logins whose tokens are never collected (each stores tokens).
// It returns the number of requests sent.
func flood(t *target, n int64, conns int) (int64, runStats) {
	keys, err := readKeys(t, 256)
	if err != nil {
		return 0, runStats{Errors: 1, FirstError: err.Error()}
	}
	forged := forgedKeyURIs(t, len(keys[0]), 256)
	var sent atomic.Int64
	kinds := []func(w *worker) error{
		func(w *worker) error { // forged read key
			return w.do("POST", forged[w.n%256], nil, 400)
		},
		func(w *worker) error { // forged state
			return w.do("GET", t.base+"/redirect?code=x&state="+forged[w.n%256][len(t.base)+len("/poll?readKey="):], nil, 400)
		},
		func(w *worker) error { // unknown path
			return w.do("GET", t.base+"/x"+strconv.FormatUint(w.rng.Uint64(), 36)+"?q="+strconv.FormatUint(w.rng.Uint64(), 36), nil, 404)
		},
		func(w *worker) error { // pending poll
			return w.do("POST", t.base+"/poll?readKey="+url.QueryEscape(keys[w.n%256]), nil, 404)
		},
		func(w *worker) error { // no key at all
			return w.do("POST", t.base+"/poll", nil, 400)
		},
		func(w *worker) error { // cancelled login
			l, err := w.authorize()
			if err != nil {
				return err
			}
			u, err := url.Parse(l.URL)
			if err != nil {
				return err
			}
			return w.do("GET", t.base+"/redirect?error=access_denied&state="+url.QueryEscape(u.Query().Get("state")), nil, 200)
		},
		func(w *worker) error { // abandoned login: tokens never collected
			if t.prov == nil {
				return w.do("POST", t.base+"/authorize", nil, 200)
			}
			if err := w.do("POST", t.base+"/authorize", nil, 200); err != nil {
				return err
			}
			authURL, _ := jsonString(w.resp.Body(), "url")
			w.req.Reset()
			w.req.SetRequestURI(authURL)
			if err := t.prov.Do(w.req, w.resp); err != nil || w.resp.StatusCode() != 302 {
				return fmt.Errorf("provider authorize: %v %d", err, w.resp.StatusCode())
			}
			w.loc = append(w.loc[:0], w.resp.Header.Peek("Location")...)
			return w.do("GET", string(w.loc), nil, 200)
		},
	}
	var ops atomic.Uint64
	o := func(w *worker) error {
		if sent.Load() >= n {
			return errStop
		}
		before := w.reqs
		err := kinds[ops.Add(1)%uint64(len(kinds))](w)
		sent.Add(w.reqs - before)
		return err
	}
	s := floodRun(t, o, conns)
	return sent.Load(), s
}
