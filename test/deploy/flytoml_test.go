// Package deploy holds no code: its tests check the deployment files at the
// top of the repository (fly.toml, Dockerfile, .dockerignore) against what
// handoff needs, so that an edit that would break a deploy fails CI instead.
package deploy

import (
	"bufio"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"handoff/internal/metrics"
	"handoff/web"
)

const (
	// docs/protocol.md#configuration: SHUTDOWN_GRACE defaults to 15s; Fly must wait longer.
	shutdownGrace = 15 * time.Second
	// BENCHMARKS.md: the image stays under 20 MB; distroless/static adds ~2 MB.
	maxBinaryBytes = 18 << 20
)

// flyConfig is the part of fly.toml that handoff relies on. Every key the file
// uses must be here (see TestFlyTomlKnownKeys), so a misspelt key, which Fly
// would ignore, fails the test.
type flyConfig struct {
	App           string            `toml:"app"`
	PrimaryRegion string            `toml:"primary_region"`
	KillSignal    string            `toml:"kill_signal"`
	KillTimeout   any               `toml:"kill_timeout"` // "20s" or seconds
	Env           map[string]string `toml:"env"`
	HTTPService   struct {
		InternalPort       int  `toml:"internal_port"`
		ForceHTTPS         bool `toml:"force_https"`
		AutoStopMachines   any  `toml:"auto_stop_machines"` // "off"|"stop"|"suspend" or bool
		AutoStartMachines  bool `toml:"auto_start_machines"`
		MinMachinesRunning int  `toml:"min_machines_running"`
		Concurrency        struct {
			Type      string `toml:"type"`
			SoftLimit int    `toml:"soft_limit"`
			HardLimit int    `toml:"hard_limit"`
		} `toml:"concurrency"`
		Checks []struct {
			GracePeriod string `toml:"grace_period"`
			Interval    string `toml:"interval"`
			Timeout     string `toml:"timeout"`
			Method      string `toml:"method"`
			Path        string `toml:"path"`
		} `toml:"checks"`
	} `toml:"http_service"`
	VM []struct {
		Size   string `toml:"size"`
		Memory string `toml:"memory"`
	} `toml:"vm"`
	Metrics struct {
		Port int    `toml:"port"`
		Path string `toml:"path"`
	} `toml:"metrics"`
}

func loadFly(t *testing.T) (flyConfig, toml.MetaData) {
	t.Helper()
	var c flyConfig
	md, err := toml.DecodeFile(filepath.Join("..", "..", "fly.toml"), &c)
	if err != nil {
		t.Fatalf("fly.toml: %v", err)
	}
	return c, md
}

func TestFlyTomlKnownKeys(t *testing.T) {
	_, md := loadFly(t)
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("fly.toml has keys this test does not know (misspelt, or add them here after checking Fly's reference): %v", u)
	}
}

