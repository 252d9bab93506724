// Unit tests of the per-login choices, the login window, logout's revocation, refresh's one
// retry, api() through the passthrough, the diagnosis of failed requests and subscribe(),
// against fake handoffs on 127.0.0.1 (or a fake fetch where a browser's CORS is the point).
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHandoffClient, HandoffError } from "../dist/handoff.js"
import { memoryStorage, startServer, json, oauthError } from "./helpers.mjs"

const AUTH_URL = "https://provider.example/authorize?client_id=c&state=s"
const TOKENS = { access_token: "at-1", refresh_token: "rt-1", token_type: "Bearer", expires_in: 3600 }

/** Stored tokens as the client writes them. */
const saved = (tokens = TOKENS, expiresAt = Date.now() + 3600_000) => JSON.stringify({ tokens, expiresAt, obtainedAt: Date.now() })

/**
 * A fake handoff. routes maps "METHOD /path" to (res, req, body, url) => void; /authorize and
 * /poll have defaults (tokens on the first poll) and anything else is 404 not_found.
 */
async function fake(routes = {}) {
  const srv = await startServer((req, body, res) => {
    const url = new URL(req.url, "http://x")
    const route = routes[`${req.method} ${url.pathname}`]
    if (route) return route(res, req, body, url)
    if (req.method === "POST" && url.pathname === "/authorize") return json(res, 200, { url: AUTH_URL, readKey: "rk" })
    if (req.method === "POST" && url.pathname === "/poll" && url.searchParams.get("readKey") === "rk") return json(res, 200, TOKENS)
    if (req.method === "POST" && url.pathname === "/poll") return oauthError(res, 400, "invalid_request", "readKey is missing")
    return oauthError(res, 404, "not_found", "no such route")
  })
  return {
    ...srv,
    only: (path) => srv.requests.filter((r) => new URL(r.url, "http://x").pathname === path),
    polls: () => srv.requests.filter((r) => r.url.startsWith("/poll?readKey=")),
  }
}

/** A scripted login window: records what the client asked of it. */
function loginWindow() {
  const w = { opened: 0, navigated: [], closed: 0 }
  w.open = () => {
    w.opened++
    return { navigate: (url) => void w.navigated.push(url), close: () => void w.closed++ }
  }
  return w
}

function client(srv, extra = {}) {
  const storage = extra.storage ?? memoryStorage()
  const c = createHandoffClient({ baseUrl: srv.url, storage, pollIntervalMs: 5, refreshRetryDelayMs: 0, ...extra })
  return { c, storage }
}

/**
 * A fake handoff (routes as for fake, closed when the test ends) and a client that holds
 * tokens (saved(tokens)), as after a login; the rest of opts goes to client().
 */
async function loggedIn(t, routes = {}, { tokens, ...opts } = {}) {
  const srv = await fake(routes)
  t.after(srv.close)
  const { c, storage } = client(srv, opts)
  storage.setItem("handoff.tokens", saved(tokens))
  return { srv, c, storage }
}

// ---- per-login choices ---------------------------------------------------------------

test("authorize: the per-login choices travel as a form body (a CORS simple request)", async (t) => {
  const srv = await fake()
  t.after(srv.close)
  const { c } = client(srv)

  const got = await c.authorize({
    scope: ["profile", "files.read"],
    loginHint: "ada@example.com",
    prompt: "consent",
    shop: "acme-store",
    params: { subdomain_region: "eu" },
  })
  assert.deepEqual(got, { url: AUTH_URL, readKey: "rk" })
  const [r] = srv.only("/authorize")
  assert.equal(r.method, "POST")
  assert.equal(r.url, "/authorize", "nothing in the URL (a login hint is personal data)")
  assert.equal(r.headers["content-type"], "application/x-www-form-urlencoded")
  assert.equal(r.headers["authorization"], undefined)
  assert.deepEqual(Object.fromEntries(new URLSearchParams(r.body)), {
    scope: "profile files.read",
    login_hint: "ada@example.com",
    prompt: "consent",
    shop: "acme-store",
    subdomain_region: "eu",
  })

  await c.authorize({ scope: "  profile  ", subdomain: "team", tenant: "contoso", region: "us" })
  assert.deepEqual(Object.fromEntries(new URLSearchParams(srv.only("/authorize")[1].body)), {
    scope: "profile",
    subdomain: "team",
    tenant: "contoso",
    region: "us",
  })

  // Without choices: no body, no Content-Type, exactly what the worker's clients send.
  await c.authorize()
  await c.authorize({ scope: [], loginHint: "" })
  for (const r of srv.only("/authorize").slice(2)) {
    assert.equal(r.body, "")
    assert.equal(r.headers["content-type"], undefined)
  }
})

