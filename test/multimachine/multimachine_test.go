package multimachine

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// checkCompleted fails unless l is a login that completed: the redirect page
// said authenticated, one poll got the tokens, the next said
// already_delivered, and both were served by the owner.
func checkCompleted(t *testing.T, l *login) (tokens map[string]any) {
	t.Helper()
	if l.redirect.Status != http.StatusOK || l.redirect.Outcome() != "authenticated" {
		t.Errorf("login owned by %s: redirect %d %q (served by %s)", l.owner, l.redirect.Status, l.redirect.Outcome(), l.redirect.machine)
	}
	if l.poll.Status != http.StatusOK {
		t.Errorf("login owned by %s: final poll %d %s", l.owner, l.poll.Status, l.poll.Body)
		return nil
	}
	if err := json.Unmarshal(l.poll.Body, &tokens); err != nil || tokens["access_token"] == nil {
		t.Errorf("tokens: %s", l.poll.Body)
	}
	if l.again.Status != http.StatusGone || l.again.ErrorCode() != "already_delivered" {
		t.Errorf("login owned by %s: poll after delivery %d %s", l.owner, l.again.Status, l.again.Body)
	}
	for _, r := range []response{l.redirect, l.poll, l.again} {
		if r.machine != l.owner {
			t.Errorf("login owned by %s answered by %s", l.owner, r.machine)
		}
	}
	return tokens
}

// TestJourneys200 runs the whole Framer plugin journey 200 times, 20 at
// once, through the proxy in front of three machines: every login
// completes, each on the machine that started it, and its tokens are
// delivered exactly once.
func TestJourneys200(t *testing.T) {
	c := newCluster(t, clusterOptions{machines: 3})
	start := time.Now()
	logins := c.runJourneys(t, 200, 20, nil)
	elapsed := time.Since(start)
	if len(logins) != 200 {
		t.Fatalf("%d journeys finished, want 200", len(logins))
	}

	owners := map[string]int{}
	seen := map[string]bool{}
	var secrets []string
	polls := 0
	for _, l := range logins {
		owners[l.owner]++
		polls += l.polls
		tokens := checkCompleted(t, l)
		at, _ := tokens["access_token"].(string)
		rt, _ := tokens["refresh_token"].(string)
		if at == "" || seen[at] {
			t.Errorf("access token missing or delivered twice: %q", at)
		}
		seen[at] = true
		secrets = append(secrets, at, rt, l.readKey)
	}
	for _, id := range machineIDs {
		if owners[id] == 0 {
			t.Errorf("machine %s started no login (owners: %s)", id, counts(owners))
		}
	}
	if got := c.provider.TokenRequests(); got != 200 {
		t.Errorf("the provider saw %d token requests, want 200 (one exchange per login)", got)
	}
	replays, fallbacks := c.proxy.replays.Load(), c.proxy.fallbacks.Load()
	if replays == 0 {
		t.Error("no request was replayed: the proxy never sent one to the wrong machine?")
	}
	if fallbacks != 0 {
		t.Errorf("%d replays failed with every machine up", fallbacks)
	}
	t.Logf("200 journeys in %v; owners %s; %d proxy requests, %d polls, %d replays (%.2f per journey), %d fallbacks",
		elapsed.Round(time.Millisecond), counts(owners), c.proxy.requests.Load(), polls, replays,
		float64(replays)/200, fallbacks)

	t.Run("concurrent polls deliver once", func(t *testing.T) {
		for i := 0; i < 30; i++ {
			l, err := c.authorize()
			if err == nil {
				err = l.consent()
			}
			if err == nil {
				err = l.visit()
			}
			if err != nil || l.redirect.Status != http.StatusOK {
				t.Fatalf("login: %v %d", err, l.redirect.Status)
			}
			results := make([]response, 5)
			var wg sync.WaitGroup
			for j := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[j], _ = c.pollOnce(l.readKey)
				}()
			}
			wg.Wait()
			ok := 0
			for _, r := range results {
				switch {
				case r.Status == http.StatusOK:
					ok++
					secrets = append(secrets, string(r.Body))
				case r.Status == http.StatusGone && r.ErrorCode() == "already_delivered":
				default:
					t.Errorf("concurrent poll: %d %s", r.Status, r.Body)
				}
			}
			if ok != 1 {
				t.Errorf("%d of 5 concurrent polls got the tokens, want exactly 1", ok)
			}
		}
	})
	c.checkLogs(t, secrets)
}

