package multimachine

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// Machine ids as Fly gives them: 14 lowercase hex digits.
var machineIDs = []string{"148e21ea7d4e08", "3d8d9e1b2c4f68", "e784e1f7b23d18"}

const (
	clientID     = "multimachine-client"
	clientSecret = "multimachine-secret+/=SECRETMARK"
	pluginID     = "mmplugin"
	pluginOrigin = "https://" + pluginID + ".plugins.framercdn.com"
)

// machine is one handoff process: one Fly Machine.
type machine struct {
	*testkit.Proc
	id string
}

// startMachine starts handoff with env (plus PORT), built with -race when
// the tests are, and waits for /healthz. At the end of the test it is
// stopped as Fly does (SIGINT), and a data race it reported fails the test.
func startMachine(t testing.TB, env map[string]string) *machine {
	t.Helper()
	id := env["FLY_MACHINE_ID"]
	p := testkit.Start(t, testkit.Options{Vars: env, Race: true, Name: "machine " + id})
	return &machine{Proc: p, id: id}
}

// cluster is one Fly app: the proxy, its machines and the provider.
type cluster struct {
	proxy    *flyProxy
	url      string // the app's public URL: the proxy
	base     string // the plugin's base URL: url, or url/{app} with APPS
	provider *mockprovider.Provider
	provURL  string
	machines map[string]*machine
}

type clusterOptions struct {
	machines  int
	rateLimit string // RATE_LIMIT, default "on"
	// provider, when set, replaces internal/mockprovider (the benchmark's
	// stateless one).
	provider http.Handler
	// apps, when set, is APPS: each app has the same provider client and
	// its routes under /{app}/ (cluster.forApp gives its base URL).
	apps []string
	// env, when set, changes machine i's environment before it starts.
	env func(i int, env map[string]string)
}

func newCluster(t testing.TB, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{proxy: newFlyProxy(), machines: map[string]*machine{}}
	front := httptest.NewServer(c.proxy)
	t.Cleanup(front.Close)
	c.url = front.URL
	c.base = front.URL

	var prov http.Handler = o.provider
	if prov == nil {
		redirects := []string{c.url + "/redirect"}
		for _, a := range o.apps {
			redirects = append(redirects, c.url+"/"+a+"/redirect")
		}
		c.provider = mockprovider.New(mockprovider.Options{
			ClientID: clientID, ClientSecret: clientSecret, AutoApprove: true, RequirePKCE: true,
			RedirectURIs: redirects,
		})
		prov = c.provider
	}
	ps := httptest.NewServer(prov)
	t.Cleanup(ps.Close)
	c.provURL = ps.URL

	if o.rateLimit == "" {
		o.rateLimit = "on"
	}
	for i := 0; i < o.machines; i++ {
		env := map[string]string{
			"RATE_LIMIT": o.rateLimit,
			// What Fly sets on every Machine.
			"FLY_APP_NAME":   "handoff-test",
			"FLY_MACHINE_ID": machineIDs[i],
			"FLY_REGION":     "ams",
		}
		apps := map[string]string{"": "/redirect"} // prefix: redirect path
		if len(o.apps) > 0 {
			env["APPS"] = strings.Join(o.apps, ",")
			apps = map[string]string{}
			for _, a := range o.apps {
				apps[strings.ToUpper(strings.ReplaceAll(a, "-", "_"))+"_"] = "/" + a + "/redirect"
			}
		}
		for prefix, redirect := range apps {
			env[prefix+"CLIENT_ID"] = clientID
			env[prefix+"CLIENT_SECRET"] = clientSecret
			env[prefix+"REDIRECT_URI"] = c.url + redirect
			env[prefix+"AUTHORIZE_ENDPOINT"] = c.provURL + "/authorize"
			env[prefix+"TOKEN_ENDPOINT"] = c.provURL + "/token"
			env[prefix+"PLUGIN_ID"] = pluginID
		}
		if o.env != nil {
			o.env(i, env)
		}
		m := startMachine(t, env)
		c.machines[m.id] = m
		c.proxy.add(m)
	}
	t.Cleanup(func() {
		for _, v := range c.proxy.Violations() {
			t.Errorf("fly proxy: %s", v)
		}
	})
	return c
}

// forApp returns the cluster as the plugin of app sees it: its base URL is
// the app's path.
func (c *cluster) forApp(app string) *cluster {
	cc := *c
	cc.base = c.url + "/" + app
	return &cc
}

