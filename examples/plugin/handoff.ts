/**
 * handoff.ts — a dependency-free client for a handoff OAuth token broker,
 * to copy into a Framer plugin.
 *
 *   const auth = createHandoffClient({ baseUrl: "https://my-handoff.fly.dev" })
 *   await auth.login()                       // opens the provider's login, waits for tokens
 *   const token = await auth.getAccessToken() // refreshed when it expires within 60 s
 *
 * Wire contract (handoff SPEC §1, compatible with framer/plugin-oauth):
 *   POST {base}/authorize                 -> 200 {url, readKey}
 *   POST {base}/poll?readKey=KEY          -> 200 tokens | 404 authorization_pending |
 *                                            429 slow_down (Retry-After) | 410 ERROR (stop) | 400
 *   POST {base}/refresh  body refresh_token=… (application/x-www-form-urlencoded)
 *                                         -> 200 tokens | 4xx provider refusal | 502/504
 *
 * Every request is a CORS "simple request" (POST with no custom headers; the
 * refresh body is form-encoded, a CORS-safelisted type), so none needs a preflight.
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

export interface HandoffClientOptions {
  /** handoff's base URL, e.g. `https://my-handoff.fly.dev` (with APPS: `https://my-handoff.fly.dev/my-app`). */
  baseUrl: string
  /** Storage key for the tokens. Default `"handoff.tokens"`; use one per provider when a plugin has several. */
  storageKey?: string
  /** Where tokens are kept. Default `localStorage`. */
  storage?: StorageLike
  /** fetch implementation. Default the global `fetch`. */
  fetch?: FetchLike
  /** Opens the provider's login page. Default `window.open(url)` (the system browser in Framer's desktop app). */
  openWindow?: (url: string) => void
  /** Give up a login after this long. Default 10 minutes (handoff's LOGIN_TTL). */
  loginTimeoutMs?: number
  /** Pause between polls. Default 1500 ms. */
  pollIntervalMs?: number
  /** Consecutive network failures (or 5xx answers) tolerated while polling before giving up. Default 5. */
  maxNetworkRetries?: number
  /** Limit on each HTTP request. Default 15 s. */
  requestTimeoutMs?: number
  /** getAccessToken() refreshes when the token expires within this margin. Default 60 s. */
  refreshMarginMs?: number
}

export interface LoginOptions {
  /** Cancels the login (e.g. the user closed the plugin's dialog). */
  signal?: AbortSignal
}

