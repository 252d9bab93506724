import "framer-plugin/framer.css"
import "./App.css"

import React from "react"
import ReactDOM from "react-dom/client"
import { App } from "./App"
import { loadFramer } from "./framer"

const framer = await loadFramer()
if (framer) {
    await framer.showUI({ position: "top right", width: 280, height: 380, resizable: "height" })
} else {
    // A plain browser: the plugin still runs (the login needs nothing from Framer), and says so.
    document.documentElement.dataset["standalone"] = ""
}

const root = document.getElementById("root")
if (!root) throw new Error("Root element not found")

ReactDOM.createRoot(root).render(
    <React.StrictMode>
        <App framer={framer} />
    </React.StrictMode>,
)
