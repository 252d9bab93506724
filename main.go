// Command handoff is an OAuth 2.0 token broker for Framer plugins: it holds
// the client secret, runs the authorization-code exchange, and hands the
// tokens once to the plugin polling with its read key. See README.md and
// docs/protocol.md.
package main

import (
	"flag"
	"fmt"
	"os"

	"handoff/internal/app"
)

func main() {
	demo := flag.Bool("demo", false, "run with the built-in mock provider and a demo page at / (no account needed)")
	providers := flag.Bool("providers", false, "print the provider presets and exit")
	flag.Parse()
	if *providers {
		app.PrintProviders(os.Stdout)
		return
	}
	if err := app.Run(*demo); err != nil {
		fmt.Fprintln(os.Stderr, "handoff:", err)
		os.Exit(app.ExitCode(err))
	}
}
