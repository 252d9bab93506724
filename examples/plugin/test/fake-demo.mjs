// A fake "demo" handoff for testing the integration machinery without the Go server:
// handoff's routes plus a mock provider with a login redirect, a cookie, a consent form with
// hidden inputs, entity-encoded attributes, and approve/deny buttons.
//   node test/fake-demo.mjs   → prints its URL; HANDOFF_URL=<that URL> npm test
import assert from "node:assert/strict"
import { pathToFileURL } from "node:url"
import { startServer, json, oauthError } from "./helpers.mjs"

export async function fakeDemo({ consentPage } = {}) {
  const state = 'st<"&>' // needs entity-encoding in HTML and URL-encoding in queries
  let outcome = null // null (pending) | "tokens" | "denied" | "delivered"
  let rotation = 0
  const srv = await startServer((req, body, res) => {
    const url = new URL(req.url, srv.url)
    const redirectUri = srv.url.replace("127.0.0.1", "localhost") + "/redirect"
    switch (`${req.method} ${url.pathname}`) {
      case "POST /authorize": {
        const a = new URL("/mock/authorize", srv.url)
        a.search = new URLSearchParams({ client_id: "demo", redirect_uri: redirectUri, response_type: "code", state }).toString()
        return json(res, 200, { url: a.toString(), readKey: "rk" })
      }
      case "GET /mock/authorize":
        assert.equal(url.searchParams.get("state"), state)
        res.writeHead(302, { Location: "login?next=consent&state=" + encodeURIComponent(state), "Set-Cookie": "csrf=tok123; Path=/; HttpOnly" })
        return res.end()
      case "GET /mock/login": {
        assert.equal(req.headers.cookie, "csrf=tok123")
        res.writeHead(200, { "Content-Type": "text/html" })
        return res.end(
          consentPage ??
            `<!doctype html><h1>Mock provider (demo)</h1>
          <form method="get" action="/search"><input name="q"><button>Search</button></form>
          <form method="POST" action="consent?a=1&amp;b=2">
            <input type="hidden" name="state" value="st&lt;&quot;&amp;&gt;">
            <input type=hidden name=csrf value=tok123>
            <input type="text" name="username" value="">
            <input type="checkbox" name="remember" checked>
            <input type="checkbox" name="spam">
            <button type="submit" name="decision" value="deny">Deny</button>
            <button type="submit" name="decision" value="approve">Approve</button>
          </form>`,
        )
      }
      case "POST /mock/consent": {
        const f = new URLSearchParams(body)
        assert.equal(url.search, "?a=1&b=2")
        assert.equal(req.headers["content-type"], "application/x-www-form-urlencoded")
        assert.equal(req.headers.cookie, "csrf=tok123")
        assert.deepEqual([...f.keys()], ["state", "csrf", "username", "remember", "decision"])
        assert.equal(f.get("state"), state)
        assert.equal(f.get("username"), "demo")
        const to = new URL(redirectUri.replace("localhost", "127.0.0.1"))
        to.search = f.get("decision") === "approve" ? `code=c1&state=${encodeURIComponent(state)}` : "error=access_denied"
        res.writeHead(303, { Location: to.toString() })
        return res.end()
      }
      case "GET /redirect":
        outcome = url.searchParams.get("code") === "c1" ? "tokens" : "denied"
        res.writeHead(200, { "Content-Type": "text/html" })
        return res.end("<p>You're authenticated — you can close this window and return to Framer</p>")
      case "POST /poll":
        if (url.searchParams.get("readKey") !== "rk") return oauthError(res, 400, "invalid_request", "readKey is missing")
        if (outcome === null) return oauthError(res, 404, "authorization_pending", "pending")
        if (outcome === "tokens") {
          outcome = "delivered"
          return json(res, 200, { access_token: "demo-at", refresh_token: "demo-rt", token_type: "Bearer", expires_in: 3600 })
        }
        return oauthError(res, 410, outcome === "denied" ? "access_denied" : "already_delivered", "over")
      case "POST /refresh": {
        assert.equal(new URLSearchParams(body).get("refresh_token"), rotation === 0 ? "demo-rt" : `demo-rt-${rotation}`)
        rotation++
        return json(res, 200, { access_token: `demo-at-${rotation}`, refresh_token: `demo-rt-${rotation}`, expires_in: 3600 })
      }
      case "POST /revoke":
        // The demo's mock provider has no revocation endpoint.
        assert.equal(new URLSearchParams(body).get("token_type_hint"), "refresh_token")
        return oauthError(res, 501, "unsupported_token_type", "this app has no revocation endpoint")
      case "GET /healthz":
        return json(res, 200, { status: "ok" })
      default:
        return oauthError(res, 404, "not_found")
    }
  })
  return srv
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const srv = await fakeDemo()
  console.log(srv.url)
}
