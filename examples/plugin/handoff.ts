/**
 * handoff.ts — a dependency-free client for a handoff OAuth token broker,
 * to copy into a Framer plugin.
 *
 *   const auth = createHandoffClient({ baseUrl: "https://my-handoff.fly.dev" })
 *   button.onclick = () => auth.login()      // call it in the click: it opens the login window first
 *   const token = await auth.getAccessToken() // refreshed when it expires within 60 s
 *   const res = await auth.api("https://api.notion.com/v1/users/me") // through handoff's API passthrough
 *   await auth.logout()                      // revokes the grant, forgets the tokens
 *
 * The wire contract is handoff's docs/protocol.md (compatible with framer/plugin-oauth):
 *   POST {base}/authorize  [form body: scope, login_hint, prompt, shop, …]
 *                                          -> 200 {url, readKey} | 400 invalid_request | 429
 *   POST {base}/poll?readKey=KEY           -> 200 tokens | 404 authorization_pending |
 *                                             429 slow_down (Retry-After) | 410 ERROR (stop) | 400
 *   POST {base}/refresh  body refresh_token=…
 *                                          -> 200 tokens | 4xx provider refusal | 502/504
 *   POST {base}/revoke   body token=…&token_type_hint=…
 *                                          -> 200 {} | 501 unsupported_token_type | 4xx | 502/504
 *   ANY  {base}/api/<host>/<path>?<query>  -> the provider API's own answer (API passthrough)
 *
 * Every OAuth call is a CORS "simple request" (POST with no custom headers; bodies are
 * form-encoded, a CORS-safelisted type), so none needs a preflight. api() sends an
 * Authorization header, so the browser preflights it; handoff answers that preflight.
 */

/** The provider's token response, kept as handoff delivered it. */
export interface TokenResponse {
  access_token?: string
  refresh_token?: string
  token_type?: string
  expires_in?: number | string
  scope?: string
  [field: string]: unknown
}

/** What the client keeps in storage. */
export interface StoredTokens {
  /** The whole provider JSON (Slack's `authed_user`, Notion's `workspace_id`, … stay available). */
  tokens: TokenResponse
  /** Absolute expiry of the access token in ms since the epoch, or null when the provider gave no `expires_in`. */
  expiresAt: number | null
  /** When the tokens were received, ms since the epoch. */
  obtainedAt: number
}

