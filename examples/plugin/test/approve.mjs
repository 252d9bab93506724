// The "user approves in the browser" step of the integration test, done without a browser.
//
// ASSUMPTION about handoff's -demo mock provider (to be aligned with the server):
//   1. GET <authorize URL> (the `url` from POST /authorize) answers, directly or after
//      redirects (301/302/303/307/308, cookies kept), with an HTML page holding a <form>.
//   2. The form to submit is the one with method="post" (if several, the one whose buttons
//      say approve/allow/authorize/…); its `action` may be absolute, relative or empty
//      (empty = the page's own URL); &amp; and other entities in attributes are decoded.
//   3. Every <input type="hidden"> is sent with its value (state, client_id, redirect_uri,
//      code_challenge, a CSRF token, …); text/email/password inputs are sent with their value
//      or "demo"; checked checkboxes/radios are sent. If the submit buttons carry a name
//      (e.g. <button name="decision" value="approve">), the approving one is sent and a
//      denying one (deny/cancel/reject/decline) never is.
//   4. The form is POSTed as application/x-www-form-urlencoded; the mock provider answers
//      with a redirect (302/303) to REDIRECT_URI?code=…&state=…, which is followed to
//      handoff's /redirect, which answers 200 (the "You're authenticated" page).
//   5. If a submitted form leads to another form page instead of REDIRECT_URI (a login page
//      before the consent page), that one is submitted the same way (at most 3 forms).
// The whole step is a plain function (authorizeUrl) => Promise, so a different mock provider
// needs only a different function passed to the integration test.

const MAX_REDIRECTS = 10
const MAX_FORMS = 3
const APPROVE = /approve|allow|accept|authori[sz]e|grant|consent|continue|confirm|yes|log ?in|sign ?in|submit/i
const DENY = /deny|cancel|reject|decline|refuse|\bno\b/i

/**
 * Performs the mock provider's login and consent for `authorizeUrl` the way a browser would.
 * Resolves with the final response {url, status, body} once handoff's redirect page answered 200.
 */
export async function approveViaConsentForm(authorizeUrl, { fetch: doFetch = globalThis.fetch } = {}) {
  const redirectUri = new URL(authorizeUrl).searchParams.get("redirect_uri")
  const jar = new Map()
  let page = await navigate(doFetch, jar, authorizeUrl, { method: "GET" })

  for (let step = 0; step < MAX_FORMS; step++) {
    if (arrived(page.url, redirectUri)) break
    if (page.status < 200 || page.status >= 300) {
      throw new Error(`mock provider answered ${page.status} at ${page.url}: ${snippet(page.body)}`)
    }
    const form = pickForm(page.body)
    if (!form) throw new Error(`no <form> on the page at ${page.url}: ${snippet(page.body)}`)
    const action = new URL(form.action || page.url, page.url).toString()
    const body = new URLSearchParams(form.fields)
    if (form.method === "get") {
      const target = new URL(action)
      for (const [k, v] of form.fields) target.searchParams.append(k, v)
      page = await navigate(doFetch, jar, target.toString(), { method: "GET" })
    } else {
      page = await navigate(doFetch, jar, action, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString(),
      })
    }
  }

  if (!arrived(page.url, redirectUri)) {
    throw new Error(`the consent flow did not reach ${redirectUri}; ended at ${page.url} (${page.status}): ${snippet(page.body)}`)
  }
  if (page.status !== 200) {
    throw new Error(`handoff's redirect page answered ${page.status}: ${snippet(page.body)}`)
  }
  return page
}

function arrived(url, redirectUri) {
  if (!redirectUri) return new URL(url).pathname.endsWith("/redirect")
  const a = new URL(url)
  const r = new URL(redirectUri)
  // localhost vs 127.0.0.1 may differ between REDIRECT_URI and HANDOFF_URL; compare the path.
  return a.pathname === r.pathname && a.port === r.port
}

