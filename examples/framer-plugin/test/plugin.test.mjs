// Drives the built example plugin (dist/) in headless Chromium against a real handoff started
// with -demo, as a person would: log in at the mock provider's consent page, see who is logged
// in, refresh, log out; and the client's reports of what went wrong: a refused origin, a server
// that is down, a blocked login window, a cancelled login.
//
//   HANDOFF_URL=http://localhost:PORT   the demo server (dist/ must be built with VITE_HANDOFF_URL=$HANDOFF_URL)
//   CHROMIUM=/usr/bin/chromium          the browser (Debian's chromium)
//
// .ci/framer-plugin.sh starts the server on a free port, builds dist/ for it and runs this file.
// The plugin is served from 127.0.0.1, an origin handoff always allows (loopback), and from
// 127.0.0.2, an origin it refuses: its CORS rule admits only localhost, 127.0.0.1 and [::1].
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { serveStatic } from "./serve.mjs"

const HANDOFF_URL = process.env.HANDOFF_URL?.replace(/\/+$/, "")
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium"
const DIST = fileURLToPath(new URL("../dist/", import.meta.url))
const STORAGE_KEY = "handoff-example.tokens"
const skip = HANDOFF_URL ? false : "HANDOFF_URL is not set (run .ci/framer-plugin.sh, which starts the demo server)"

let browser, allowed, refused, passthrough

before(async () => {
  if (skip) return
  assert.ok(existsSync(DIST + "index.html"), `no ${DIST}index.html: build the plugin first (npm run build)`)
  allowed = await serveStatic(DIST, "127.0.0.1")
  refused = await serveStatic(DIST, "127.0.0.2")
  passthrough = await passthroughFor(new URL(HANDOFF_URL).origin + "/mock/userinfo")
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      // Nothing leaves this machine (framer.css imports a web font): every host but localhost
      // and the two loopback addresses fails to resolve. Done in the browser, not with
      // Playwright's request interception, which answers every CORS preflight itself (204, all
      // allowed) and would hide handoff's own answers to api()'s preflights.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE 127.0.0.2",
    ],
    // Playwright turns the popup blocker off by default; the blocked-popup test needs it on.
    ignoreDefaultArgs: ["--disable-popup-blocking"],
  })
})

after(async () => {
  await browser?.close()
  await allowed?.close()
  await refused?.close()
})

/**
 * Whether handoff forwards `${HANDOFF_URL}/api/<host>/mock/userinfo` (the API passthrough, with
 * API_ORIGINS listing the demo's own origin). Without a token the mock provider answers 401
 * through it; a handoff without the passthrough answers 404 not_found.
 */
async function passthroughFor(target) {
  const u = new URL(target)
  const res = await fetch(`${HANDOFF_URL}/api/${u.host}${u.pathname}`)
  const body = await res.json().catch(() => ({}))
  return !(res.status === 404 && body.error === "not_found") && res.status !== 403
}

/** A fresh browser context (its own localStorage). */
async function open(origin, t) {
  const context = await browser.newContext()
  t.after(() => context.close())
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", (err) => errors.push(err))
  t.after(() => assert.deepEqual(errors, [], "no uncaught error on the page"))
  await page.goto(origin + "/")
  // Waits for the plugin's first render without Playwright's locators, which run their
  // script with a user gesture: the blocked-popup test needs a page that has had none.
  const cdp = await context.newCDPSession(page)
  const ready = await cdp.send("Runtime.evaluate", {
    expression: `new Promise((resolve) => { const check = () => document.getElementById("login") ? resolve(navigator.userActivation.hasBeenActive) : requestAnimationFrame(check); check() })`,
    awaitPromise: true,
    returnByValue: true,
    userGesture: false,
  })
  await cdp.detach()
  assert.equal(ready.result.value, false, "the page has had no user gesture yet")
  return { context, page }
}

/** The user's part at the mock provider: name, then Allow. */
async function approve(popup, name) {
  await popup.waitForURL((u) => u.pathname.endsWith("/mock/authorize"))
  await popup.locator("#username").fill(name)
  await popup.locator("#approve").click()
}

/** Waits until the window is closed. */
async function closed(popup) {
  if (!popup.isClosed()) await popup.waitForEvent("close")
}