test("login: the choices reach /authorize; a refused one is the server's 400 naming it", async (t) => {
  const srv = await fake({
    "POST /authorize": (res, req, body) =>
      new URLSearchParams(body).get("scope") === "admin"
        ? oauthError(res, 400, "invalid_request", "scope: admin is not in ALLOWED_SCOPES")
        : json(res, 200, { url: AUTH_URL, readKey: "rk" }),
  })
  t.after(srv.close)
  const w = loginWindow()
  const { c } = client(srv, { openLoginWindow: w.open })

  await c.login({ scope: "profile", prompt: "select_account" })
  assert.equal(new URLSearchParams(srv.only("/authorize")[0].body).get("prompt"), "select_account")

  await assert.rejects(c.login({ scope: "admin" }), {
    name: "HandoffError",
    code: "invalid_request",
    status: 400,
    description: "scope: admin is not in ALLOWED_SCOPES",
  })
  assert.equal(w.closed, 1, "the blank window of the refused login is closed")
  assert.equal(w.navigated.length, 1, "the refused login never went to the provider")
})

// ---- the login window ----------------------------------------------------------------

test("login: the window opens synchronously, in the caller's click, then goes to the provider", async (t) => {
  const srv = await fake()
  t.after(srv.close)
  const w = loginWindow()
  const { c } = client(srv, { openLoginWindow: w.open })

  const p = c.login()
  assert.equal(w.opened, 1, "opened before login() returned, so the click's user activation still holds")
  assert.equal(srv.requests.length, 0, "and before /authorize was sent")
  const stored = await p
  assert.deepEqual(w.navigated, [AUTH_URL])
  assert.equal(w.closed, 0, "the provider's window is the user's to close")
  assert.equal(stored.tokens.access_token, "at-1")
})

test("login: a blocked window is reported with the URL, and the login goes on polling", async (t) => {
  let polls = 0
  const srv = await fake({
    "POST /poll": (res) => (++polls < 3 ? oauthError(res, 404, "authorization_pending", "waiting") : json(res, 200, TOKENS)),
  })
  t.after(srv.close)
  const reported = []
  const { c } = client(srv, { openLoginWindow: () => null })

  const stored = await c.login({
    onPopupBlocked: (url) => {
      reported.push({ url, pollsSoFar: polls })
    },
  })
  assert.deepEqual(reported, [{ url: AUTH_URL, pollsSoFar: 0 }], "reported once, as soon as /authorize answered")
  assert.equal(stored.tokens.access_token, "at-1", "the user opened the link and the polling picked up the tokens")
  assert.equal(polls, 3)
})

test("login: a blocked window without onPopupBlocked rejects popup_blocked with the URL, and nothing is polled", async (t) => {
  const srv = await fake()
  t.after(srv.close)
  const { c } = client(srv, { openLoginWindow: () => null })
  await assert.rejects(c.login(), (err) => {
    assert.ok(err instanceof HandoffError)
    assert.equal(err.code, "popup_blocked")
    assert.equal(err.url, AUTH_URL)
    assert.equal(err.retryable, false)
    return true
  })
  assert.equal(srv.polls().length, 0)
})

