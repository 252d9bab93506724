// A static file server for the built plugin (dist/), on one loopback address and a free port.
import http from "node:http"
import { readFile } from "node:fs/promises"
import path from "node:path"

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
}

/** Serves root on host (e.g. "127.0.0.1") and a free port. Resolves {url, close}. */
export async function serveStatic(root, host) {
  const base = path.resolve(root)
  const server = http.createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname)
    const file = path.resolve(base, "." + (pathname === "/" ? "/index.html" : pathname))
    if (file !== base && !file.startsWith(base + path.sep)) return res.writeHead(403).end()
    try {
      const body = await readFile(file)
      res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" })
      res.end(body)
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found")
    }
  })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, host, resolve)
  })
  return {
    url: `http://${host}:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