/** The subset of the Web Storage API the client needs (localStorage fits). */
export interface StorageLike {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** A login window the client opened before it knew the provider's URL. */
export interface LoginWindow {
  /** Sends the window to the provider's login page. */
  navigate(url: string): void
  /** Closes the window while it is still blank (the login failed or was cancelled before reaching the provider). */
  close(): void
}

export interface HandoffClientOptions {
  /** handoff's base URL, e.g. `https://my-handoff.fly.dev` (with APPS: `https://my-handoff.fly.dev/my-app`). */
  baseUrl: string
  /** Storage key for the tokens. Default `"handoff.tokens"`; use one per provider when a plugin has several. */
  storageKey?: string
  /** Where tokens are kept. Default `localStorage`. */
  storage?: StorageLike
  /** fetch implementation. Default the global `fetch`. */
  fetch?: FetchLike
  /**
   * Opens the login window synchronously, when login() is called (in the click), before
   * /authorize answers; returns null when the browser blocked it. Default: `window.open("about:blank")`,
   * later sent to the provider's URL. Ignored when `openWindow` is given.
   */
  openLoginWindow?: () => LoginWindow | null
  /**
   * Opens the provider's login page once its URL is known, instead of `openLoginWindow`
   * (for tests, or an environment with its own way to open a browser). No popup-blocker detection.
   */
  openWindow?: (url: string) => void
  /** Give up a login after this long. Default 10 minutes (handoff's LOGIN_TTL). */
  loginTimeoutMs?: number
  /** Pause between polls. Default 1500 ms. */
  pollIntervalMs?: number
  /** Consecutive network failures (or 5xx answers) tolerated while polling before giving up. Default 5. */
  maxNetworkRetries?: number
  /** Limit on each OAuth request. Default 15 s. */
  requestTimeoutMs?: number
  /** Limit on each api() request (until its answer's headers arrive). Default 60 s. */
  apiTimeoutMs?: number
  /** getAccessToken() refreshes when the token expires within this margin. Default 60 s. */
  refreshMarginMs?: number
  /** Pause before refresh() retries once after a network error. Default 1000 ms. */
  refreshRetryDelayMs?: number
  /** Origin that api("/path") calls go to, e.g. `https://api.notion.com`. */
  apiBase?: string
}

/** Per-login choices sent to /authorize (docs/protocol.md#authorize). Nothing here can widen what the app allows. */
export interface AuthorizeParams {
  /** Scopes for this login; every one must be in the app's ALLOWED_SCOPES. Default: the app's SCOPE. */
  scope?: string | readonly string[]
  /** Pre-fills the provider's login form (an e-mail address, usually). */
  loginHint?: string
  /** `consent` asks again (incremental scopes), `select_account` lets the user switch accounts. */
  prompt?: "none" | "login" | "consent" | "select_account"
  /** Template variables of the app's provider, e.g. Shopify's shop (`acme` for acme.myshopify.com). */
  shop?: string
  subdomain?: string
  tenant?: string
  region?: string
  /** Any other template variable of the provider, sent as it is. */
  params?: Readonly<Record<string, string>>
}

export interface LoginOptions extends AuthorizeParams {
  /** Cancels the login (the user pressed Cancel, or closed the plugin's dialog). Stops polling at once. */
  signal?: AbortSignal
  /**
   * Called as soon as /authorize answers when the browser blocked the login window, with the
   * provider's URL: show it as a link ("open the login page") and the login goes on polling.
   * Without it, a blocked window rejects login() with `popup_blocked` (the URL in `error.url`).
   */
  onPopupBlocked?: (url: string) => void
}

/** What logout() did. The local tokens are forgotten in every case. */
export interface LogoutResult {
  /** True when the provider revoked the grant. */
  revoked: boolean
  /**
   * Why not: `not_logged_in` (no tokens), `unsupported` (handoff has no revocation endpoint for this
   * provider, 501, so there is nothing to revoke there), or `failed` (see `error`; the grant may still exist).
   */
  reason?: "not_logged_in" | "unsupported" | "failed"
  error?: HandoffError
}

/** Error codes: handoff's OAuth-style codes (passed through from the server) plus the client's own. */
export type HandoffErrorCode =
  // from handoff / the provider
  | "access_denied"
  | "expired_token"
  | "invalid_grant"
  | "invalid_scope"
  | "server_error"
  | "temporarily_unavailable"
  | "already_delivered"
  | "invalid_request"
  | "unsupported_token_type"
  | "slow_down"
  | "not_found"
  // from this client
  | "login_required" // no tokens, or the refresh token was refused: call login()
  | "login_timeout" // login() gave up after loginTimeoutMs
  | "aborted" // the AbortSignal fired
  | "popup_blocked" // the browser blocked the login window; error.url is the page to open from a click
  | "origin_refused" // handoff answers, but its CORS rules refuse this page's origin (PLUGIN_ID / ALLOWED_ORIGINS)
  | "network_error" // handoff could not be reached
  | "invalid_response" // handoff answered something this client does not understand
  | (string & {}) // any other code the provider sends (e.g. "invalid_client")

export class HandoffError extends Error {
  override readonly name = "HandoffError"
  /** OAuth-style error code (`access_denied`, `invalid_grant`, …). */
  readonly code: HandoffErrorCode
  /** Human-readable explanation (the server's `error_description` when it sent one). */
  readonly description: string
  /** HTTP status of the answer that caused the error; 0 when there was no answer. */
  readonly status: number
  /** True when trying the same call again later may succeed (network trouble, 502/504, 429). */
  readonly retryable: boolean
  /** True when the user has to log in again (no tokens, or the refresh token was refused). */
  readonly loginRequired: boolean
  /** With `popup_blocked`: the provider's login page, for a "click here" link. */
  readonly url: string | undefined