// TestOwnerGone: a machine dies with logins in flight. Its logins end at
// once, the plugin with 410 expired_token and the user's browser with the
// 503 page, instead of polling until LOGIN_TTL; the other machines' logins,
// and every login started afterwards, are unaffected.
func TestOwnerGone(t *testing.T) {
	c := newCluster(t, clusterOptions{machines: 3})

	// Logins in both states: tokens waiting for the poll (ready), and the
	// user still at the provider (pending).
	var ready, pending []*login
	byOwner := func(ls []*login) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l.owner]++
		}
		return m
	}
	victim := ""
	for len(ready) < 300 && victim == "" {
		for i := 0; i < 6; i++ {
			l, err := c.authorize()
			if err == nil {
				err = l.consent()
			}
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := l.visit(); err != nil || l.redirect.Status != http.StatusOK {
					t.Fatalf("redirect: %v %d %s", err, l.redirect.Status, l.redirect.Body)
				}
				ready = append(ready, l)
			} else {
				pending = append(pending, l)
			}
		}
		r, p := byOwner(ready), byOwner(pending)
		for _, id := range machineIDs {
			if r[id] > 0 && p[id] > 0 && len(ready) >= 9 {
				victim = id
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("no machine owns both a ready and a pending login")
	}
	before := c.provider.TokenRequests()
	c.crash(t, victim)

	for _, l := range ready {
		r, err := c.pollOnce(l.readKey)
		if err != nil {
			t.Fatal(err)
		}
		if l.owner == victim {
			if r.Status != http.StatusGone || r.ErrorCode() != "expired_token" || !strings.Contains(string(r.Body), "start the login again") {
				t.Errorf("poll of a login whose machine died: %d %s, want 410 expired_token", r.Status, r.Body)
			}
			continue
		}
		if r.Status != http.StatusOK || r.machine != l.owner {
			t.Errorf("poll of a login on a live machine: %d %s (by %s, owner %s)", r.Status, r.Body, r.machine, l.owner)
		}
	}
	exchanges := 0
	for _, l := range pending {
		if err := l.visit(); err != nil {
			t.Fatal(err)
		}
		r, err := c.pollOnce(l.readKey)
		if err != nil {
			t.Fatal(err)
		}
		if l.owner == victim {
			if l.redirect.Status != http.StatusServiceUnavailable || l.redirect.Outcome() != "restarted" ||
				!strings.HasPrefix(l.redirect.Header.Get("Content-Type"), "text/html") {
				t.Errorf("redirect of a login whose machine died: %d %q, want the 503 page", l.redirect.Status, l.redirect.Outcome())
			}
			if l.redirect.Header.Get("Fly-Replay") != "" {
				t.Error("the 503 page carries fly-replay")
			}
			if r.Status != http.StatusGone || r.ErrorCode() != "expired_token" {
				t.Errorf("poll of a pending login whose machine died: %d %s", r.Status, r.Body)
			}
			continue
		}
		exchanges++
		if l.redirect.Status != http.StatusOK || l.redirect.Outcome() != "authenticated" || r.Status != http.StatusOK {
			t.Errorf("pending login on a live machine: redirect %d, poll %d %s", l.redirect.Status, r.Status, r.Body)
		}
	}
	if got := c.provider.TokenRequests() - before; got != int64(exchanges) {
		t.Errorf("%d token requests after the crash, want %d: a login of the dead machine reached the provider", got, exchanges)
	}
	if c.proxy.fallbacks.Load() == 0 {
		t.Error("no replay fell back")
	}

	// Plugins that got 410 start again; every new login completes.
	for _, l := range c.runJourneys(t, 30, 10, nil) {
		checkCompleted(t, l)
		if l.owner == victim {
			t.Errorf("a new login was started on the dead machine")
		}
	}
	r, p := byOwner(ready), byOwner(pending)
	t.Logf("victim %s owned %d of %d ready and %d of %d pending logins; %d replays, %d fallbacks",
		victim, r[victim], len(ready), p[victim], len(pending), c.proxy.replays.Load(), c.proxy.fallbacks.Load())
}