/** Error codes: handoff's OAuth-style codes (passed through from the server) plus the client's own. */
export type HandoffErrorCode =
  // from handoff / the provider
  | "access_denied"
  | "expired_token"
  | "invalid_grant"
  | "server_error"
  | "temporarily_unavailable"
  | "already_delivered"
  | "invalid_request"
  | "slow_down"
  | "not_found"
  // from this client
  | "login_required" // no tokens, or the refresh token was refused: call login()
  | "login_timeout" // login() gave up after loginTimeoutMs
  | "aborted" // the AbortSignal fired
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

  constructor(
    code: HandoffErrorCode,
    description: string,
    init: { status?: number; retryable?: boolean; loginRequired?: boolean; cause?: unknown } = {},
  ) {
    super(`${code}: ${description}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = code
    this.description = description
    this.status = init.status ?? 0
    this.retryable = init.retryable ?? false
    this.loginRequired = init.loginRequired ?? false
  }
}

export interface HandoffClient {
  /** Runs the whole login: authorize, open the window, poll, store. Resolves with the stored tokens. */
  login(options?: LoginOptions): Promise<StoredTokens>
  /** Refreshes the tokens with the stored refresh token and stores the answer. */
  refresh(): Promise<StoredTokens>
  /** A valid access token, refreshed first when it expires within refreshMarginMs. */
  getAccessToken(): Promise<string>
  /** The stored tokens, or null. */
  getTokens(): StoredTokens | null
  /** True when there are tokens that are unexpired or can be refreshed. */
  isLoggedIn(): boolean
  /** Forgets the tokens. */
  logout(): void
}

const DEFAULTS = {
  storageKey: "handoff.tokens",
  loginTimeoutMs: 10 * 60 * 1000,
  pollIntervalMs: 1500,
  maxNetworkRetries: 5,
  requestTimeoutMs: 15 * 1000,
  refreshMarginMs: 60 * 1000,
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
  const refreshMarginMs = options.refreshMarginMs ?? DEFAULTS.refreshMarginMs

  // Resolved lazily so the module can be imported where there is no window or localStorage.
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const storage = (): StorageLike => {
    if (options.storage) return options.storage
    const ls = (globalThis as { localStorage?: StorageLike }).localStorage
    if (!ls) throw new TypeError("handoff: no localStorage here; pass the storage option")
    return ls
  }
  const openWindow = (url: string): void => {
    if (options.openWindow) return options.openWindow(url)
    const w = (globalThis as { window?: { open(url: string): unknown } }).window
    if (!w) throw new TypeError("handoff: no window here; pass the openWindow option")
    w.open(url)
  }

  // ---- storage -------------------------------------------------------------

  function getTokens(): StoredTokens | null {
    const raw = storage().getItem(storageKey)
    if (raw === null) return null
    try {
      const parsed = JSON.parse(raw) as StoredTokens
      if (parsed && typeof parsed === "object" && parsed.tokens && typeof parsed.tokens === "object") {
        return parsed
      }
    } catch {
      // fall through: unreadable entry
    }
    storage().removeItem(storageKey)
    return null
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
    return stored
  }

  function logout(): void {
    storage().removeItem(storageKey)
  }

  function isLoggedIn(): boolean {
    const t = getTokens()
    if (!t) return false
    if (typeof t.tokens.refresh_token === "string" && t.tokens.refresh_token !== "") return true
    return t.expiresAt === null || t.expiresAt > Date.now()
  }

  // ---- HTTP ------------------------------------------------------------------

  /** One request with a timeout, linked to an optional outer signal. Network failures become HandoffError network_error. */
  async function request(path: string, init: RequestInit, outer?: AbortSignal): Promise<Response> {
    throwIfAborted(outer)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), requestTimeoutMs)
    const onAbort = () => controller.abort()
    outer?.addEventListener("abort", onAbort, { once: true })
    try {
      return await doFetch(base + path, { ...init, signal: controller.signal })
    } catch (err) {
      throwIfAborted(outer)
      const timedOut = controller.signal.aborted
      throw new HandoffError(
        "network_error",
        timedOut ? `handoff did not answer within ${requestTimeoutMs} ms` : `could not reach handoff at ${base}`,
        { retryable: true, cause: err },
      )
    } finally {
      clearTimeout(timer)
      outer?.removeEventListener("abort", onAbort)
    }
  }

  // ---- login -----------------------------------------------------------------

  async function login(loginOptions: LoginOptions = {}): Promise<StoredTokens> {
    const { signal } = loginOptions
    const deadline = Date.now() + loginTimeoutMs

    // 1. Start the login. No body and no headers: a CORS simple request.
    const res = await request("/authorize", { method: "POST" }, signal)
    if (res.status !== 200) throw await errorFrom(res, "could not start the login")
    const body = await readJson(res)
    const url = body?.["url"]
    const readKey = body?.["readKey"]
    if (typeof url !== "string" || typeof readKey !== "string" || url === "" || readKey === "") {
      throw new HandoffError("invalid_response", "/authorize did not return {url, readKey}", { status: 200 })
    }

    // 2. Open the provider's login page.
    openWindow(url)

    // 3. Poll until the tokens arrive, the login ends, or we give up.
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
        await discard(res)
        wait = retryAfterMs(res.headers.get("Retry-After")) + pollIntervalMs
        continue
      }
      // 410: the login is over without tokens (access_denied, expired_token, …). 400: bad key. Others: unexpected.
      throw await errorFrom(res, "the login failed")
    }

    function backoff(n: number): number {
      return Math.min(pollIntervalMs * 2 ** n, MAX_BACKOFF_MS)
    }
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
    const res = await request("/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ refresh_token: refreshToken }).toString(),
    })
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
    if (getTokens()?.tokens.refresh_token === refreshToken) logout()
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
        logout()
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

  return { login, refresh, getAccessToken, getTokens, isLoggedIn, logout }
}

// ---- helpers -------------------------------------------------------------------

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
    // ignore
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

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new HandoffError("aborted", "the login was cancelled", { cause: signal.reason })
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new HandoffError("aborted", "the login was cancelled", { cause: signal.reason }))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(new HandoffError("aborted", "the login was cancelled", { cause: signal?.reason }))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    signal?.addEventListener("abort", onAbort, { once: true })
  })
}
