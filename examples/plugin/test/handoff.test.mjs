// Unit tests of handoff.ts (compiled to dist/) against a fake handoff on 127.0.0.1.
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHandoffClient, HandoffError } from "../dist/handoff.js"
import { memoryStorage, recordingWindow, startServer, json, oauthError } from "./helpers.mjs"

const READ_KEY = "rk_abc+/=def" // characters that must be URL-encoded in the query
const TOKENS = { access_token: "at-1", refresh_token: "rt-1", token_type: "bearer", expires_in: 3600, scope: "a b" }

/** A fake handoff whose /poll answers follow `pollScript` (one function per poll; the last one repeats). */
async function fakeHandoff({ pollScript = [], refresh } = {}) {
  let polls = 0
  const srv = await startServer((req, body, res) => {
    const url = new URL(req.url, "http://x")
    if (req.method === "POST" && url.pathname === "/authorize") {
      return json(res, 200, { url: "https://provider.example/authorize?client_id=c&state=s", readKey: READ_KEY })
    }
    if (req.method === "POST" && url.pathname === "/poll") {
      if (url.searchParams.get("readKey") !== READ_KEY) return oauthError(res, 400, "invalid_request", "bad key")
      const step = pollScript[Math.min(polls, pollScript.length - 1)]
      polls++
      return step ? step(res, req) : oauthError(res, 404, "authorization_pending", "waiting")
    }
    if (req.method === "POST" && url.pathname === "/refresh" && refresh) return refresh(res, req, body)
    return oauthError(res, 404, "not_found", "no such route")
  })
  // Only the polls of the login: a failed request is followed by a key-less POST /poll, the
  // client's check that handoff still answers this page (see diagnose in handoff.ts).
  return { ...srv, polls: () => srv.requests.filter((r) => r.url.startsWith("/poll?readKey=")) }
}

const pending = (res) => oauthError(res, 404, "authorization_pending", "The user has not finished logging in")
const tokens = (value) => (res) => json(res, 200, value)

function client(srv, extra = {}) {
  const storage = extra.storage ?? memoryStorage()
  const win = recordingWindow()
  const c = createHandoffClient({
    baseUrl: srv.url + "/", // trailing slash is tolerated
    storage,
    openWindow: win.open,
    pollIntervalMs: 20,
    ...extra,
  })
  return { c, storage, win }
}

test("login: pending, pending, then 200 stores the tokens with an absolute expiry", async (t) => {
  const srv = await fakeHandoff({ pollScript: [pending, pending, tokens(TOKENS)] })
  t.after(srv.close)
  const { c, storage, win } = client(srv)

  const before = Date.now()
  const stored = await c.login()
  const after = Date.now()

  assert.deepEqual(win.opened, ["https://provider.example/authorize?client_id=c&state=s"])
  assert.deepEqual(stored.tokens, TOKENS, "the whole provider JSON is kept")
  assert.ok(stored.expiresAt >= before + 3600_000 && stored.expiresAt <= after + 3600_000)
  assert.deepEqual(JSON.parse(storage.getItem("handoff.tokens")), stored)
  assert.equal(srv.polls().length, 3)

  // /authorize is a CORS simple request: POST, no body, no Content-Type, no custom header.
  const auth = srv.requests.find((r) => r.url === "/authorize")
  assert.equal(auth.method, "POST")
  assert.equal(auth.body, "")
  assert.equal(auth.headers["content-type"], undefined)
  assert.equal(auth.headers["authorization"], undefined)
  // The poll carries the read key URL-encoded in the query, with no body.
  for (const p of srv.polls()) {
    assert.equal(p.method, "POST")
    assert.equal(p.url, "/poll?readKey=" + encodeURIComponent(READ_KEY))
    assert.equal(p.body, "")
  }
  assert.equal(c.isLoggedIn(), true)
  assert.equal(await c.getAccessToken(), "at-1")
})

