// The end-to-end scenario of the integration test, shared with approve.test.mjs (which runs it
// against a fake demo server so the scenario itself is tested even without HANDOFF_URL).
import assert from "node:assert/strict"
import { createHandoffClient } from "../dist/handoff.js"
import { memoryStorage } from "./helpers.mjs"

/**
 * login() against baseUrl with an openWindow that runs `approve(url)` (the user's part in the
 * browser), then getAccessToken() and refresh(). Returns what happened, for more assertions.
 */
export async function loginThenRefresh(baseUrl, approve, { log = () => {} } = {}) {
  const storage = memoryStorage()
  const opened = []
  const cancel = new AbortController()
  let approval = Promise.resolve()

  const client = createHandoffClient({
    baseUrl,
    storage,
    pollIntervalMs: 500,
    loginTimeoutMs: 30_000,
    openWindow(url) {
      opened.push(url)
      // Runs in the background like a browser window; a failure cancels the login at once.
      approval = Promise.resolve()
        .then(() => approve(url))
        .catch((err) => {
          cancel.abort(err)
          throw err
        })
      approval.catch(() => {}) // reported below, not as an unhandled rejection
    },
  })

  let login
  try {
    login = await client.login({ signal: cancel.signal })
  } catch (err) {
    await approval // surfaces the approve step's own error if that is what cancelled the login
    throw err
  }
  await approval
  assert.equal(opened.length, 1)
  log(`logged in; token fields: ${Object.keys(login.tokens).join(", ")}`)
  assert.equal(typeof login.tokens.access_token, "string")
  assert.ok(login.tokens.access_token.length > 0)
  assert.equal(client.isLoggedIn(), true)
  assert.equal(await client.getAccessToken(), login.tokens.access_token)

  const hasRefresh = typeof login.tokens.refresh_token === "string" && login.tokens.refresh_token !== ""
  assert.ok(hasRefresh, "the demo provider issues a refresh token")
  const refreshed = await client.refresh()
  log(`refreshed; token fields: ${Object.keys(refreshed.tokens).join(", ")}`)
  assert.equal(typeof refreshed.tokens.access_token, "string")
  assert.ok(refreshed.tokens.access_token.length > 0)
  assert.equal(typeof refreshed.tokens.refresh_token, "string", "a refresh token is kept after refresh")
  assert.ok(refreshed.tokens.refresh_token.length > 0)
  assert.equal(await client.getAccessToken(), refreshed.tokens.access_token)

  // logout() forgets the tokens at once and asks handoff to revoke the grant: revoked, or
  // "unsupported" when the app has no revocation endpoint (501; a handoff without /revoke: 404).
  const out = client.logout()
  assert.equal(client.isLoggedIn(), false)
  const loggedOut = await out
  log(`logged out: ${JSON.stringify({ revoked: loggedOut.revoked, reason: loggedOut.reason, error: loggedOut.error?.code })}`)
  assert.ok(loggedOut.revoked || loggedOut.reason === "unsupported", `logout: ${loggedOut.error?.message}`)
  assert.equal(client.getTokens(), null)
  return { login, refreshed, opened, loggedOut }
}
