// Where the plugin finds handoff, from Vite's environment at build time (.env.local, or the
// shell: VITE_HANDOFF_URL=https://my-handoff.fly.dev npm run build).

const DEMO_URL = "http://localhost:8787"

/** handoff's base URL. Default: the demo server, `go run . -demo`. */
export const HANDOFF_URL = (import.meta.env.VITE_HANDOFF_URL || DEMO_URL).replace(/\/+$/, "")

/**
 * An API URL that says who is logged in, fetched with the access token through handoff's API
 * passthrough (`/api/<host>/…`, on when the server's API_ORIGINS lists that origin). Default:
 * the demo's mock provider's /mock/userinfo when VITE_HANDOFF_URL is not set; otherwise none
 * unless VITE_USERINFO_URL names one (e.g. https://api.hubapi.com/oauth/v1/access-tokens/…).
 */
export const USERINFO_URL: string | null =
    import.meta.env.VITE_USERINFO_URL !== undefined
        ? import.meta.env.VITE_USERINFO_URL || null
        : import.meta.env.VITE_HANDOFF_URL
          ? null
          : `${new URL(HANDOFF_URL).origin}/mock/userinfo`
