/// <reference types="vite/client" />

interface ImportMetaEnv {
    /** handoff's base URL (with APPS, plus "/<app>"). Default http://localhost:8787, `go run . -demo`. */
    readonly VITE_HANDOFF_URL?: string
    /** An API URL that answers who the token belongs to, fetched through handoff's API passthrough. "" turns it off. */
    readonly VITE_USERINFO_URL?: string
}

interface ImportMeta {
    readonly env: ImportMetaEnv
}