// TestKillMidRun kills one machine while journeys run, 20 at once: the
// logins it owned end with 410 (and the 503 page when the user came back
// after the kill) or had already completed; all others complete.
func TestKillMidRun(t *testing.T) {
	c := newCluster(t, clusterOptions{machines: 3})
	victim := machineIDs[2]
	crashed := make(chan struct{})
	var once sync.Once
	logins := c.runJourneys(t, 150, 20, func(done int) {
		if done >= 40 {
			once.Do(func() {
				go func() { c.crash(t, victim); close(crashed) }()
			})
		}
	})
	<-crashed

	lost, completedOnVictim, others := 0, 0, 0
	for _, l := range logins {
		if l.owner != victim {
			others++
			checkCompleted(t, l)
			continue
		}
		if l.poll.Status == http.StatusOK {
			completedOnVictim++
			if l.poll.machine != victim || l.redirect.Outcome() != "authenticated" {
				t.Errorf("login of the killed machine delivered by %s, redirect %q", l.poll.machine, l.redirect.Outcome())
			}
			// The poll after delivery may come after the kill.
			if a := l.again.ErrorCode(); l.again.Status != http.StatusGone || a != "already_delivered" && a != "expired_token" {
				t.Errorf("login of the killed machine: poll after delivery %d %s", l.again.Status, l.again.Body)
			}
			continue
		}
		lost++
		if l.poll.Status != http.StatusGone || l.poll.ErrorCode() != "expired_token" {
			t.Errorf("login of the killed machine: poll %d %s, want 410 expired_token", l.poll.Status, l.poll.Body)
		}
		switch {
		case l.redirect.Status == http.StatusOK && l.redirect.Outcome() == "authenticated": // before the kill
		case l.redirect.Status == http.StatusServiceUnavailable && l.redirect.Outcome() == "restarted":
		default:
			t.Errorf("login of the killed machine: redirect %d %q", l.redirect.Status, l.redirect.Outcome())
		}
	}
	if lost == 0 {
		t.Error("the kill caught no login in flight; the test proved nothing")
	}
	// Each plugin that got 410 starts again, and gets in.
	for _, l := range c.runJourneys(t, lost, 10, nil) {
		checkCompleted(t, l)
	}
	t.Logf("killed %s after 40 journeys: %d of its logins lost (410), %d completed before; %d logins on other machines completed; %d replays, %d fallbacks",
		victim, lost, completedOnVictim, others, c.proxy.replays.Load(), c.proxy.fallbacks.Load())
}