  constructor(
    code: HandoffErrorCode,
    description: string,
    init: { status?: number; retryable?: boolean; loginRequired?: boolean; url?: string; cause?: unknown } = {},
  ) {
    super(`${code}: ${description}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = code
    this.description = description
    this.status = init.status ?? 0
    this.retryable = init.retryable ?? false
    this.loginRequired = init.loginRequired ?? false
    this.url = init.url
  }
}

export interface HandoffClient {
  /**
   * Runs the whole login: opens the login window (synchronously: call it in a click handler),
   * /authorize, sends the window to the provider, polls, stores. Resolves with the stored tokens.
   */
  login(options?: LoginOptions): Promise<StoredTokens>
  /** Only starts a login: POST /authorize with the per-login choices. For a flow of your own. */
  authorize(params?: AuthorizeParams, options?: { signal?: AbortSignal }): Promise<{ url: string; readKey: string }>
  /** Refreshes the tokens with the stored refresh token and stores the answer. Retries once on a network error. */
  refresh(): Promise<StoredTokens>
  /** A valid access token, refreshed first when it expires within refreshMarginMs. */
  getAccessToken(): Promise<string>
  /**
   * fetch for the provider's API through handoff's API passthrough (`/api/<host>/<path>`), with the
   * stored access token as `Authorization: Bearer …` (in place of any the caller set). On a 401 it
   * refreshes once and retries.
   * `target` is an absolute URL (`https://api.notion.com/v1/users/me`) or, with the apiBase option, a path.
   * Resolves with the API's answer, whatever its status, as fetch does.
   */
  api(target: string, init?: RequestInit): Promise<Response>
  /** The stored tokens, or null. The same object until the tokens change. */
  getTokens(): StoredTokens | null
  /** True when there are tokens that are unexpired or can be refreshed. */
  isLoggedIn(): boolean
  /** Revokes the grant through handoff's /revoke and forgets the tokens. Never rejects: see the result. */
  logout(): Promise<LogoutResult>
  /** Forgets the tokens here, without telling the provider. */
  forget(): void
  /** Calls listener whenever the stored tokens change (login, refresh, logout, another window). Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void
}

const DEFAULTS = {
  storageKey: "handoff.tokens",
  loginTimeoutMs: 10 * 60 * 1000,
  pollIntervalMs: 1500,
  maxNetworkRetries: 5,
  requestTimeoutMs: 15 * 1000,
  apiTimeoutMs: 60 * 1000,
  refreshMarginMs: 60 * 1000,
  refreshRetryDelayMs: 1000,
}

/** Longest pause between polls after network errors. */
const MAX_BACKOFF_MS = 15 * 1000
/** Longest Retry-After honoured. */
const MAX_RETRY_AFTER_MS = 60 * 1000

export function createHandoffClient(options: HandoffClientOptions): HandoffClient {
  if (!options || typeof options.baseUrl !== "string" || options.baseUrl === "") {
    throw new TypeError("createHandoffClient: baseUrl is required")
  }
  const base = options.baseUrl.replace(/\/+$/, "")
  const storageKey = options.storageKey ?? DEFAULTS.storageKey
  const loginTimeoutMs = options.loginTimeoutMs ?? DEFAULTS.loginTimeoutMs
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULTS.pollIntervalMs
  const maxNetworkRetries = options.maxNetworkRetries ?? DEFAULTS.maxNetworkRetries
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs
  const apiTimeoutMs = options.apiTimeoutMs ?? DEFAULTS.apiTimeoutMs
  const refreshMarginMs = options.refreshMarginMs ?? DEFAULTS.refreshMarginMs
  const refreshRetryDelayMs = options.refreshRetryDelayMs ?? DEFAULTS.refreshRetryDelayMs

  // Resolved lazily so the module can be imported where there is no window or localStorage.
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const storage = (): StorageLike => {
    if (options.storage) return options.storage
    const ls = (globalThis as { localStorage?: StorageLike }).localStorage
    if (!ls) throw new TypeError("handoff: no localStorage here; pass the storage option")
    return ls
  }
  const openLoginWindow = options.openLoginWindow ?? openBlankWindow

  // ---- storage -------------------------------------------------------------

  // getTokens() returns the same object while the stored string is unchanged, so it can be
  // used as a snapshot (React's useSyncExternalStore) without re-rendering on every read.
  let cachedRaw: string | null = null
  let cached: StoredTokens | null = null
  const listeners = new Set<() => void>()

  function getTokens(): StoredTokens | null {
    const raw = storage().getItem(storageKey)
    if (raw === cachedRaw) return cached
    let parsed: StoredTokens | null = null
    if (raw !== null) {
      try {
        const v = JSON.parse(raw) as StoredTokens
        if (v && typeof v === "object" && v.tokens && typeof v.tokens === "object") parsed = v
      } catch {
        // unreadable entry: dropped below
      }
      if (parsed === null) {
        storage().removeItem(storageKey)
        cachedRaw = null
        cached = null
        return null
      }
    }
    cachedRaw = raw
    cached = parsed
    return parsed
  }

  function notify(): void {
    for (const l of [...listeners]) {
      try {
        l()
      } catch {
        // a listener's failure is its own
      }
    }
  }

  function store(tokens: TokenResponse): StoredTokens {
    const now = Date.now()
    const expiresIn = toSeconds(tokens.expires_in)
    const stored: StoredTokens = {
      tokens,
      expiresAt: expiresIn === null ? null : now + expiresIn * 1000,
      obtainedAt: now,
    }
    storage().setItem(storageKey, JSON.stringify(stored))
    notify()
    return getTokens() ?? stored
  }

  function forget(): void {
    const had = storage().getItem(storageKey) !== null
    storage().removeItem(storageKey)
    if (had) notify()
  }

  function isLoggedIn(): boolean {
    const t = getTokens()
    if (!t) return false
    if (typeof t.tokens.refresh_token === "string" && t.tokens.refresh_token !== "") return true
    return t.expiresAt === null || t.expiresAt > Date.now()
  }

  // Another window of the plugin logging in or out changes localStorage: tell the listeners.
  type EventTargetLike = {
    addEventListener(t: string, l: (e: { key?: string | null }) => void): void
    removeEventListener(t: string, l: (e: { key?: string | null }) => void): void
  }
  const onStorageEvent = (e: { key?: string | null }) => {
    if (e.key === storageKey || e.key === null) notify()
  }

  function subscribe(listener: () => void): () => void {
    listeners.add(listener)
    const target = globalThis as unknown as Partial<EventTargetLike>
    if (listeners.size === 1 && !options.storage && typeof target.addEventListener === "function") {
      target.addEventListener("storage", onStorageEvent)
    }
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && typeof target.removeEventListener === "function") {
        target.removeEventListener("storage", onStorageEvent)
      }
    }
  }

  // ---- HTTP ------------------------------------------------------------------

  /**
   * One request with a timeout, linked to an optional outer signal. A request that gets no
   * answer becomes a HandoffError: `origin_refused` when handoff is up but its CORS rules refuse
   * this page (see diagnose), else `network_error`.
   */
  async function request(
    path: string,
    init: RequestInit,
    outer?: AbortSignal | null,
    timeoutMs = requestTimeoutMs,
    what = "handoff",
  ): Promise<Response> {
    const cancelled = what === "handoff" ? undefined : `the ${what}`
    throwIfAborted(outer, cancelled)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    const onAbort = () => controller.abort()
    outer?.addEventListener("abort", onAbort, { once: true })
    try {
      return await doFetch(base + path, { ...init, signal: controller.signal })
    } catch (err) {
      throwIfAborted(outer, cancelled)
      if (controller.signal.aborted) {
        throw new HandoffError("network_error", `handoff did not answer within ${timeoutMs} ms`, { retryable: true, cause: err })
      }
      const diagnosis = await diagnose(err, what, outer)
      throwIfAborted(outer, cancelled) // cancelled while the server was being asked
      throw diagnosis
    } finally {
      clearTimeout(timer)
      outer?.removeEventListener("abort", onAbort)
    }
  }

  /** fetch with a timeout, for the probes; resolves null on any failure, or when outer aborts. */
  async function probe(url: string, init: RequestInit, outer?: AbortSignal | null): Promise<Response | null> {
    if (outer?.aborted) return null
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), requestTimeoutMs)
    const onAbort = () => controller.abort()
    outer?.addEventListener("abort", onAbort, { once: true })
    try {
      const res = await doFetch(url, { ...init, signal: controller.signal })
      await discard(res)
      return res
    } catch {
      return null
    } finally {
      clearTimeout(timer)
      outer?.removeEventListener("abort", onAbort)
    }
  }