func TestFlyToml(t *testing.T) {
	c, md := loadFly(t)

	if c.App == "" {
		t.Error("app is empty")
	}
	if c.KillSignal != "SIGINT" {
		t.Errorf("kill_signal = %q, want SIGINT (handoff drains on it)", c.KillSignal)
	}
	if !md.IsDefined("kill_timeout") {
		t.Error("kill_timeout is not set (Fly's default, 5s, cuts a graceful shutdown short)")
	} else if d := flyDuration(t, c.KillTimeout); d <= shutdownGrace {
		t.Errorf("kill_timeout = %v, want more than SHUTDOWN_GRACE %v", d, shutdownGrace)
	}

	hs := c.HTTPService
	if !md.IsDefined("http_service") {
		t.Fatal("no [http_service]")
	}
	if hs.InternalPort != 8080 {
		t.Errorf("http_service.internal_port = %d, want 8080", hs.InternalPort)
	}
	if got := c.Env["PORT"]; got != "8080" {
		t.Errorf("[env] PORT = %q, want %q (= internal_port)", got, "8080")
	}
	if !hs.ForceHTTPS {
		t.Error("http_service.force_https is not true")
	}
	checkAutoStop(t, c)

	checkConcurrency(t, c, md)
	checkMetrics(t, c, md)

	var health bool
	for _, ch := range hs.Checks {
		if ch.Path == "/healthz" && strings.EqualFold(ch.Method, "GET") {
			health = true
			for name, v := range map[string]string{"grace_period": ch.GracePeriod, "interval": ch.Interval, "timeout": ch.Timeout} {
				if _, err := time.ParseDuration(v); err != nil {
					t.Errorf("health check %s = %q: %v", name, v, err)
				}
			}
		}
	}
	if !health {
		t.Error("no [[http_service.checks]] GET /healthz")
	}

	if len(c.VM) != 1 {
		t.Fatalf("want exactly one [[vm]], got %d", len(c.VM))
	}
	if c.VM[0].Size != "shared-cpu-1x" || !strings.EqualFold(c.VM[0].Memory, "256mb") {
		t.Errorf("[[vm]] = %q %q, want shared-cpu-1x 256mb", c.VM[0].Size, c.VM[0].Memory)
	}

	// Secrets come from `fly secrets set`, never from fly.toml.
	for k := range c.Env {
		if secretish.MatchString(k) {
			t.Errorf("[env] %s looks like a secret; use fly secrets set", k)
		}
	}
}

// checkAutoStop: Fly pauses an idle Machine, and what counts as load is not
// specified (a request a minute did not keep one up), so a plugin's polls
// cannot be relied on to. A stopped Machine loses the tokens waiting for
// their poll; a suspended one keeps its memory. So: "suspend", or "off" with
// a Machine always running (docs/deploy.md#idle-machines).
func checkAutoStop(t *testing.T, c flyConfig) {
	t.Helper()
	hs := c.HTTPService
	switch v := hs.AutoStopMachines; v {
	case "suspend":
		if !hs.AutoStartMachines {
			t.Error(`auto_stop_machines = "suspend" but auto_start_machines is false: the app would stay paused`)
		}
	case "off", false:
		if hs.MinMachinesRunning < 1 {
			t.Errorf(`auto_stop_machines = %v with min_machines_running = %d: want 1, a Machine always running`, v, hs.MinMachinesRunning)
		}
	default:
		t.Errorf(`auto_stop_machines = %v (%T), want "suspend", or "off" with min_machines_running = 1: a stopped Machine loses tokens waiting for their poll`, v, v)
	}
}

// checkMetrics: Fly scrapes [metrics] port and path; handoff serves them on
// METRICS_ADDR, a port apart from the public one (docs/protocol.md#metrics).
func checkMetrics(t *testing.T, c flyConfig, md toml.MetaData) {
	t.Helper()
	if !md.IsDefined("metrics") {
		t.Error("no [metrics]: Fly does not scrape handoff's metrics")
		return
	}
	if c.Metrics.Port != 9091 || c.Metrics.Path != metrics.Path {
		t.Errorf("[metrics] port = %d, path = %q; want 9091 and %q", c.Metrics.Port, c.Metrics.Path, metrics.Path)
	}
	addr := c.Env["METRICS_ADDR"]
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" || port != strconv.Itoa(c.Metrics.Port) {
		t.Errorf("[env] METRICS_ADDR = %q, want \":%d\" (every interface: Fly scrapes over its private network)", addr, c.Metrics.Port)
	}
	if c.Metrics.Port == c.HTTPService.InternalPort {
		t.Error("[metrics] port is the public internal_port: the metrics would be public")
	}
}