/**
 * Clicks without a user gesture, as a script would: Chromium's popup blocker then refuses
 * window.open. (Playwright's own click and evaluate both count as a gesture.)
 */
async function clickWithoutGesture(context, page, selector) {
  const cdp = await context.newCDPSession(page)
  await cdp.send("Runtime.evaluate", { expression: `document.querySelector(${JSON.stringify(selector)}).click()`, userGesture: false })
  await cdp.detach()
}

const stored = (page) => page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? "null"), STORAGE_KEY)

test("log in at the mock provider, see who is logged in, refresh, log out", { skip, timeout: 90_000 }, async (t) => {
  const { page } = await open(allowed.url, t)
  assert.equal(await page.locator("#server").textContent(), HANDOFF_URL, "dist/ was built for this server (VITE_HANDOFF_URL)")
  assert.ok(await page.locator("#standalone").isVisible(), "outside Framer the page says so, and runs")

  const popupEvent = page.waitForEvent("popup")
  await page.locator("#login").click()
  const popup = await popupEvent
  await page.locator("#cancel").waitFor() // waiting, with a way out
  await approve(popup, "Ada Lovelace")

  await page.locator("#session").waitFor()
  assert.equal(new URL(popup.url()).pathname, "/redirect", "the login window shows handoff's page, for the user to close")
  const first = await stored(page)
  assert.match(first.tokens.access_token, /^at_/)
  assert.match(first.tokens.refresh_token, /^rt_/)
  assert.equal(await page.locator("#scope").textContent(), "profile")
  assert.equal(await page.locator("#has-refresh").textContent(), "yes")
  assert.equal(await page.locator("#access-token").textContent(), first.tokens.access_token.slice(0, 10) + "…")

  // Who: the mock provider's /userinfo through handoff's API passthrough when the server has
  // it; otherwise the plugin says why it cannot tell.
  if (passthrough) {
    await page.locator("#who", { hasText: "Logged in as Ada Lovelace" }).waitFor()
  } else {
    t.diagnostic("handoff has no API passthrough for the demo's origin: the plugin shows the token answer only")
    await page.locator("#userinfo-note", { hasText: "API_ORIGINS" }).waitFor()
    assert.equal(await page.locator("#who").textContent(), "Logged in")
  }

  await page.locator("#refresh").click()
  await page.locator("#refreshed").waitFor()
  const second = await stored(page)
  assert.notEqual(second.tokens.access_token, first.tokens.access_token, "a new access token")
  assert.equal(typeof second.tokens.refresh_token, "string", "a refresh token is kept")
  assert.equal(await page.locator("#access-token").textContent(), second.tokens.access_token.slice(0, 10) + "…")
  assert.equal(await page.locator("#error").count(), 0)

  await page.locator("#logout").click()
  const loggedOut = page.locator("#logged-out")
  await loggedOut.waitFor()
  // The demo's mock provider has no revocation endpoint: 501 (or 404 from a handoff without /revoke).
  const revoked = await loggedOut.getAttribute("data-revoked")
  const reason = await loggedOut.getAttribute("data-reason")
  assert.ok(revoked === "true" || reason === "unsupported", `logout: revoked=${revoked} reason=${reason}`)
  assert.equal(await stored(page), null, "the tokens are gone from localStorage")
  assert.ok(await page.locator("#login").isEnabled())
})

test("a refused origin is reported as such, and the blank login window closes", { skip, timeout: 60_000 }, async (t) => {
  const { page } = await open(refused.url, t)
  const popupEvent = page.waitForEvent("popup")
  await page.locator("#login").click()
  const popup = await popupEvent // opened in the click, before /authorize was sent

  const error = page.locator("#error")
  await error.waitFor()
  assert.equal(await error.getAttribute("data-code"), "origin_refused")
  const text = await error.textContent()
  assert.ok(
    text.startsWith(`handoff refused this plugin's origin (${refused.url}): check PLUGIN_ID / ALLOWED_ORIGINS`),
    `error text: ${text}`,
  )
  await closed(popup)
  assert.ok(await page.locator("#login").isEnabled())
})