test("login: 410 access_denied stops polling and surfaces the server's code", async (t) => {
  const srv = await fakeHandoff({
    pollScript: [pending, (res) => oauthError(res, 410, "access_denied", "The user cancelled the login")],
  })
  t.after(srv.close)
  const { c, storage } = client(srv)

  await assert.rejects(c.login(), (err) => {
    assert.ok(err instanceof HandoffError)
    assert.ok(err instanceof Error)
    assert.equal(err.name, "HandoffError")
    assert.equal(err.code, "access_denied")
    assert.equal(err.description, "The user cancelled the login")
    assert.equal(err.status, 410)
    assert.equal(err.retryable, false)
    return true
  })
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(srv.polls().length, 2, "no poll after the 410")
  assert.equal(storage.getItem("handoff.tokens"), null)
  assert.equal(c.isLoggedIn(), false)
})

for (const code of ["expired_token", "invalid_grant", "server_error", "temporarily_unavailable", "already_delivered"]) {
  test(`login: 410 ${code} is thrown with that code`, async (t) => {
    const srv = await fakeHandoff({ pollScript: [(res) => oauthError(res, 410, code, `because ${code}`)] })
    t.after(srv.close)
    const { c } = client(srv)
    await assert.rejects(c.login(), { name: "HandoffError", code, description: `because ${code}`, status: 410 })
  })
}

test("login: 400 invalid_request is thrown", async (t) => {
  const srv = await fakeHandoff({ pollScript: [(res) => oauthError(res, 400, "invalid_request", "unknown read key")] })
  t.after(srv.close)
  const { c } = client(srv)
  await assert.rejects(c.login(), { code: "invalid_request", status: 400, retryable: false })
})

test("login: 429 slow_down honours Retry-After and the login still succeeds", async (t) => {
  const srv = await fakeHandoff({
    pollScript: [
      pending,
      (res) => oauthError(res, 429, "slow_down", "polling too fast", { "Retry-After": "1" }),
      tokens(TOKENS),
    ],
  })
  t.after(srv.close)
  const { c } = client(srv, { pollIntervalMs: 50 })

  const stored = await c.login()
  assert.equal(stored.tokens.access_token, "at-1")
  const polls = srv.polls()
  assert.equal(polls.length, 3)
  const gap = polls[2].at - polls[1].at
  assert.ok(gap >= 1000 + 50 - 5, `waited Retry-After plus the interval after the 429 (gap ${gap} ms)`)
})

test("login: network errors are retried with backoff", async (t) => {
  const srv = await fakeHandoff({
    pollScript: [
      (res, req) => req.socket.destroy(), // connection reset
      (res, req) => req.socket.destroy(),
      (res) => oauthError(res, 502, "bad_gateway", "proxy"), // a proxy's 5xx counts the same way
      pending,
      tokens(TOKENS),
    ],
  })
  t.after(srv.close)
  const { c } = client(srv, { pollIntervalMs: 10 })
  const stored = await c.login()
  assert.equal(stored.tokens.access_token, "at-1")
  const polls = srv.polls()
  assert.equal(polls.length, 5)
  // backoff grows: 10*2, 10*4, 10*8 ms after the failures
  assert.ok(polls[3].at - polls[2].at >= 75, "third failure waited ~80 ms")
})

test("login: gives up after maxNetworkRetries consecutive network errors", async (t) => {
  const srv = await fakeHandoff({ pollScript: [(res, req) => req.socket.destroy()] })
  t.after(srv.close)
  const { c } = client(srv, { pollIntervalMs: 5, maxNetworkRetries: 2 })
  await assert.rejects(c.login(), { code: "network_error", retryable: true, status: 0 })
  assert.equal(srv.polls().length, 3)
})

