// Integration test against a real handoff started with -demo (its built-in mock provider):
//
//   go run . -demo &                       # listens on :8787
//   HANDOFF_URL=http://localhost:8787 npm test
//
// Skipped when HANDOFF_URL is not set. The browser step (log in and approve at the mock
// provider) is the pluggable `approve` function; see approve.mjs for what it assumes.
import { test } from "node:test"
import assert from "node:assert/strict"
import { approveViaConsentForm } from "./approve.mjs"
import { loginThenRefresh } from "./scenario.mjs"

const HANDOFF_URL = process.env.HANDOFF_URL

test(
  "integration: login through the -demo mock provider, then refresh",
  { skip: HANDOFF_URL ? false : "HANDOFF_URL is not set (start `handoff -demo` and set HANDOFF_URL to run it)", timeout: 60_000 },
  async (t) => {
    const health = await fetch(new URL("/healthz", HANDOFF_URL))
    assert.equal(health.status, 200, `${HANDOFF_URL}/healthz`)
    await loginThenRefresh(HANDOFF_URL, (url) => approveViaConsentForm(url), { log: (m) => t.diagnostic(m) })
  },
)

test(
  "integration: /poll liveness check without a read key answers 400 (Airtable plugin's check)",
  { skip: HANDOFF_URL ? false : "HANDOFF_URL is not set" },
  async () => {
    const res = await fetch(new URL("poll", HANDOFF_URL.replace(/\/?$/, "/")), { method: "POST" })
    assert.equal(res.status, 400)
    assert.equal((await res.json()).error, "invalid_request")
  },
)