  /**
   * Why did a request get no answer? A browser reports a refused CORS origin exactly as it
   * reports a server that is down (a TypeError, nothing else to read), so the client asks twice:
   *  1. POST {base}/poll with no key, a CORS simple request that handoff answers (400) with its
   *     CORS headers. If the page can read that answer, its origin is allowed and the server is
   *     up: the failure was this request's own (a dropped connection; for api(), a refused
   *     preflight).
   *  2. Otherwise GET {origin}/healthz with mode "no-cors", which the browser lets through
   *     without CORS and hands back as an opaque response. An opaque response means the server
   *     answered: it is up, and refusing this page's origin. No answer at all: it is down or the
   *     URL is wrong.
   * Outside a browser (Node) there is no CORS and no opaque response: step 2 never says "refused".
   */
  async function diagnose(cause: unknown, what: string, outer?: AbortSignal | null): Promise<HandoffError> {
    const allowed = await probe(base + "/poll", { method: "POST" }, outer)
    if (allowed) {
      const description =
        what === "handoff"
          ? `the request to handoff at ${base} failed, though handoff answers this page (a dropped connection?)`
          : `handoff at ${base} answers this page but the ${what} got no answer: is the API passthrough on for that host (API_ORIGINS), and does it allow this method?`
      return new HandoffError("network_error", description, { retryable: true, cause })
    }
    let origin = base
    try {
      origin = new URL(base).origin
    } catch {
      // keep base
    }
    const opaque = await probe(origin + "/healthz", { method: "GET", mode: "no-cors" }, outer)
    if (opaque && opaque.type === "opaque") {
      const here = (globalThis as { location?: { origin?: string } }).location?.origin
      return new HandoffError(
        "origin_refused",
        `handoff refused this plugin's origin${here ? ` (${here})` : ""}: check PLUGIN_ID / ALLOWED_ORIGINS on the server at ${base}`,
        { cause },
      )
    }
    return new HandoffError("network_error", `could not reach handoff at ${base}: is it running, and is the URL right?`, {
      retryable: true,
      cause,
    })
  }

