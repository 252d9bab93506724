import type { framer as framerInstance } from "framer-plugin"

export type Framer = typeof framerInstance

/**
 * Framer runs a plugin in an iframe of its editor; opened on its own (a browser tab, the
 * browser test) the page is the top window. That is the check vite-plugin-framer's own
 * "open this plugin in Framer" notice makes.
 */
export const insideFramer = window.self !== window.top

/**
 * The Framer API, or null outside Framer. The SDK is imported only inside Framer: its module
 * waits, with a top-level await, for Framer's handshake, so a static import would hold the
 * whole page forever in a plain browser.
 */
export async function loadFramer(): Promise<Framer | null> {
    if (!insideFramer) return null
    const { framer } = await import("framer-plugin")
    return framer
}