// checkConcurrency: Fly's proxy limits requests in flight (SECURITY.md property 8, BENCHMARKS.md).
// Every connection to the Machine comes from the proxy, one address, so the
// hard limit must leave room under handoff's per-address connection cap
// (256) for the proxy's idle pooled connections and its health checks; and
// 150 requests, each with at most a 64 KiB body, keep a 256 MB Machine safe.
func checkConcurrency(t *testing.T, c flyConfig, md toml.MetaData) {
	t.Helper()
	cc := c.HTTPService.Concurrency
	if !md.IsDefined("http_service", "concurrency") {
		t.Error("no [http_service.concurrency]: Fly's default is 20 connections, no hard limit")
		return
	}
	if cc.Type != "requests" {
		t.Errorf("http_service.concurrency.type = %q, want \"requests\" (the proxy pools connections; what loads handoff is requests)", cc.Type)
	}
	if cc.SoftLimit <= 0 || cc.SoftLimit > cc.HardLimit {
		t.Errorf("http_service.concurrency soft_limit = %d, want between 1 and hard_limit (%d)", cc.SoftLimit, cc.HardLimit)
	}
	const perAddressCap = 256 // web.MaxConnsPerIP, as SECURITY.md documents it
	if web.MaxConnsPerIP != perAddressCap {
		t.Errorf("web.MaxConnsPerIP = %d, documented as %d: update fly.toml's reasoning, SECURITY.md and this test", web.MaxConnsPerIP, perAddressCap)
	}
	if cc.HardLimit <= 0 || cc.HardLimit > 150 {
		t.Errorf("http_service.concurrency hard_limit = %d, want 1 to 150: at most 60%% of the per-address cap %d, which every connection from Fly's proxy counts against", cc.HardLimit, perAddressCap)
	}
}

func flyDuration(t *testing.T, v any) time.Duration {
	t.Helper()
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			t.Fatalf("kill_timeout %q: %v", x, err)
		}
		return d
	case int64:
		return time.Duration(x) * time.Second
	default:
		t.Fatalf("kill_timeout is %T", v)
		return 0
	}
}

var secretish = regexp.MustCompile(`(?i)SECRET|KEY|TOKEN|PASSWORD|PASSWD|CREDENTIAL`)

// dockerfile is the Dockerfile as instructions: comments dropped,
// continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// goBuildLine returns the RUN command that builds handoff.
func goBuildLine(t *testing.T, ins []instruction) string {
	t.Helper()
	var found []string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			found = append(found, in.args)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one RUN with go build, got %d: %q", len(found), found)
	}
	return found[0]
}

func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)

	build := goBuildLine(t, ins)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-o /handoff"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build line %q lacks %q", build, want)
		}
	}
	if !strings.Contains(build, `-ldflags='-s -w'`) && !strings.Contains(build, `-ldflags="-s -w"`) {
		t.Errorf("go build line %q lacks -ldflags='-s -w'", build)
	}

	var froms []string
	var modDownload, copyAll, copyMod = -1, -1, -1
	var expose8080, entry, nonroot bool
	var envPort string
	for i, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "RUN":
			if strings.Contains(in.args, "go mod download") && modDownload < 0 {
				modDownload = i
			}
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) >= 2 && !strings.HasPrefix(f[0], "--from") {
				if f[0] == "." && copyAll < 0 {
					copyAll = i
				}
				if f[0] == "go.mod" && slicesContains(f, "go.sum") && copyMod < 0 {
					copyMod = i
				}
			}
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				if p == "8080" || p == "8080/tcp" {
					expose8080 = true
				}
			}
		case "ENTRYPOINT":
			entry = in.args == `["/handoff"]`
		case "USER":
			nonroot = strings.HasPrefix(in.args, "nonroot") || strings.HasPrefix(in.args, "65532")
		case "ENV", "ARG":
			for _, name := range envNames(in.args) {
				if secretish.MatchString(name) {
					t.Errorf("%s %s: secrets must not be baked into the image", in.cmd, name)
				}
			}
			if in.cmd == "ENV" {
				for _, f := range strings.Fields(in.args) {
					if v, ok := strings.CutPrefix(f, "PORT="); ok {
						envPort = v
					}
				}
			}
		}
	}

	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %q", froms)
	} else {
		final := strings.Fields(froms[len(froms)-1])[0]
		if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
			t.Errorf("final stage is %q, want distroless static or scratch", final)
		}
		if strings.HasPrefix(final, "gcr.io/distroless/") && strings.HasSuffix(final, ":nonroot") {
			nonroot = true
		}
	}
	if !nonroot {
		t.Error("the final stage does not run as a non-root user")
	}
	if copyMod < 0 || modDownload < copyMod || (copyAll >= 0 && modDownload > copyAll) {
		t.Errorf("want COPY go.mod go.sum, then RUN go mod download, then COPY . (got %d, %d, %d)", copyMod, modDownload, copyAll)
	}
	if !expose8080 {
		t.Error("no EXPOSE 8080")
	}
	if strings.Trim(envPort, `"`) != "8080" {
		t.Errorf("ENV PORT = %q, want 8080", envPort)
	}
	if !entry {
		t.Error(`want ENTRYPOINT ["/handoff"]`)
	}
}

