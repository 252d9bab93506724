// Tests of the integration test's own machinery (approve.mjs, scenario.mjs) against the fake
// demo server of fake-demo.mjs.
import { test } from "node:test"
import assert from "node:assert/strict"
import { approveViaConsentForm, pickForm } from "./approve.mjs"
import { loginThenRefresh } from "./scenario.mjs"
import { fakeDemo } from "./fake-demo.mjs"

test("approve: follows the redirect, keeps the cookie, submits the approving POST form", async (t) => {
  const srv = await fakeDemo()
  t.after(srv.close)
  const { url } = await (await fetch(srv.url + "/authorize", { method: "POST" })).json()
  const page = await approveViaConsentForm(url)
  assert.equal(page.status, 200)
  assert.match(page.body, /authenticated/)
  assert.equal(new URL(page.url).pathname, "/redirect")
})

test("approve: the shared integration scenario passes against the fake demo", async (t) => {
  const srv = await fakeDemo()
  t.after(srv.close)
  const { login, refreshed, opened } = await loginThenRefresh(srv.url, approveViaConsentForm)
  assert.equal(login.tokens.access_token, "demo-at")
  assert.equal(refreshed.tokens.refresh_token, "demo-rt-1")
  assert.match(opened[0], /\/mock\/authorize\?/)
})

test("approve: a consent page without a form fails the scenario with the page's text (the login is cancelled, not left polling)", async (t) => {
  const srv = await fakeDemo({ consentPage: "<p>Mock provider is down</p>" })
  t.after(srv.close)
  await assert.rejects(loginThenRefresh(srv.url, approveViaConsentForm), /no <form>.*Mock provider is down/)
})

test("pickForm: prefers the approving POST form, single-quoted and bare attributes, input submit", () => {
  const html = `
    <form method='post' action='/deny'><input type=hidden name=x value=1><input type=submit value="Cancel"></form>
    <form method='post' action='/allow'><input type=hidden name='x' value='2'><input type="submit" name="ok" value="Allow access"></form>`
  const f = pickForm(html)
  assert.equal(f.action, "/allow")
  assert.deepEqual(f.fields, [["x", "2"], ["ok", "Allow access"]])
  assert.equal(pickForm("<p>nothing</p>"), null)
})
