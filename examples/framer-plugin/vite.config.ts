import react from "@vitejs/plugin-react"
import { defineConfig } from "vite"
import framer from "vite-plugin-framer"
import mkcert from "vite-plugin-mkcert"

// As `npm create framer-plugin` scaffolds it: React, HTTPS for the dev server (mkcert, as
// Framer loads development plugins from https://localhost:5173), and Framer's own plugin
// (build target, framer.json copied into dist/).
export default defineConfig({
    plugins: [react(), mkcert(), framer()],
    server: {
        // The client is imported from ../plugin/handoff.ts, outside this folder: let the dev
        // server read it (a plugin that copies handoff.ts into src/ needs no such line).
        fs: { allow: [".", "../plugin/handoff.ts"] },
    },
})
