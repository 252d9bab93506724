import { useEffect, useState } from "react"
import { createHandoffClient, HandoffError, type LogoutResult, type StoredTokens } from "../../plugin/handoff"
import { HANDOFF_URL, USERINFO_URL } from "./config"
import { insideFramer, type Framer } from "./framer"
import { useHandoff } from "./useHandoff"

// One client for the plugin, at module level. Tokens live in this origin's localStorage.
const auth = createHandoffClient({ baseUrl: HANDOFF_URL, storageKey: "handoff-example.tokens" })

export function App({ framer }: { framer: Framer | null }) {
    const h = useHandoff(auth)
    const who = useUserinfo(h.tokens)
    const [refreshedAt, setRefreshedAt] = useState<number | null>(null)

    // Inside Framer, say it with Framer's own notifications too.
    useEffect(() => {
        if (framer && h.error) void framer.notify(h.error.description, { variant: "error" })
    }, [framer, h.error])

    async function refresh() {
        await h.refresh()
        setRefreshedAt(Date.now())
    }

    return (
        <main>
            {!insideFramer && (
                <p className="note" id="standalone">
                    Running outside Framer: the login works, Framer&apos;s API is not loaded. Open it in Framer as a
                    development plugin (see the README).
                </p>
            )}
            <header>
                <h1>handoff example</h1>
                <p className="muted">
                    Server: <code id="server">{HANDOFF_URL}</code>
                </p>
            </header>

            {h.loggedIn && h.tokens ? (
                <section id="session">
                    <p id="who" className="who">
                        {who.name ? `Logged in as ${who.name}` : "Logged in"}
                    </p>
                    <TokenSummary stored={h.tokens} />
                    {who.note && (
                        <p className="muted" id="userinfo-note">
                            {who.note}
                        </p>
                    )}
                    {refreshedAt !== null && h.busy !== "refresh" && !h.error && (
                        <p className="muted" id="refreshed">
                            Refreshed at {new Date(refreshedAt).toLocaleTimeString()}
                        </p>
                    )}
                    <div className="row">
                        <button id="refresh" onClick={() => void refresh()} disabled={h.busy !== null}>
                            {h.busy === "refresh" ? "Refreshing…" : "Refresh"}
                        </button>
                        <button id="logout" onClick={() => void h.logout()} disabled={h.busy !== null}>
                            {h.busy === "logout" ? "Logging out…" : "Log out"}
                        </button>
                    </div>
                </section>
            ) : (
                <section id="signed-out">
                    <div className="row">
                        <button
                            id="login"
                            className="framer-button-primary"
                            onClick={() => h.login()}
                            disabled={h.busy === "login"}
                        >
                            {h.busy === "login" ? "Waiting…" : "Log in"}
                        </button>
                        {h.busy === "login" && (
                            <button id="cancel" onClick={h.cancel}>
                                Cancel
                            </button>
                        )}
                    </div>
                    {h.busy === "login" && !h.blockedUrl && (
                        <p className="muted" id="waiting">
                            Finish the login in the window that opened; this updates by itself.
                        </p>
                    )}
                    {h.blockedUrl && (
                        <p role="alert" id="popup-blocked">
                            Your browser blocked the login window.{" "}
                            <a id="login-link" href={h.blockedUrl} target="_blank" rel="noopener noreferrer">
                                Open the login page
                            </a>
                        </p>
                    )}
                    {h.loggedOut && <LoggedOut result={h.loggedOut} />}
                </section>
            )}

            {h.error && (
                <p role="alert" className="error" id="error" data-code={h.error.code}>
                    {h.error.description}
                </p>
            )}
        </main>
    )
}

function TokenSummary({ stored }: { stored: StoredTokens }) {
    const t = stored.tokens
    const access = typeof t.access_token === "string" ? t.access_token : ""
    return (
        <dl className="tokens">
            <dt>Access token</dt>
            <dd>
                <code id="access-token">{access.slice(0, 10)}…</code>
            </dd>
            {typeof t.scope === "string" && (
                <>
                    <dt>Scope</dt>
                    <dd id="scope">{t.scope}</dd>
                </>
            )}
            <dt>Expires</dt>
            <dd id="expires">{stored.expiresAt === null ? "not said" : new Date(stored.expiresAt).toLocaleTimeString()}</dd>
            <dt>Refresh token</dt>
            <dd id="has-refresh">{typeof t.refresh_token === "string" && t.refresh_token !== "" ? "yes" : "no"}</dd>
        </dl>
    )
}

function LoggedOut({ result }: { result: LogoutResult }) {
    let text = "Logged out."
    if (result.revoked) text += " The provider revoked the grant."
    else if (result.reason === "unsupported") text += " Nothing to revoke: handoff has no revocation endpoint for this provider."
    else if (result.reason === "failed") text += ` The grant may still exist at the provider: ${result.error?.description}`
    return (
        <p className="muted" id="logged-out" data-revoked={String(result.revoked)} data-reason={result.reason ?? ""}>
            {text}
        </p>
    )
}

interface Who {
    name: string | null
    note: string | null
}

/** Asks USERINFO_URL, through handoff's API passthrough, who the access token belongs to. */
function useUserinfo(stored: StoredTokens | null): Who {
    const [who, setWho] = useState<Who>({ name: null, note: null })
    const token = stored?.tokens.access_token
    useEffect(() => {
        if (!token) return setWho({ name: null, note: null })
        if (!USERINFO_URL) return setWho({ name: null, note: null })
        let current = true
        auth.api(USERINFO_URL)
            .then(async (res) => {
                const body: unknown = await res.json().catch(() => null)
                if (!current) return
                if (res.ok && body && typeof body === "object") {
                    const b = body as Record<string, unknown>
                    const name = [b["name"], b["email"], b["login"], b["sub"]].find((v) => typeof v === "string" && v !== "")
                    return setWho({ name: (name as string | undefined) ?? null, note: null })
                }
                const code = body && typeof body === "object" ? (body as Record<string, unknown>)["error"] : undefined
                setWho({
                    name: null,
                    note:
                        code === "not_found" || res.status === 403
                            ? `Who: not available (${res.status} ${String(code)}): handoff's API passthrough needs API_ORIGINS to list ${new URL(USERINFO_URL!).origin}.`
                            : `Who: the API answered ${res.status}.`,
                })
            })
            .catch((err: unknown) => {
                if (current) setWho({ name: null, note: `Who: not available: ${err instanceof HandoffError ? err.description : String(err)}` })
            })
        return () => {
            current = false
        }
    }, [token])
    return who
}
