// Test helpers: an in-memory Storage, a fake openWindow, and a tiny HTTP server on 127.0.0.1.
import http from "node:http"

/** An in-memory Storage (the subset handoff.ts uses). */
export function memoryStorage() {
  const map = new Map()
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
  }
}

/** A fake openWindow that records the URLs it was asked to open. */
export function recordingWindow() {
  const opened = []
  const open = (url) => void opened.push(url)
  return { opened, open }
}

/**
 * Starts a server on 127.0.0.1 (random port). handler(req, body, res) is called for every
 * request, after the body was read. Every request is recorded as {method, url, headers, body, at}.
 */
export async function startServer(handler) {
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8")
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() })
      try {
        await handler(req, body, res)
      } catch (err) {
        res.writeHead(500).end(String(err))
      }
    })
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

/** Writes a JSON answer. */
export function json(res, status, value, headers = {}) {
  const body = typeof value === "string" ? value : JSON.stringify(value)
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers })
  res.end(body)
}

/** Writes handoff's error shape. */
export function oauthError(res, status, code, description = code, headers = {}) {
  json(res, status, { error: code, error_description: description }, headers)
}