test("login: cancelling stops polling at once; a later login starts afresh", async (t) => {
  let cancel
  const srv = await fake({
    "POST /poll": (res) => {
      cancel.abort(new Error("user pressed Cancel")) // cancelled while the first poll is answered
      oauthError(res, 404, "authorization_pending", "waiting")
    },
  })
  t.after(srv.close)
  const w = loginWindow()
  const { c } = client(srv, { openLoginWindow: w.open })

  cancel = new AbortController()
  await assert.rejects(c.login({ signal: cancel.signal }), { code: "aborted" })
  assert.equal(srv.polls().length, 1, "the poll that was on the wire, and no other")

  // The next login's polls are its own; the cancelled one sends none.
  cancel = new AbortController()
  const second = c.login({ signal: cancel.signal })
  await assert.rejects(second, { code: "aborted" })
  assert.equal(srv.polls().length, 2)
  assert.equal(w.closed, 0, "both windows had gone to the provider")
})

test("login: cancelled before /authorize answers, the still blank window is closed", async (t) => {
  const cancel = new AbortController()
  const srv = await fake({
    "POST /authorize": (res) => {
      cancel.abort()
      json(res, 200, { url: AUTH_URL, readKey: "rk" })
    },
  })
  t.after(srv.close)
  const w = loginWindow()
  const { c } = client(srv, { openLoginWindow: w.open })
  await assert.rejects(c.login({ signal: cancel.signal }), { code: "aborted" })
  assert.equal(w.closed, 1)
  assert.deepEqual(w.navigated, [])
  assert.equal(srv.polls().length, 0)
})

test("login: the default window needs a browser; the openWindow option still works without one", async (t) => {
  const srv = await fake()
  t.after(srv.close)
  const { c } = client(srv)
  await assert.rejects(c.login(), (err) => err instanceof TypeError && /no window/.test(err.message))
  assert.equal(srv.requests.length, 0)
  const opened = []
  const { c: c2 } = client(srv, { openWindow: (url) => opened.push(url) })
  await c2.login()
  assert.deepEqual(opened, [AUTH_URL])
})

// ---- logout ------------------------------------------------------------------------

test("logout: revokes the refresh token in a form body, forgets the tokens at once", async (t) => {
  const { srv, c, storage } = await loggedIn(t, { "POST /revoke": (res) => json(res, 200, {}) })

  const p = c.logout()
  assert.equal(storage.getItem("handoff.tokens"), null, "forgotten before handoff answers")
  assert.equal(c.isLoggedIn(), false)
  assert.deepEqual(await p, { revoked: true })
  const [r] = srv.only("/revoke")
  assert.equal(r.method, "POST")
  assert.equal(r.url, "/revoke", "the token stays out of the URL")
  assert.equal(r.headers["content-type"], "application/x-www-form-urlencoded")
  assert.deepEqual(Object.fromEntries(new URLSearchParams(r.body)), { token: "rt-1", token_type_hint: "refresh_token" })
})

test("logout: without a refresh token the access token is revoked", async (t) => {
  const { srv, c } = await loggedIn(t, { "POST /revoke": (res) => json(res, 200, {}) }, { tokens: { access_token: "at+/=1" } })
  assert.deepEqual(await c.logout(), { revoked: true })
  assert.deepEqual(Object.fromEntries(new URLSearchParams(srv.only("/revoke")[0].body)), {
    token: "at+/=1",
    token_type_hint: "access_token",
  })
})

test("logout: 501 unsupported_token_type means nothing to revoke; the tokens are forgotten", async (t) => {
  const { c, storage } = await loggedIn(t, {
    "POST /revoke": (res) => oauthError(res, 501, "unsupported_token_type", "this app has no revocation endpoint"),
  })
  const out = await c.logout()
  assert.equal(out.revoked, false)
  assert.equal(out.reason, "unsupported")
  assert.equal(out.error.code, "unsupported_token_type")
  assert.equal(out.error.status, 501)
  assert.equal(storage.getItem("handoff.tokens"), null)
})

test("logout: a handoff without /revoke (404 not_found) reads as unsupported too", async (t) => {
  const { c } = await loggedIn(t)
  const out = await c.logout()
  assert.equal(out.reason, "unsupported")
  assert.equal(out.error.code, "not_found")
})