/** fetch with manual redirects and a cookie jar. Resolves with {url, status, body}. */
async function navigate(doFetch, jar, url, init) {
  let current = url
  let req = init
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = { ...(req.headers ?? {}) }
    const cookie = cookieHeader(jar, current)
    if (cookie) headers["Cookie"] = cookie
    const res = await doFetch(current, { ...req, headers, redirect: "manual" })
    storeCookies(jar, current, res)
    const location = res.headers.get("location")
    if (res.status >= 300 && res.status < 400 && location) {
      await res.text().catch(() => {})
      current = new URL(location, current).toString()
      if (res.status !== 307 && res.status !== 308) req = { method: "GET" }
      continue
    }
    return { url: current, status: res.status, body: await res.text() }
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`)
}

function storeCookies(jar, url, res) {
  const host = new URL(url).host
  const list = typeof res.headers.getSetCookie === "function" ? res.headers.getSetCookie() : []
  for (const line of list) {
    const [pair] = line.split(";")
    const eq = pair.indexOf("=")
    if (eq <= 0) continue
    const cookies = jar.get(host) ?? new Map()
    cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
    jar.set(host, cookies)
  }
}

function cookieHeader(jar, url) {
  const cookies = jar.get(new URL(url).host)
  if (!cookies || cookies.size === 0) return ""
  return [...cookies].map(([k, v]) => `${k}=${v}`).join("; ")
}

/** Finds the form to submit and the fields a browser would send when clicking "approve". */
export function pickForm(html) {
  const forms = []
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form\s*>/gi)) {
    const attrs = parseAttrs(m[1])
    forms.push({
      action: attrs.get("action") ?? "",
      method: (attrs.get("method") ?? "get").toLowerCase(),
      inner: m[2],
    })
  }
  if (forms.length === 0) return null
  const posts = forms.filter((f) => f.method === "post")
  const candidates = posts.length > 0 ? posts : forms
  const chosen =
    candidates.find((f) => APPROVE.test(buttonsText(f.inner)) && !DENY.test(buttonsText(f.inner))) ??
    candidates.find((f) => APPROVE.test(buttonsText(f.inner))) ??
    candidates[0]
  return { action: chosen.action, method: chosen.method, fields: formFields(chosen.inner) }
}

function buttonsText(inner) {
  const parts = []
  for (const b of buttons(inner)) parts.push(`${b.name} ${b.value} ${b.text}`)
  return parts.join(" ")
}

/** Submit buttons: <button> (type submit by default) and <input type=submit|image>. */
function buttons(inner) {
  const list = []
  for (const m of inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button\s*>/gi)) {
    const a = parseAttrs(m[1])
    const type = (a.get("type") ?? "submit").toLowerCase()
    if (type !== "submit" || a.has("disabled")) continue
    list.push({ name: a.get("name") ?? "", value: a.get("value") ?? "", text: decode(m[2].replace(/<[^>]*>/g, "")).trim() })
  }
  for (const m of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const a = parseAttrs(m[1])
    const type = (a.get("type") ?? "text").toLowerCase()
    if ((type !== "submit" && type !== "image") || a.has("disabled")) continue
    list.push({ name: a.get("name") ?? "", value: a.get("value") ?? "", text: a.get("value") ?? "" })
  }
  return list
}

function formFields(inner) {
  const fields = []
  const radios = new Set()
  for (const m of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const a = parseAttrs(m[1])
    const name = a.get("name")
    if (!name || a.has("disabled")) continue
    const type = (a.get("type") ?? "text").toLowerCase()
    const value = a.get("value")
    switch (type) {
      case "submit":
      case "image":
      case "button":
      case "reset":
      case "file":
        break
      case "checkbox":
        if (a.has("checked")) fields.push([name, value ?? "on"])
        break
      case "radio":
        if (a.has("checked") && !radios.has(name)) {
          radios.add(name)
          fields.push([name, value ?? "on"])
        }
        break
      case "hidden":
        fields.push([name, value ?? ""])
        break
      default: // text, email, password, …: a demo user
        fields.push([name, value || "demo"])
    }
  }
  for (const m of inner.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea\s*>/gi)) {
    const a = parseAttrs(m[1])
    if (a.get("name") && !a.has("disabled")) fields.push([a.get("name"), decode(m[2])])
  }
  for (const m of inner.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select\s*>/gi)) {
    const a = parseAttrs(m[1])
    if (!a.get("name") || a.has("disabled")) continue
    const options = [...m[2].matchAll(/<option\b([^>]*)>([\s\S]*?)(?=<option\b|$)/gi)].map((o) => {
      const oa = parseAttrs(o[1])
      return { value: oa.get("value") ?? decode(o[2].replace(/<[^>]*>/g, "")).trim(), selected: oa.has("selected") }
    })
    const opt = options.find((o) => o.selected) ?? options[0]
    if (opt) fields.push([a.get("name"), opt.value])
  }
  const all = buttons(inner).filter((b) => b.name)
  const approve =
    all.find((b) => APPROVE.test(`${b.name} ${b.value} ${b.text}`) && !DENY.test(`${b.value} ${b.text}`)) ??
    all.find((b) => !DENY.test(`${b.name} ${b.value} ${b.text}`))
  if (approve) fields.push([approve.name, approve.value])
  return fields
}

/** Attributes of a tag: name="v", name='v', name=v, or a bare name. Values are entity-decoded. */
function parseAttrs(s) {
  const attrs = new Map()
  for (const m of s.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1].toLowerCase()
    if (attrs.has(name)) continue
    const raw = m[2] ?? m[3] ?? m[4]
    attrs.set(name, raw === undefined ? "" : decode(raw))
  }
  return attrs
}

const NAMED = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" }

function decode(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ent) => {
    if (ent[0] === "#") {
      const cp = ent[1] === "x" || ent[1] === "X" ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10)
      return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole
    }
    return NAMED[ent.toLowerCase()] ?? whole
  })
}

function snippet(s) {
  const t = String(s).replace(/\s+/g, " ").trim()
  return t.length > 300 ? t.slice(0, 300) + "…" : t
}