test("login: gives up after loginTimeoutMs", async (t) => {
  const srv = await fakeHandoff({ pollScript: [pending] })
  t.after(srv.close)
  const { c, storage } = client(srv, { loginTimeoutMs: 300, pollIntervalMs: 40 })
  const start = Date.now()
  await assert.rejects(c.login(), { name: "HandoffError", code: "login_timeout", retryable: false })
  const took = Date.now() - start
  assert.ok(took >= 290, `not before loginTimeoutMs (took ${took} ms)`)
  const n = srv.polls().length
  await new Promise((r) => setTimeout(r, 150))
  assert.equal(srv.polls().length, n, "no poll after giving up")
  assert.equal(storage.getItem("handoff.tokens"), null)
})

test("login: an AbortSignal cancels the polling", async (t) => {
  const srv = await fakeHandoff({ pollScript: [pending] })
  t.after(srv.close)
  const { c } = client(srv, { pollIntervalMs: 30 })
  const ac = new AbortController()
  setTimeout(() => ac.abort(new Error("user closed the dialog")), 150)
  await assert.rejects(c.login({ signal: ac.signal }), (err) => {
    assert.equal(err.code, "aborted")
    assert.equal(err.cause.message, "user closed the dialog")
    return true
  })
  // A poll already on the wire when the abort fired may still reach the
  // server a moment later; after that, no new poll may start.
  await new Promise((r) => setTimeout(r, 40))
  const n = srv.polls().length
  assert.ok(n >= 2)
  await new Promise((r) => setTimeout(r, 120))
  assert.equal(srv.polls().length, n, "no poll after the abort")

  const already = new AbortController()
  already.abort()
  const before = srv.requests.length
  await assert.rejects(c.login({ signal: already.signal }), { code: "aborted" })
  assert.equal(srv.requests.length, before, "an aborted signal sends nothing")
})

test("login: a 404 that is not authorization_pending (wrong baseUrl) is thrown, not polled forever", async (t) => {
  const srv = await fakeHandoff()
  t.after(srv.close)
  const c = createHandoffClient({ baseUrl: srv.url + "/no-such-app", storage: memoryStorage(), openWindow() {}, pollIntervalMs: 10 })
  await assert.rejects(c.login(), { code: "not_found", status: 404 })
})

test("login: base URL with an app path prefix (APPS) is used for every route", async (t) => {
  const seen = []
  const srv = await startServer((req, body, res) => {
    seen.push(req.url)
    if (req.url === "/hubspot-plugin/authorize") return json(res, 200, { url: "https://p/a", readKey: "k" })
    if (req.url === "/hubspot-plugin/poll?readKey=k") return json(res, 200, TOKENS)
    oauthError(res, 404, "not_found")
  })
  t.after(srv.close)
  const c = createHandoffClient({ baseUrl: srv.url + "/hubspot-plugin", storage: memoryStorage(), openWindow() {}, pollIntervalMs: 5 })
  await c.login()
  assert.deepEqual(seen, ["/hubspot-plugin/authorize", "/hubspot-plugin/poll?readKey=k"])
})

test("refresh: sends the refresh token in a form body and stores the new tokens", async (t) => {
  const refreshToken = "rt+with/special=chars&more"
  const srv = await fakeHandoff({
    refresh: (res, req, body) => {
      // handoff adds the refresh token back when the provider omits it
      const sent = new URLSearchParams(body).get("refresh_token")
      json(res, 200, { access_token: "at-2", token_type: "bearer", expires_in: 1800, refresh_token: sent })
    },
  })
  t.after(srv.close)
  const { c, storage } = client(srv)
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: { ...TOKENS, refresh_token: refreshToken }, expiresAt: Date.now() + 3600_000, obtainedAt: Date.now() }))

  const before = Date.now()
  const stored = await c.refresh()
  const r = srv.requests.find((x) => x.url.startsWith("/refresh"))
  assert.equal(r.method, "POST")
  assert.equal(r.url, "/refresh", "nothing in the URL")
  assert.equal(r.headers["content-type"], "application/x-www-form-urlencoded")
  assert.equal(r.body, new URLSearchParams({ refresh_token: refreshToken }).toString())
  assert.equal(new URLSearchParams(r.body).get("refresh_token"), refreshToken)

  assert.equal(stored.tokens.access_token, "at-2")
  assert.equal(stored.tokens.refresh_token, refreshToken, "refresh token kept")
  assert.ok(stored.expiresAt >= before + 1800_000 && stored.expiresAt <= Date.now() + 1800_000)
  assert.deepEqual(JSON.parse(storage.getItem("handoff.tokens")), stored)
})