test("logout: a provider failure or no answer is reported, never thrown; the tokens are forgotten", async (t) => {
  const { c, storage } = await loggedIn(t, { "POST /revoke": (res) => oauthError(res, 502, "server_error", "the provider failed") })
  const out = await c.logout()
  assert.equal(out.revoked, false)
  assert.equal(out.reason, "failed")
  assert.equal(out.error.code, "server_error")
  assert.equal(out.error.retryable, true)
  assert.equal(storage.getItem("handoff.tokens"), null)

  const down = await fake()
  await down.close()
  const { c: c2, storage: s2 } = client(down)
  s2.setItem("handoff.tokens", saved())
  const out2 = await c2.logout()
  assert.equal(out2.reason, "failed")
  assert.equal(out2.error.code, "network_error")
  assert.equal(s2.getItem("handoff.tokens"), null)
})

test("logout: not logged in sends nothing", async (t) => {
  const srv = await fake()
  t.after(srv.close)
  const { c } = client(srv)
  assert.deepEqual(await c.logout(), { revoked: false, reason: "not_logged_in" })
  assert.equal(srv.requests.length, 0)
})

// ---- refresh's one retry ---------------------------------------------------------------

test("refresh: a lost answer is retried once with the same refresh token (handoff replays it)", async (t) => {
  let calls = 0
  const { srv, c } = await loggedIn(t, {
    "POST /refresh": (res, req) => {
      if (++calls === 1) return req.socket.destroy() // the answer never arrives
      json(res, 200, { access_token: "at-2", refresh_token: "rt-2", expires_in: 3600 })
    },
  })

  const stored = await c.refresh()
  assert.equal(stored.tokens.access_token, "at-2")
  assert.equal(stored.tokens.refresh_token, "rt-2")
  const sent = srv.only("/refresh").map((r) => new URLSearchParams(r.body).get("refresh_token"))
  assert.deepEqual(sent, ["rt-1", "rt-1"], "both tries carry the token the provider may already have rotated")
})

test("refresh: a second network error is thrown, retryable, with the tokens kept", async (t) => {
  const { srv, c } = await loggedIn(t, { "POST /refresh": (res, req) => req.socket.destroy() })
  await assert.rejects(c.refresh(), { code: "network_error", retryable: true })
  assert.equal(srv.only("/refresh").length, 2, "one retry, no more")
  assert.equal(c.getTokens().tokens.refresh_token, "rt-1")
})

test("refresh: an answer (502, 504, 400) is never retried", async (t) => {
  for (const [status, code] of [
    [502, "server_error"],
    [504, "temporarily_unavailable"],
    [400, "invalid_grant"],
  ]) {
    const srv = await fake({ "POST /refresh": (res) => oauthError(res, status, code, "no") })
    const { c, storage } = client(srv)
    storage.setItem("handoff.tokens", saved())
    await assert.rejects(c.refresh(), { code, status })
    assert.equal(srv.only("/refresh").length, 1, `${status}: one request`)
    await srv.close()
  }
})

// ---- api() -------------------------------------------------------------------------------

test("api: an absolute URL goes to /api/<host>/<path>?<query> with the stored token", async (t) => {
  const { srv, c } = await loggedIn(t, { "POST /api/api.notion.com/v1/search": (res) => json(res, 200, { results: [] }, { "X-RateLimit-Remaining": "9" }) })

  const res = await c.api("https://api.notion.com/v1/search?page_size=5#ignored", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Notion-Version": "2022-06-28" },
    body: JSON.stringify({ query: "x" }),
  })
  assert.equal(res.status, 200)
  assert.deepEqual(await res.json(), { results: [] })
  assert.equal(res.headers.get("X-RateLimit-Remaining"), "9")
  const [r] = srv.requests
  assert.equal(r.url, "/api/api.notion.com/v1/search?page_size=5")
  assert.equal(r.headers["authorization"], "Bearer at-1")
  assert.equal(r.headers["notion-version"], "2022-06-28")
  assert.equal(r.headers["content-type"], "application/json")
  assert.equal(r.body, '{"query":"x"}')
})

