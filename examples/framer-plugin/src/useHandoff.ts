import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react"
import {
    HandoffError,
    type AuthorizeParams,
    type HandoffClient,
    type LogoutResult,
    type StoredTokens,
} from "../../plugin/handoff"

export type HandoffBusy = "login" | "refresh" | "logout" | null

export interface UseHandoff {
    /** The stored tokens (the provider's whole answer under `tokens`), or null. */
    tokens: StoredTokens | null
    /** Tokens that are unexpired or can be refreshed. */
    loggedIn: boolean
    /** What is running. */
    busy: HandoffBusy
    /** When the browser blocked the login window: the provider's URL, to show as a link. The login goes on. */
    blockedUrl: string | null
    /** The last failure (a cancelled login is not one). */
    error: HandoffError | null
    /** What the last logout did at the provider. */
    loggedOut: LogoutResult | null
    /** Starts a login. Call it in a click handler: it opens the login window before anything else. */
    login(params?: AuthorizeParams): void
    /** Stops a login in progress (closes its window, stops polling). */
    cancel(): void
    refresh(): Promise<void>
    logout(): Promise<void>
}

/** React state for one handoff client. Create the client once, at module level. */
export function useHandoff(client: HandoffClient): UseHandoff {
    const tokens = useSyncExternalStore(client.subscribe, client.getTokens)
    const [busy, setBusy] = useState<HandoffBusy>(null)
    const [blockedUrl, setBlockedUrl] = useState<string | null>(null)
    const [error, setError] = useState<HandoffError | null>(null)
    const [loggedOut, setLoggedOut] = useState<LogoutResult | null>(null)
    const running = useRef<AbortController | null>(null)

    // A login still polling when the component goes away stops with it.
    useEffect(() => () => running.current?.abort(), [])

    const login = useCallback(
        (params?: AuthorizeParams) => {
            running.current?.abort()
            const controller = new AbortController()
            running.current = controller
            setError(null)
            setBlockedUrl(null)
            setLoggedOut(null)
            setBusy("login")
            // No await before this call: client.login() opens the window in the click.
            client
                .login({ ...params, signal: controller.signal, onPopupBlocked: setBlockedUrl })
                .catch((err: unknown) => {
                    if (!(err instanceof HandoffError && err.code === "aborted")) setError(asHandoffError(err))
                })
                .finally(() => {
                    if (running.current !== controller) return // a newer login owns the state
                    running.current = null
                    setBusy(null)
                    setBlockedUrl(null)
                })
        },
        [client],
    )

    const cancel = useCallback(() => running.current?.abort(new Error("cancelled by the user")), [])

    const refresh = useCallback(async () => {
        setError(null)
        setBusy("refresh")
        try {
            await client.refresh()
        } catch (err) {
            setError(asHandoffError(err))
        } finally {
            setBusy(null)
        }
    }, [client])

    const logout = useCallback(async () => {
        setError(null)
        setBusy("logout")
        try {
            setLoggedOut(await client.logout())
        } finally {
            setBusy(null)
        }
    }, [client])

    const loggedIn = tokens !== null && client.isLoggedIn()
    return { tokens, loggedIn, busy, blockedUrl, error, loggedOut, login, cancel, refresh, logout }
}

function asHandoffError(err: unknown): HandoffError {
    return err instanceof HandoffError ? err : new HandoffError("unknown_error", String(err), { cause: err })
}