test("a server that is down reads as 'could not reach', not as a refused origin", { skip, timeout: 60_000 }, async (t) => {
  const { context, page } = await open(allowed.url, t)
  // From here on the browser cannot connect to handoff at all (connection refused). Every
  // request the client sends here is a CORS simple one: no preflight for Playwright to answer.
  await context.route(`${new URL(HANDOFF_URL).origin}/**`, (route) => route.abort("connectionrefused"))
  await page.locator("#login").click()
  const error = page.locator("#error")
  await error.waitFor()
  assert.equal(await error.getAttribute("data-code"), "network_error")
  assert.match(await error.textContent(), /^could not reach handoff at /)
})

test("a blocked login window is reported at once with a link, and the login goes on", { skip, timeout: 90_000 }, async (t) => {
  const { context, page } = await open(allowed.url, t)
  await clickWithoutGesture(context, page, "#login")
  const link = page.locator("#login-link")
  await link.waitFor()
  assert.equal(context.pages().length, 1, "no window was opened")
  const href = await link.getAttribute("href")
  assert.ok(href.startsWith(new URL(HANDOFF_URL).origin + "/mock/authorize?"), href)
  assert.ok(await page.locator("#cancel").isVisible(), "still waiting, and cancellable")

  // The user clicks the link (a real gesture): the login page opens, and the polling that
  // went on in the meantime picks up the tokens.
  const popupEvent = page.waitForEvent("popup")
  await link.click()
  const popup = await popupEvent
  await approve(popup, "Grace Hopper")
  await page.locator("#session").waitFor()
  assert.match((await stored(page)).tokens.access_token, /^at_/)
  assert.equal(await page.locator("#popup-blocked").count(), 0)
})

test("cancel stops polling at once; the next login is unaffected", { skip, timeout: 90_000 }, async (t) => {
  const { page } = await open(allowed.url, t)
  const events = [] // in order: {readKey} from /authorize answers, {poll: readKey}, "cancelled"
  page.on("response", async (res) => {
    const u = new URL(res.url())
    if (u.pathname.endsWith("/authorize") && res.request().method() === "POST" && res.status() === 200) {
      const entry = { readKey: null } // in place now, filled in when the body is read
      events.push(entry)
      entry.readKey = (await res.json()).readKey
    }
  })
  page.on("request", (req) => {
    const u = new URL(req.url())
    if (u.pathname.endsWith("/poll") && u.searchParams.has("readKey")) events.push({ poll: u.searchParams.get("readKey") })
  })

  let popupEvent = page.waitForEvent("popup")
  await page.locator("#login").click()
  const first = await popupEvent
  await first.waitForURL((u) => u.pathname.endsWith("/mock/authorize"))
  await page.waitForRequest((req) => req.url().includes("/poll?readKey=")) // it is polling
  await page.locator("#cancel").click()
  events.push("cancelled")
  await page.locator("#login:not([disabled])").waitFor()
  await first.close() // the user closes the provider's window
  assert.equal(await page.locator("#error").count(), 0, "a cancel is not an error")
  assert.equal(await page.locator("#cancel").count(), 0)

  // A second login, to the end. It takes a few polls, time for the first to show itself if
  // it had not stopped.
  popupEvent = page.waitForEvent("popup")
  await page.locator("#login").click()
  const second = await popupEvent
  await approve(second, "Second Login")
  await page.locator("#session").waitFor()

  const keys = events.filter((e) => typeof e === "object" && "readKey" in e).map((e) => e.readKey)
  assert.equal(keys.length, 2)
  assert.notEqual(keys[0], keys[1])
  const cut = events.indexOf("cancelled")
  const firstPollsAfter = events.slice(cut).filter((e) => e.poll === keys[0])
  // A poll already sent when Cancel was clicked may still be reported just after; none after that.
  assert.ok(firstPollsAfter.length <= 1, `polls of the cancelled login after the cancel: ${firstPollsAfter.length}`)
  const lastFirst = events.findLastIndex((e) => e.poll === keys[0])
  const secondAuthorize = events.findIndex((e) => e.readKey === keys[1])
  assert.ok(lastFirst < secondAuthorize, "the cancelled login sent no poll once the next one started")
  assert.ok(events.slice(secondAuthorize).some((e) => e.poll === keys[1]), "the second login polled")
})