// envNames returns the variable names of an ENV or ARG instruction, in the
// KEY=value, KEY value and multi KEY=value forms.
func envNames(args string) []string {
	if !strings.Contains(args, "=") {
		return []string{strings.Fields(args)[0]}
	}
	var names []string
	for _, f := range strings.Fields(args) {
		if k, _, ok := strings.Cut(f, "="); ok {
			names = append(names, k)
		}
	}
	return names
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		have[strings.TrimPrefix(strings.TrimSpace(l), "**/")] = true
	}
	for _, want := range []string{".git", "node_modules", ".env", ".dev.vars", "*.pem"} {
		if !have[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// TestDockerBuildIsStatic runs the Dockerfile's own go build line (no Docker
// engine runs in CI) and checks the binary is static and small enough for the
// 20 MB image.
func TestDockerBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds handoff; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks a Linux ELF binary")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "main.go")); err != nil {
		t.Skip("no main.go yet")
	}
	line := goBuildLine(t, readDockerfile(t))
	out := filepath.Join(t.TempDir(), "handoff")
	cmdline := strings.Replace(line, "-o /handoff", "-o '"+out+"'", 1)
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table: -ldflags='-s -w' did not apply")
	}
	if st, err := os.Stat(out); err == nil && st.Size() > maxBinaryBytes {
		t.Errorf("binary is %d bytes, over %d", st.Size(), maxBinaryBytes)
	}
}

// TestFlyTomlIsNotLaunchRewritten: the documented path is `fly apps create`
// and `fly deploy`, which read fly.toml as it is. `fly launch --copy-config`
// writes it back through flyctl's serializer: its comments, which carry the
// reasons for each setting, are dropped, and an empty [build] is added
// (TestFlyTomlKnownKeys refuses it). So fly.toml must not tell anyone to run it.
func TestFlyTomlIsNotLaunchRewritten(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "fly.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "fly launch") && !strings.Contains(line, "rewrites") {
			t.Errorf("fly.toml suggests fly launch, which rewrites it: %q", line)
		}
	}
	if !strings.Contains(string(b), "fly apps create") {
		t.Error("fly.toml does not say to create the app with fly apps create")
	}
}

// TestDockerGoMatchesGoMod: the build stage's golang image carries go.mod's
// Go version exactly (the go line, or the toolchain line when there is one).
func TestDockerGoMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "go" && want == "":
			want = f[1]
		case len(f) == 2 && f[0] == "toolchain":
			want = strings.TrimPrefix(f[1], "go")
		}
	}
	if strings.Count(want, ".") != 2 {
		t.Fatalf("go.mod's Go version %q is not major.minor.patch: pin it so the image can match", want)
	}
	var golang []string
	for _, in := range readDockerfile(t) {
		if in.cmd != "FROM" {
			continue
		}
		image := strings.Fields(in.args)[0]
		if name, tag, ok := strings.Cut(image, ":"); ok && (name == "golang" || strings.HasSuffix(name, "/golang")) {
			golang = append(golang, tag)
			if v, _, _ := strings.Cut(tag, "-"); v != want {
				t.Errorf("FROM %s: Go %s, go.mod says %s", image, v, want)
			}
		}
	}
	if len(golang) == 0 {
		t.Error("no FROM golang:<version> stage")
	}
}