  /** A POST whose body is a form (a CORS-safelisted content type), or no body at all. */
  function formPost(form: URLSearchParams): RequestInit {
    const body = form.toString()
    if (body === "") return { method: "POST" }
    return { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body }
  }

  // ---- login -----------------------------------------------------------------

  async function authorize(
    params: AuthorizeParams = {},
    { signal }: { signal?: AbortSignal } = {},
  ): Promise<{ url: string; readKey: string }> {
    // No parameters: no body and no headers, exactly what the worker's clients send.
    const res = await request("/authorize", formPost(authorizeForm(params)), signal)
    if (res.status !== 200) throw await errorFrom(res, "could not start the login")
    const body = await readJson(res)
    const url = body?.["url"]
    const readKey = body?.["readKey"]
    if (typeof url !== "string" || typeof readKey !== "string" || url === "" || readKey === "") {
      throw new HandoffError("invalid_response", "/authorize did not return {url, readKey}", { status: 200 })
    }
    return { url, readKey }
  }

  // Not async: the login window must open in the caller's click, before anything is awaited.
  function login(loginOptions: LoginOptions = {}): Promise<StoredTokens> {
    const { signal } = loginOptions
    if (signal?.aborted) return Promise.reject(abortedError(signal))
    let win: LoginWindow | null | undefined // undefined: the openWindow option opens it later
    if (!options.openWindow) {
      try {
        win = openLoginWindow()
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return runLogin(loginOptions, win)
  }

  async function runLogin(loginOptions: LoginOptions, win: LoginWindow | null | undefined): Promise<StoredTokens> {
    const { signal, onPopupBlocked } = loginOptions
    const deadline = Date.now() + loginTimeoutMs
    let navigated = false
    try {
      const { url, readKey } = await authorize(loginOptions, { signal })
      throwIfAborted(signal)
      if (win === undefined) {
        options.openWindow!(url)
      } else if (win === null) {
        if (!onPopupBlocked) {
          throw new HandoffError("popup_blocked", "the browser blocked the login window; open the login page from a click", { url })
        }
        onPopupBlocked(url)
      } else {
        win.navigate(url)
        navigated = true
      }
      return await pollForTokens(readKey, signal, deadline)
    } catch (err) {
      // A window still blank (the login never reached the provider): close it. Once it shows
      // the provider's pages it is the user's: handoff's page there says what happened, and
      // the default window, detached from the plugin (no opener), cannot be closed from here.
      if (win && !navigated) win.close()
      throw err
    }
  }

  async function pollForTokens(readKey: string, signal: AbortSignal | undefined, deadline: number): Promise<StoredTokens> {
    const pollPath = "/poll?readKey=" + encodeURIComponent(readKey)
    let wait = pollIntervalMs
    let failures = 0
    for (;;) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        throw new HandoffError("login_timeout", `no tokens after ${Math.round(loginTimeoutMs / 1000)} s; start the login again`)
      }
      await sleep(Math.min(wait, remaining), signal)
      wait = pollIntervalMs

      let res: Response
      try {
        res = await request(pollPath, { method: "POST" }, signal)
      } catch (err) {
        if (err instanceof HandoffError && err.code === "network_error" && failures < maxNetworkRetries) {
          failures++
          wait = backoff(failures)
          continue
        }
        throw err
      }

      if (res.status === 200) {
        const tokens = await readJson(res)
        if (!tokens) throw new HandoffError("invalid_response", "/poll returned tokens that are not a JSON object", { status: 200 })
        return store(tokens as TokenResponse)
      }
      if (res.status >= 500) {
        // A proxy or a restarting machine: transient, like a network error.
        const err = await errorFrom(res, "handoff failed")
        if (failures < maxNetworkRetries) {
          failures++
          wait = backoff(failures)
          continue
        }
        throw err
      }
      failures = 0
      if (res.status === 404) {
        const err = await errorFrom(res, "")
        // authorization_pending: keep polling. Another 404 (not_found) means a wrong baseUrl.
        if (err.code === "authorization_pending" || err.code === "unknown_error") continue
        throw err
      }
      if (res.status === 429) {
        // slow_down: wait what the server asks, then poll again at the usual pace.
        await discard(res)
        wait = retryAfterMs(res.headers.get("Retry-After")) + pollIntervalMs
        continue
      }
      // 410: the login is over without tokens (access_denied, expired_token, …). 400: bad key. Others: unexpected.
      throw await errorFrom(res, "the login failed")
    }
  }