// crash takes a machine away as a failed host or a deploy does: Fly stops
// routing to it, the requests it is serving finish, the process dies
// (SIGKILL: its memory, and the tokens waiting in it, are gone), and
// replays to it then fail to connect.
func (c *cluster) crash(t testing.TB, id string) {
	t.Helper()
	b := c.proxy.backend(id)
	b.routable.Store(false)
	b.unreachable.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for b.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.machines[id].Kill()
	b.unreachable.Store(false) // now replays dial a closed port
}

// response is an answer, and the machine that made it (X-Test-Machine,
// set by the proxy; "" for a request straight to a machine).
type response struct {
	testkit.Response
	machine string
}

// do sends one request (with header) and reads the whole answer.
func do(method, u string, header http.Header) (response, error) {
	r, err := (&testkit.Plugin{}).Do(method, u, header, nil)
	return response{r, r.Header.Get("X-Test-Machine")}, err
}

var pluginHeader = http.Header{"Origin": {pluginOrigin}}

// plugin is the Framer plugin of the cluster's app, through the proxy.
func (c *cluster) plugin() *testkit.Plugin {
	return &testkit.Plugin{Base: c.base, Origin: pluginOrigin, PollEvery: 150 * time.Millisecond}
}

// login is what a plugin knows of one login, and how it went.
type login struct {
	plugin  *testkit.Plugin
	owner   string // the machine that answered /authorize
	authURL string
	readKey string
	back    string // where the provider sent the browser: REDIRECT_URI?code&state

	redirect response // the browser's visit to handoff's redirect route
	poll     response // the poll that ended the login (200 or 410)
	polls    int
	again    response // the poll after a 200
}

func (c *cluster) authorize() (*login, error) {
	p := c.plugin()
	l, err := p.Authorize()
	if err != nil {
		return nil, err
	}
	return &login{plugin: p, owner: l.Answer.Header.Get("X-Test-Machine"), authURL: l.URL, readKey: l.ReadKey}, nil
}

// consent plays the user at the provider (which approves at once): the
// provider answers with the redirect back to handoff.
func (l *login) consent() error {
	back, err := l.plugin.Consent(testkit.Login{URL: l.authURL}, true)
	l.back = back
	return err
}

// visit follows the provider's redirect to handoff, through the proxy.
func (l *login) visit() error {
	r, err := l.plugin.Visit(l.back)
	l.redirect = response{r, r.Header.Get("X-Test-Machine")}
	return err
}

func (c *cluster) pollOnce(readKey string) (response, error) {
	r, err := c.plugin().Poll(readKey)
	return response{r, r.Header.Get("X-Test-Machine")}, err
}

// journey is the whole Framer plugin journey through the proxy: authorize;
// the user's browser consents and comes back to the redirect route after a
// random pause while the plugin polls every 150 ms; then one more poll,
// which must say the tokens were already delivered.
func (c *cluster) journey() (*login, error) {
	l, err := c.authorize()
	if err != nil {
		return nil, err
	}
	browser := make(chan error, 1)
	go func() {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		if err := l.consent(); err != nil {
			browser <- err
			return
		}
		browser <- l.visit()
	}()
	err = c.pollUntilDone(l, 15*time.Second)
	if berr := <-browser; berr != nil && err == nil {
		err = berr
	}
	if err == nil && l.poll.Status == http.StatusOK {
		l.again, err = c.pollOnce(l.readKey)
	}
	return l, err
}

// pollUntilDone polls as Framer's plugins do until the answer is not 404.
func (c *cluster) pollUntilDone(l *login, limit time.Duration) error {
	r, polls, err := l.plugin.PollUntilDone(l.readKey, limit)
	l.poll, l.polls = response{r, r.Header.Get("X-Test-Machine")}, polls
	return err
}

// runJourneys runs n journeys, at most conc at once, and returns them in
// the order they finished.
func (c *cluster) runJourneys(t testing.TB, n, conc int, after func(done int)) []*login {
	t.Helper()
	var (
		mu   sync.Mutex
		all  []*login
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, conc)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l, err := c.journey()
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			}
			if l != nil {
				all = append(all, l)
			}
			done := len(all)
			mu.Unlock()
			if after != nil {
				after(done)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("journey: %v", err)
	}
	return all
}

// checkLogs fails the test if a machine's log holds a secret, a read key or
// a token.
func (c *cluster) checkLogs(t testing.TB, secrets []string) {
	t.Helper()
	for _, m := range c.machines {
		out := m.Out.String()
		for _, s := range append(secrets, clientSecret) {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("machine %s logged a secret value (%.12s…)", m.id, s)
			}
		}
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
