// Package e2e holds handoff's end-to-end tests: a real browser (Debian's
// chromium, driven with chromedp), a real OpenID Connect authorization server
// (oidc-provider, in test/e2e/provider) and a test plugin page on another origin,
// all on loopback.
//
// They sit behind the build tag e2e, so that `go test ./...` stays fast and
// needs no browser:
//
//	.ci/e2e-setup.sh                 # apt chromium, npm ci in test/e2e/provider
//	go test -tags e2e -v ./test/e2e/...
//
// Environment: HANDOFF_BIN uses a prebuilt binary instead of building the repo
// root; CHROMIUM names the browser (default /usr/bin/chromium);
// E2E_UPDATE_SCREENSHOTS=1 copies the screenshots of handoff's pages from
// test/e2e/artifacts/ to docs/screenshots/; E2E_VERBOSE=1 prints the output of
// handoff and of the provider also when a test passes. See test/e2e/README.md.
package e2e