  function backoff(n: number): number {
    return Math.min(pollIntervalMs * 2 ** n, MAX_BACKOFF_MS)
  }

  // ---- refresh ---------------------------------------------------------------

  let inFlight: Promise<StoredTokens> | null = null

  /** Concurrent callers share one request, so a rotating refresh token is used only once. */
  function refresh(): Promise<StoredTokens> {
    if (!inFlight) {
      inFlight = doRefresh().finally(() => {
        inFlight = null
      })
    }
    return inFlight
  }

  async function doRefresh(): Promise<StoredTokens> {
    const current = getTokens()
    const refreshToken = current?.tokens.refresh_token
    if (typeof refreshToken !== "string" || refreshToken === "") {
      throw new HandoffError("login_required", "no refresh token stored; log in again", { loginRequired: true })
    }
    // The token travels in the body, never in the URL (access logs, proxies).
    const init = formPost(new URLSearchParams({ refresh_token: refreshToken }))
    let res: Response
    try {
      res = await request("/refresh", init)
    } catch (err) {
      if (!(err instanceof HandoffError && err.code === "network_error")) throw err
      // The answer may be lost after the provider rotated the token. handoff replays a
      // successful answer to the same refresh token for 30 s, so one retry with the same
      // token is safe and gets the new tokens instead of a logout.
      await sleep(refreshRetryDelayMs)
      res = await request("/refresh", init)
    }
    if (res.status === 200) {
      const tokens = await readJson(res)
      if (!tokens) throw new HandoffError("invalid_response", "/refresh returned tokens that are not a JSON object", { status: 200 })
      // handoff adds the old refresh token when the provider omits it; keep it here too for older servers.
      if (tokens["refresh_token"] === undefined) tokens["refresh_token"] = refreshToken
      return store(tokens as TokenResponse)
    }
    const err = await errorFrom(res, "could not refresh the tokens")
    const notRefused =
      res.status >= 500 || res.status === 429 || res.status === 408 || res.status === 405 || err.code === "not_found"
    if (notRefused) throw err
    // The provider refused the refresh token (invalid_grant, …): it is useless now.
    // Clear only if nobody stored new tokens meanwhile.
    if (getTokens()?.tokens.refresh_token === refreshToken) forget()
    throw new HandoffError(err.code, `${err.description} — log in again`, {
      status: res.status,
      loginRequired: true,
    })
  }