test("refresh: a rotated refresh token replaces the old one; an omitted one keeps the old one", async (t) => {
  let answer
  const srv = await fakeHandoff({ refresh: (res) => json(res, 200, answer) })
  t.after(srv.close)
  const { c, storage } = client(srv)
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: null, obtainedAt: 0 }))

  answer = { access_token: "at-2", refresh_token: "rt-2", expires_in: 60 }
  assert.equal((await c.refresh()).tokens.refresh_token, "rt-2")
  answer = { access_token: "at-3", expires_in: 60, extra: { nested: true } } // Google-style: no refresh_token
  const s = await c.refresh()
  assert.equal(s.tokens.refresh_token, "rt-2")
  assert.deepEqual(s.tokens.extra, { nested: true })
  assert.equal(new URLSearchParams(srv.requests.at(-1).body).get("refresh_token"), "rt-2")
})

test("refresh: invalid_grant clears the tokens and says to log in again", async (t) => {
  const srv = await fakeHandoff({
    refresh: (res) => oauthError(res, 400, "invalid_grant", "Token has been expired or revoked."),
  })
  t.after(srv.close)
  const { c, storage } = client(srv)
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() - 1000, obtainedAt: 0 }))

  await assert.rejects(c.refresh(), (err) => {
    assert.ok(err instanceof HandoffError)
    assert.equal(err.code, "invalid_grant")
    assert.match(err.description, /Token has been expired or revoked\..*log in again/)
    assert.equal(err.status, 400)
    assert.equal(err.retryable, false)
    assert.equal(err.loginRequired, true)
    return true
  })
  assert.equal(storage.getItem("handoff.tokens"), null)
  assert.equal(c.isLoggedIn(), false)
  await assert.rejects(c.getAccessToken(), { code: "login_required", loginRequired: true })
})

for (const [status, code] of [
  [502, "server_error"],
  [504, "temporarily_unavailable"],
  [429, "slow_down"],
]) {
  test(`refresh: ${status} ${code} is retryable and keeps the tokens`, async (t) => {
    const srv = await fakeHandoff({ refresh: (res) => oauthError(res, status, code, "try later") })
    t.after(srv.close)
    const { c, storage } = client(srv)
    const saved = JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() + 30_000, obtainedAt: 0 })
    storage.setItem("handoff.tokens", saved)
    await assert.rejects(c.refresh(), { code, status, retryable: true, loginRequired: false })
    assert.equal(storage.getItem("handoff.tokens"), saved)
    // getAccessToken falls back to the still-valid token when the refresh failed for a passing reason
    assert.equal(await c.getAccessToken(), "at-1")
  })
}

test("refresh: network failure is retryable and keeps the tokens", async (t) => {
  const srv = await fakeHandoff()
  await srv.close()
  const { c, storage } = client(srv)
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() - 1, obtainedAt: 0 }))
  await assert.rejects(c.refresh(), { code: "network_error", retryable: true })
  assert.notEqual(storage.getItem("handoff.tokens"), null)
  await assert.rejects(c.getAccessToken(), { code: "network_error" }, "expired token is not returned")
})

test("refresh: without a refresh token, login_required and no request", async (t) => {
  const srv = await fakeHandoff()
  t.after(srv.close)
  const { c, storage } = client(srv)
  await assert.rejects(c.refresh(), { code: "login_required" })
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: { access_token: "x" }, expiresAt: null, obtainedAt: 0 }))
  await assert.rejects(c.refresh(), { code: "login_required" })
  assert.equal(srv.requests.length, 0)
})