// TestReplayAnswers talks to the machines directly, without the proxy, to
// pin down what each one answers for another machine's login.
func TestReplayAnswers(t *testing.T) {
	c := newCluster(t, clusterOptions{machines: 2})
	owner, other := c.machines[machineIDs[0]], c.machines[machineIDs[1]]
	wantReplay := "instance=" + owner.id + ";timeout=2s;fallback=force_self"
	direct := func(m *machine, proxyURL string) string { return strings.Replace(proxyURL, c.url, m.URL, 1) }

	startAt := func(m *machine) *login {
		p := &testkit.Plugin{Base: m.URL, Origin: pluginOrigin}
		started, err := p.Authorize()
		if err != nil {
			t.Fatalf("authorize at %s: %v", m.id, err)
		}
		l := &login{plugin: p, owner: m.id, authURL: started.URL, readKey: started.ReadKey}
		if err := l.consent(); err != nil {
			t.Fatal(err)
		}
		return l
	}
	poll := func(m *machine, key string, h http.Header) response {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Origin", pluginOrigin)
		r, err := do("POST", m.URL+"/poll?readKey="+key, h)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	failed := http.Header{"Fly-Replay-Failed": {"reason=unreachable;instance=" + owner.id}}

	l := startAt(owner)
	tokenRequests := c.provider.TokenRequests()

	t.Run("poll at another machine is replayed to the owner", func(t *testing.T) {
		r := poll(other, l.readKey, nil)
		if got := r.Header.Get("Fly-Replay"); got != wantReplay {
			t.Errorf("fly-replay %q, want %q (status %d)", got, wantReplay, r.Status)
		}
		if len(r.Body) != 0 {
			t.Errorf("the replaying answer has a body: %q", r.Body)
		}
		if r.Header.Get("Access-Control-Allow-Origin") != pluginOrigin {
			t.Errorf("the replaying answer lacks CORS: %v", r.Header)
		}
	})
	t.Run("redirect at another machine is replayed to the owner", func(t *testing.T) {
		r, err := do("GET", direct(other, l.back), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Header.Get("Fly-Replay"); got != wantReplay || len(r.Body) != 0 {
			t.Errorf("fly-replay %q body %q, want %q and no body", got, r.Body, wantReplay)
		}
	})
	t.Run("fly-replay-failed: 410 for the poll, 503 page for the redirect, never a replay", func(t *testing.T) {
		r := poll(other, l.readKey, failed)
		if r.Status != http.StatusGone || r.ErrorCode() != "expired_token" || r.Header.Get("Fly-Replay") != "" {
			t.Errorf("poll: %d %s %v", r.Status, r.Body, r.Header)
		}
		r, err := do("GET", direct(other, l.back), failed)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusServiceUnavailable || r.Outcome() != "restarted" || r.Header.Get("Fly-Replay") != "" ||
			!strings.Contains(string(r.Body), "start the login again from the plugin") {
			t.Errorf("redirect: %d %q %v", r.Status, r.Outcome(), r.Header)
		}
	})
	t.Run("the owner serves its own logins, fly-replay-failed or not", func(t *testing.T) {
		if r := poll(owner, l.readKey, failed); r.Status != http.StatusNotFound || r.Header.Get("Fly-Replay") != "" {
			t.Errorf("owner's poll with fly-replay-failed: %d %s", r.Status, r.Body)
		}
		// Nothing above spent the state or reached the provider.
		if got := c.provider.TokenRequests(); got != tokenRequests {
			t.Errorf("%d token requests before the owner saw the redirect", got-tokenRequests)
		}
		r, err := do("GET", direct(owner, l.back), nil)
		if err != nil || r.Status != http.StatusOK || r.Outcome() != "authenticated" {
			t.Fatalf("owner's redirect: %v %d %s", err, r.Status, r.Body)
		}
		if r := poll(owner, l.readKey, nil); r.Status != http.StatusOK {
			t.Errorf("owner's poll: %d %s", r.Status, r.Body)
		}
		// After delivery the other machine still only replays.
		if r := poll(other, l.readKey, nil); r.Header.Get("Fly-Replay") != wantReplay {
			t.Errorf("poll at the other machine after delivery: %d %v", r.Status, r.Header)
		}
	})
	t.Run("authorize, refresh and healthz are served by any machine", func(t *testing.T) {
		l2 := startAt(owner)
		if err := l2.visit(); err != nil { // through the proxy: lands wherever, replayed to the owner
			t.Fatal(err)
		}
		r, _ := c.pollOnce(l2.readKey)
		var tokens struct {
			RefreshToken string `json:"refresh_token"`
		}
		json.Unmarshal(r.Body, &tokens)
		for _, m := range []*machine{owner, other} {
			rr, err := do("POST", m.URL+"/refresh?code="+tokens.RefreshToken, pluginHeader)
			if err != nil || rr.Status != http.StatusOK || rr.Header.Get("Fly-Replay") != "" {
				t.Errorf("refresh at %s: %v %d %s", m.id, err, rr.Status, rr.Body)
			}
			for _, route := range []struct{ method, path string }{{"POST", "/authorize"}, {"GET", "/healthz"}, {"GET", "/"}} {
				rr, err := do(route.method, m.URL+route.path, pluginHeader)
				if err != nil || rr.Status != http.StatusOK || rr.Header.Get("Fly-Replay") != "" {
					t.Errorf("%s %s at %s: %v %d", route.method, route.path, m.id, err, rr.Status)
				}
			}
		}
	})
	t.Run("a forged owner is a forged key", func(t *testing.T) {
		fresh := startAt(owner)
		raw, err := base64.RawURLEncoding.DecodeString(fresh.readKey)
		if err != nil {
			t.Fatal(err)
		}
		// The machine id is the end of the sealed payload, just before
		// the 16-byte tag: flip a bit there.
		raw[len(raw)-17] ^= 1
		forged := base64.RawURLEncoding.EncodeToString(raw)
		for _, m := range []*machine{owner, other} {
			if r := poll(m, forged, nil); r.Status != http.StatusBadRequest || r.Header.Get("Fly-Replay") != "" {
				t.Errorf("forged read key at %s: %d %v", m.id, r.Status, r.Header)
			}
		}
		st := strings.Split(strings.Split(fresh.back, "state=")[1], "&")[0]
		tampered := strings.Replace(fresh.back, st, st[:len(st)-2]+"AA", 1)
		r, err := do("GET", direct(other, tampered), nil)
		if err != nil || r.Status != http.StatusBadRequest || r.Outcome() != "invalid" || r.Header.Get("Fly-Replay") != "" {
			t.Errorf("tampered state at another machine: %v %d %q", err, r.Status, r.Outcome())
		}
	})
	t.Run("no FLY_MACHINE_ID, no routing", func(t *testing.T) {
		plain := startMachine(t, map[string]string{
			"CLIENT_ID": clientID, "CLIENT_SECRET": clientSecret, "REDIRECT_URI": c.url + "/redirect",
			"AUTHORIZE_ENDPOINT": c.provURL + "/authorize", "TOKEN_ENDPOINT": c.provURL + "/token",
			"PLUGIN_ID": pluginID, "FLY_APP_NAME": "handoff-test",
		})
		// A login of the machine without an id is served wherever it lands;
		// the machine without an id serves everything itself.
		lp := startAt(plain)
		if r := poll(owner, lp.readKey, nil); r.Status != http.StatusNotFound || r.Header.Get("Fly-Replay") != "" {
			t.Errorf("id-less login at a machine with an id: %d %v", r.Status, r.Header)
		}
		lo := startAt(owner)
		if r := poll(plain, lo.readKey, nil); r.Status != http.StatusNotFound || r.Header.Get("Fly-Replay") != "" {
			t.Errorf("a login with an owner at a machine without an id: %d %v", r.Status, r.Header)
		}
	})
}

// TestMachineIDChecked: FLY_MACHINE_ID goes into a response header, so
// anything but a machine id stops start-up.
func TestMachineIDChecked(t *testing.T) {
	for _, id := range []string{"148E21EA7D4E08", "x;instance=evil", "a b", strings.Repeat("a", 80)} {
		code, out := testkit.ExitStatus(t, testkit.Command(t, testkit.RaceBinary(t), map[string]string{
			"CLIENT_ID": "x", "CLIENT_SECRET": clientSecret,
			"REDIRECT_URI": "https://h.example.com/redirect", "AUTHORIZE_ENDPOINT": "https://p.example.com/a",
			"TOKEN_ENDPOINT": "https://p.example.com/t", "PORT": "1", "FLY_MACHINE_ID": id,
		}), 10*time.Second)
		if code != 2 || !strings.Contains(out, "FLY_MACHINE_ID: not a machine id") {
			t.Errorf("FLY_MACHINE_ID=%q: exit status %d\n%s", id, code, out)
		}
	}
}

// TestSeveralAppsSeveralMachines: several apps on several machines together. Each app's logins are
// routed to their owner under the app's own path, and a read key of one app
// replayed to its owner is still refused by the other app there.
func TestSeveralAppsSeveralMachines(t *testing.T) {
	c := newCluster(t, clusterOptions{machines: 3, apps: []string{"hubspot-plugin", "google-sheets-plugin"}})
	hub, sheets := c.forApp("hubspot-plugin"), c.forApp("google-sheets-plugin")
	var wg sync.WaitGroup
	for _, app := range []*cluster{hub, sheets} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, l := range app.runJourneys(t, 40, 10, nil) {
				checkCompleted(t, l)
				if !strings.Contains(l.back, app.base+"/redirect?") {
					t.Errorf("redirect URI %s is not under %s", l.back, app.base)
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 10; i++ {
		l, err := hub.authorize()
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := sheets.pollOnce(l.readKey); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Errorf("hubspot read key at google-sheets-plugin/poll: %d %s", r.Status, r.Body)
		}
	}
	if c.proxy.replays.Load() == 0 {
		t.Error("nothing was replayed")
	}
}

// TestSealKeyRotation: during a rolling deploy that changes SEAL_KEY, old
// and new machines run side by side. Rotated in one step, an old machine
// cannot open a read key sealed by a new one, so it cannot even see whom to
// replay to: the plugin gets 400. Rotated in the two steps of
// docs/multi-machine.md (first SEAL_KEYS_OLD=<new>, then SEAL_KEY=<new>
// SEAL_KEYS_OLD=<old>), every machine opens what any other sealed.
func TestSealKeyRotation(t *testing.T) {
	const oldKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	const newKey = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	t.Run("one step: old and new machines refuse each other's keys", func(t *testing.T) {
		c := newCluster(t, clusterOptions{machines: 2, env: func(i int, env map[string]string) {
			if i == 0 { // not yet updated
				env["SEAL_KEY"] = oldKey
			} else { // updated
				env["SEAL_KEY"], env["SEAL_KEYS_OLD"] = newKey, oldKey
			}
		}})
		oldM, newM := c.machines[machineIDs[0]], c.machines[machineIDs[1]]
		r, err := do("POST", newM.URL+"/authorize", pluginHeader)
		if err != nil || r.Status != 200 {
			t.Fatal(err, r.Status)
		}
		var v struct{ ReadKey string }
		json.Unmarshal(r.Body, &v)
		r, err = do("POST", oldM.URL+"/poll?readKey="+v.ReadKey, pluginHeader)
		if err != nil || r.Status != http.StatusBadRequest {
			t.Errorf("new machine's read key at the old machine: %v %d %s, want 400", err, r.Status, r.Body)
		}
	})
	t.Run("two steps: every login completes", func(t *testing.T) {
		c := newCluster(t, clusterOptions{machines: 3, env: func(i int, env map[string]string) {
			if i == 0 { // after step 1, not yet updated to step 2
				env["SEAL_KEY"], env["SEAL_KEYS_OLD"] = oldKey, newKey
			} else { // step 2
				env["SEAL_KEY"], env["SEAL_KEYS_OLD"] = newKey, oldKey
			}
		}})
		for _, l := range c.runJourneys(t, 60, 10, nil) {
			checkCompleted(t, l)
		}
	})
}