  async function getAccessToken(): Promise<string> {
    let current = getTokens()
    if (!current) throw new HandoffError("login_required", "not logged in", { loginRequired: true })
    const now = Date.now()
    const expiring = current.expiresAt !== null && current.expiresAt - now <= refreshMarginMs
    if (expiring) {
      const canRefresh = typeof current.tokens.refresh_token === "string" && current.tokens.refresh_token !== ""
      if (canRefresh) {
        try {
          current = await refresh()
        } catch (err) {
          // Refresh failed for a passing reason but the token still works: use it.
          const stillValid = current.expiresAt !== null && current.expiresAt > Date.now()
          if (!(err instanceof HandoffError && err.retryable && stillValid)) throw err
        }
      } else if (current.expiresAt !== null && current.expiresAt <= now) {
        forget()
        throw new HandoffError("login_required", "the access token expired and there is no refresh token; log in again", {
          loginRequired: true,
        })
      }
    }
    const token = current.tokens.access_token
    if (typeof token !== "string" || token === "") {
      throw new HandoffError("invalid_response", "the stored tokens have no access_token (see getTokens() for the whole answer)")
    }
    return token
  }

  // ---- logout ----------------------------------------------------------------

  async function logout(): Promise<LogoutResult> {
    const current = getTokens()
    // The user asked to log out: forget the tokens here whatever the provider says.
    forget()
    const rt = current?.tokens.refresh_token
    const at = current?.tokens.access_token
    // Revoking the refresh token ends the grant at most providers (RFC 7009 §2.1).
    const [token, hint] =
      typeof rt === "string" && rt !== "" ? [rt, "refresh_token"] : typeof at === "string" && at !== "" ? [at, "access_token"] : ["", ""]
    if (token === "") return { revoked: false, reason: "not_logged_in" }
    try {
      const res = await request("/revoke", formPost(new URLSearchParams({ token, token_type_hint: hint })))
      if (res.status === 200) {
        await discard(res)
        return { revoked: true }
      }
      const error = await errorFrom(res, "could not revoke the grant")
      // 501: the app has no revocation endpoint, so there is nothing to revoke at the provider.
      // 404 not_found: a handoff from before /revoke existed; the same for the plugin.
      if (res.status === 501 || (res.status === 404 && error.code === "not_found")) {
        return { revoked: false, reason: "unsupported", error }
      }
      return { revoked: false, reason: "failed", error }
    } catch (err) {
      const error = err instanceof HandoffError ? err : new HandoffError("network_error", String(err), { retryable: true, cause: err })
      return { revoked: false, reason: "failed", error }
    }
  }

  // ---- API passthrough ---------------------------------------------------------

  async function api(target: string, init: RequestInit = {}): Promise<Response> {
    const path = apiPath(target, options.apiBase)
    const send = (token: string) => {
      const headers = new Headers(init.headers)
      headers.set("Authorization", `Bearer ${token}`)
      return request(path, { ...init, headers }, init.signal, apiTimeoutMs, "API request")
    }
    const token = await getAccessToken()
    const res = await send(token)
    if (res.status !== 401 || !replayable(init.body)) return res
    // The provider no longer accepts the token (revoked, or expired early): refresh once and
    // retry, unless another call already stored a newer token.
    await discard(res)
    const latest = getTokens()?.tokens.access_token
    const fresh = typeof latest === "string" && latest !== "" && latest !== token ? latest : (await refresh()).tokens.access_token
    if (typeof fresh !== "string" || fresh === "") {
      throw new HandoffError("invalid_response", "the refreshed tokens have no access_token")
    }
    return send(fresh)
  }

  return { login, authorize, refresh, getAccessToken, api, getTokens, isLoggedIn, logout, forget, subscribe }
}

// ---- helpers -------------------------------------------------------------------

/** The default login window: a blank one opened now (in the click), sent to the provider later. */
function openBlankWindow(): LoginWindow | null {
  const w = (globalThis as { window?: { open(url: string, target: string): WindowProxyLike | null } }).window
  if (!w) throw new TypeError("handoff: no window here; pass the openWindow or openLoginWindow option")
  // Not "noopener": that makes window.open return null, and the window could not be sent anywhere.
  const popup = w.open("about:blank", "_blank")
  if (!popup || popup.closed) return null
  try {
    // The provider's pages (and any site the login passes through) get no handle on the
    // plugin, as with "noopener". The window stays ours to navigate while it is blank.
    popup.opener = null
  } catch {
    // some browsers refuse; the window is still ours to navigate
  }
  return {
    navigate(url) {
      popup.location.href = url
    },
    close() {
      try {
        if (!popup.closed) popup.close()
      } catch {
        // nothing to do
      }
    },
  }
}