test("getAccessToken: refreshes when the token expires within 60 s, not before", async (t) => {
  let n = 0
  const srv = await fakeHandoff({
    refresh: (res) => {
      n++
      json(res, 200, { access_token: `fresh-${n}`, expires_in: 3600 })
    },
  })
  t.after(srv.close)
  const { c, storage } = client(srv)

  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() + 120_000, obtainedAt: 0 }))
  assert.equal(await c.getAccessToken(), "at-1", "2 minutes left: no refresh")
  assert.equal(n, 0)

  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() + 30_000, obtainedAt: 0 }))
  assert.equal(await c.getAccessToken(), "fresh-1", "30 s left: refreshed")
  assert.equal(n, 1)
  assert.equal(await c.getAccessToken(), "fresh-1", "the new token is stored")
  assert.equal(n, 1)
  assert.equal(c.getTokens().tokens.refresh_token, "rt-1", "old refresh token kept")

  // Expired, with concurrent callers: a single refresh request.
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: TOKENS, expiresAt: Date.now() - 5_000, obtainedAt: 0 }))
  const all = await Promise.all([c.getAccessToken(), c.getAccessToken(), c.getAccessToken()])
  assert.deepEqual(all, ["fresh-2", "fresh-2", "fresh-2"])
  assert.equal(n, 2)

  // No expires_in: never refreshed proactively.
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: { access_token: "forever" }, expiresAt: null, obtainedAt: 0 }))
  assert.equal(await c.getAccessToken(), "forever")
  assert.equal(n, 2)
})

test("getAccessToken: expired without a refresh token means log in again", async (t) => {
  const srv = await fakeHandoff()
  t.after(srv.close)
  const { c, storage } = client(srv)
  await assert.rejects(c.getAccessToken(), { code: "login_required", loginRequired: true })
  storage.setItem("handoff.tokens", JSON.stringify({ tokens: { access_token: "old", expires_in: 60 }, expiresAt: Date.now() - 1, obtainedAt: 0 }))
  assert.equal(c.isLoggedIn(), false)
  await assert.rejects(c.getAccessToken(), { code: "login_required" })
  assert.equal(storage.getItem("handoff.tokens"), null)
  assert.equal(srv.requests.length, 0)
})

test("forget clears the stored tokens; isLoggedIn follows", async (t) => {
  const srv = await fakeHandoff({ pollScript: [tokens(TOKENS)] })
  t.after(srv.close)
  const { c, storage } = client(srv, { storageKey: "my-plugin.google" })
  assert.equal(c.isLoggedIn(), false)
  await c.login()
  assert.ok(storage.getItem("my-plugin.google"))
  assert.equal(c.isLoggedIn(), true)
  c.forget()
  assert.equal(storage.getItem("my-plugin.google"), null)
  assert.equal(storage.map.size, 0)
  assert.equal(c.isLoggedIn(), false)
  assert.equal(c.getTokens(), null)
})

test("expires_in as a digit string still gives an absolute expiry; a corrupt entry is dropped", async (t) => {
  const srv = await fakeHandoff({ pollScript: [tokens({ access_token: "a", expires_in: "120" })] })
  t.after(srv.close)
  const { c, storage } = client(srv)
  const s = await c.login()
  assert.ok(Math.abs(s.expiresAt - (Date.now() + 120_000)) < 1000)
  storage.setItem("handoff.tokens", "{not json")
  assert.equal(c.getTokens(), null)
  assert.equal(storage.getItem("handoff.tokens"), null)
})

test("createHandoffClient needs a baseUrl; defaults need window/localStorage only when used", () => {
  assert.throws(() => createHandoffClient({}), TypeError)
  const c = createHandoffClient({ baseUrl: "http://127.0.0.1:1" })
  assert.throws(() => c.isLoggedIn(), /localStorage/)
})