test("api: a path with apiBase; a port is kept; what cannot be forwarded is refused before sending", async (t) => {
  const { srv, c } = await loggedIn(t, {
    "GET /api/api.hubapi.com/crm/v3/objects/contacts": (res) => json(res, 200, {}),
    "GET /api/localhost:9000/mock/userinfo": (res) => json(res, 200, { name: "ada" }),
  }, { apiBase: "https://api.hubapi.com" })
  assert.equal((await c.api("/crm/v3/objects/contacts")).status, 200)
  assert.deepEqual(await (await c.api("http://localhost:9000/mock/userinfo")).json(), { name: "ada" })

  const { c: bare, storage: s2 } = client(srv)
  s2.setItem("handoff.tokens", saved())
  await assert.rejects(bare.api("/v1/users"), TypeError)
  await assert.rejects(bare.api("api.notion.com/v1/users"), TypeError)
  await assert.rejects(bare.api("https://user:pw@api.notion.com/v1"), TypeError)
  await assert.rejects(bare.api("ftp://api.notion.com/v1"), TypeError)
  assert.equal(srv.requests.length, 2)
})

test("api: a 401 refreshes once and retries with the new token; a second 401 is returned as it is", async (t) => {
  let refreshes = 0
  const { srv, c } = await loggedIn(t, {
    "PUT /api/api.example.com/v1/thing": (res, req) =>
      req.headers["authorization"] === "Bearer at-2" && req.url.endsWith("ok")
        ? json(res, 200, { ok: true })
        : oauthError(res, 401, "invalid_token", "expired"),
    "POST /refresh": (res) => {
      refreshes++
      json(res, 200, { access_token: `at-${refreshes + 1}`, refresh_token: `rt-${refreshes + 1}`, expires_in: 3600 })
    },
  })

  const res = await c.api("https://api.example.com/v1/thing?ok", { method: "PUT", body: "payload" })
  assert.equal(res.status, 200)
  assert.equal(refreshes, 1)
  const tries = srv.requests.filter((r) => r.url.startsWith("/api/"))
  assert.deepEqual(
    tries.map((r) => [r.method, r.headers["authorization"], r.body]),
    [
      ["PUT", "Bearer at-1", "payload"],
      ["PUT", "Bearer at-2", "payload"],
    ],
  )
  assert.equal(c.getTokens().tokens.refresh_token, "rt-2")

  const again = await c.api("https://api.example.com/v1/thing?no", { method: "PUT" })
  assert.equal(again.status, 401, "the API's own answer, after one refresh")
  assert.equal((await again.json()).error, "invalid_token")
  assert.equal(refreshes, 2)
})

test("api: a refused refresh after a 401 means log in again; a stream body is not sent twice", async (t) => {
  const { srv, c } = await loggedIn(t, {
    "POST /api/api.example.com/upload": (res) => oauthError(res, 401, "invalid_token", "revoked"),
    "GET /api/api.example.com/me": (res) => oauthError(res, 401, "invalid_token", "revoked"),
    "POST /refresh": (res) => oauthError(res, 400, "invalid_grant", "revoked"),
  })

  const stream = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new TextEncoder().encode("bytes"))
      ctl.close()
    },
  })
  const res = await c.api("https://api.example.com/upload", { method: "POST", body: stream, duplex: "half" })
  assert.equal(res.status, 401)
  assert.equal(srv.only("/refresh").length, 0)

  await assert.rejects(c.api("https://api.example.com/me"), { code: "invalid_grant", loginRequired: true })
  assert.equal(c.getTokens(), null)
  await assert.rejects(c.api("https://api.example.com/me"), { code: "login_required" })
})

// ---- what went wrong when there is no answer ----------------------------------------------

/**
 * A fetch that behaves as a browser's does for a page whose origin handoff refuses (or for a
 * server that is down): CORS-mode requests fail with a bare TypeError; a no-cors request gets
 * an opaque response when the server is up.
 */
function browserFetch({ up, refused }) {
  const calls = []
  const f = async (url, init = {}) => {
    calls.push({ url, method: init.method ?? "GET", mode: init.mode ?? "cors" })
    if (!up) throw new TypeError("Failed to fetch")
    if (init.mode === "no-cors") return { type: "opaque", status: 0, ok: false, text: async () => "" }
    if (refused) throw new TypeError("Failed to fetch")
    return new Response('{"error":"invalid_request","error_description":"readKey is missing"}', { status: 400 })
  }
  return { f, calls }
}