interface WindowProxyLike {
  closed: boolean
  opener: unknown
  location: { href: string }
  close(): void
}

/** The /authorize form for the per-login choices; empty when there are none. */
function authorizeForm(p: AuthorizeParams): URLSearchParams {
  const form = new URLSearchParams()
  const scope = typeof p.scope === "string" ? p.scope.trim() : p.scope ? p.scope.join(" ") : ""
  if (scope !== "") form.set("scope", scope)
  if (p.loginHint) form.set("login_hint", p.loginHint)
  if (p.prompt) form.set("prompt", p.prompt)
  for (const name of ["shop", "subdomain", "tenant", "region"] as const) {
    const v = p[name]
    if (typeof v === "string" && v !== "") form.set(name, v)
  }
  for (const [name, v] of Object.entries(p.params ?? {})) {
    if (typeof v === "string") form.set(name, v)
  }
  return form
}

/** `/api/<host>/<path>?<query>` for an absolute URL, or a path under apiBase. */
function apiPath(target: string, apiBase: string | undefined): string {
  let u: URL
  if (target.startsWith("/")) {
    if (!apiBase) throw new TypeError(`handoff api(): "${target}" is a path; give an absolute URL or the apiBase option`)
    u = new URL(target, apiBase)
  } else {
    try {
      u = new URL(target)
    } catch {
      throw new TypeError(`handoff api(): "${target}" is neither an absolute URL nor a path`)
    }
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new TypeError(`handoff api(): ${u.protocol} URLs are not supported`)
  if (u.username !== "" || u.password !== "") throw new TypeError("handoff api(): a URL with user info is not supported")
  return `/api/${u.host}${u.pathname}${u.search}`
}

/** A body fetch can send twice (a stream cannot). */
function replayable(body: RequestInit["body"]): boolean {
  if (body === undefined || body === null) return true
  const RS = (globalThis as { ReadableStream?: abstract new () => unknown }).ReadableStream
  return !(RS && body instanceof RS)
}

/** expires_in as seconds, or null when absent or not a positive number. */
function toSeconds(v: unknown): number | null {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN
  return Number.isFinite(n) && n > 0 ? n : null
}

/** The body as a JSON object, or null. */
async function readJson(res: Response): Promise<Record<string, unknown> | null> {
  try {
    const v: unknown = JSON.parse(await res.text())
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null
  } catch {
    return null
  }
}

async function discard(res: Response): Promise<void> {
  try {
    await res.text()
  } catch {
    // ignore (an opaque answer has no body to read)
  }
}

/** A HandoffError from an error answer `{error, error_description}`. */
async function errorFrom(res: Response, fallback: string): Promise<HandoffError> {
  const body = await readJson(res)
  const code = typeof body?.["error"] === "string" && body["error"] !== "" ? (body["error"] as string) : "unknown_error"
  const description =
    typeof body?.["error_description"] === "string" && body["error_description"] !== ""
      ? (body["error_description"] as string)
      : fallback || `HTTP ${res.status}`
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408
  return new HandoffError(code, description, { status: res.status, retryable })
}

/** Retry-After in ms: delta-seconds or an HTTP date; 1 s when missing or unreadable. */
function retryAfterMs(header: string | null): number {
  if (header !== null) {
    const h = header.trim()
    if (/^\d+$/.test(h)) return Math.min(Number(h) * 1000, MAX_RETRY_AFTER_MS)
    const date = Date.parse(h)
    if (!Number.isNaN(date)) return Math.min(Math.max(date - Date.now(), 0), MAX_RETRY_AFTER_MS)
  }
  return 1000
}

function abortedError(signal?: AbortSignal | null, what = "the login"): HandoffError {
  return new HandoffError("aborted", `${what} was cancelled`, { cause: signal?.reason })
}

function throwIfAborted(signal?: AbortSignal | null, what?: string): void {
  if (signal?.aborted) throw abortedError(signal, what)
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortedError(signal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    signal?.addEventListener("abort", onAbort, { once: true })
  })
}
