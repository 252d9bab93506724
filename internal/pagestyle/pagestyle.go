// Package pagestyle is the style sheet of every HTML page handoff serves:
// its own result and demo pages (package web) and the demo's mock provider
// (internal/mockprovider), so the demo looks like one product. Each page
// inlines it and allows it by its hash (Hash) in its Content-Security-Policy.
package pagestyle

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strings"
)

//go:embed style.css
var css string

// CSS is the style sheet, without surrounding space.
var CSS = strings.TrimSpace(css)

// Hash is the CSP source allowing CSS inline: 'sha256-…' without quotes.
var Hash = func() string {
	sum := sha256.Sum256([]byte(CSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()