test("a refused origin reads as such, not as 'could not reach', and the blank window is closed", async () => {
  const { f, calls } = browserFetch({ up: true, refused: true })
  const w = loginWindow()
  const c = createHandoffClient({ baseUrl: "https://handoff.example/app", storage: memoryStorage(), fetch: f, openLoginWindow: w.open })
  await assert.rejects(c.login(), (err) => {
    assert.ok(err instanceof HandoffError)
    assert.equal(err.code, "origin_refused")
    assert.match(err.description, /^handoff refused this plugin's origin.*: check PLUGIN_ID \/ ALLOWED_ORIGINS/)
    assert.equal(err.retryable, false)
    assert.ok(err.cause instanceof TypeError)
    return true
  })
  assert.equal(w.closed, 1)
  assert.deepEqual(calls, [
    { url: "https://handoff.example/app/authorize", method: "POST", mode: "cors" },
    { url: "https://handoff.example/app/poll", method: "POST", mode: "cors" },
    { url: "https://handoff.example/healthz", method: "GET", mode: "no-cors" },
  ])
})

test("a server that is down reads as 'could not reach', retryable", async () => {
  const { f } = browserFetch({ up: false })
  const c = createHandoffClient({ baseUrl: "https://handoff.example", storage: memoryStorage(), fetch: f, openLoginWindow: () => null })
  await assert.rejects(c.login(), { code: "network_error", retryable: true, description: /could not reach handoff at https:\/\/handoff\.example/ })
})

test("cancelled while the client asks why a request failed: aborted, at once", async () => {
  const cancel = new AbortController()
  const probes = []
  const f = (url, init = {}) => {
    if (url.endsWith("/authorize")) return Promise.reject(new TypeError("Failed to fetch"))
    // A probe that hangs until its signal fires; the cancel comes while it hangs.
    probes.push(url)
    queueMicrotask(() => cancel.abort())
    return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))))
  }
  const c = createHandoffClient({ baseUrl: "https://handoff.example", storage: memoryStorage(), fetch: f, openLoginWindow: () => null })
  await assert.rejects(c.login({ signal: cancel.signal }), { code: "aborted" })
  assert.deepEqual(probes, ["https://handoff.example/poll"], "the second question is not asked")
})

test("a refresh whose origin is refused is not retried", async () => {
  const { f, calls } = browserFetch({ up: true, refused: true })
  const storage = memoryStorage()
  storage.setItem("handoff.tokens", saved())
  const c = createHandoffClient({ baseUrl: "https://handoff.example", storage, fetch: f, refreshRetryDelayMs: 0 })
  await assert.rejects(c.refresh(), { code: "origin_refused" })
  assert.equal(calls.filter((x) => x.url.endsWith("/refresh")).length, 1)
  assert.notEqual(c.getTokens(), null, "tokens kept: the server said nothing about them")
})

test("an api() call that fails while handoff answers this page points at the passthrough's configuration", async (t) => {
  const { c } = await loggedIn(t, { "GET /api/api.example.com/x": (res, req) => req.socket.destroy() })
  await assert.rejects(c.api("https://api.example.com/x"), { code: "network_error", description: /API_ORIGINS/ })
})

// ---- subscribe ---------------------------------------------------------------------------

test("subscribe: told of login, refresh and logout; getTokens is the same object until the tokens change", async (t) => {
  const srv = await fake({
    "POST /refresh": (res) => json(res, 200, { access_token: "at-2", expires_in: 3600 }),
    "POST /revoke": (res) => json(res, 200, {}),
  })
  t.after(srv.close)
  const { c } = client(srv, { openLoginWindow: loginWindow().open })
  const seen = []
  const off = c.subscribe(() => seen.push(c.getTokens()?.tokens.access_token ?? null))

  await c.login()
  const a = c.getTokens()
  assert.equal(c.getTokens(), a, "a stable snapshot")
  await c.refresh()
  assert.notEqual(c.getTokens(), a)
  await c.logout()
  assert.deepEqual(seen, ["at-1", "at-2", null])
  off()
  await c.login()
  assert.equal(seen.length, 3, "unsubscribed")
})
