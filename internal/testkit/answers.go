package testkit

import (
	"encoding/json"
	"regexp"
)

// ErrorCode is the code of a JSON error body ({"error": CODE, …}, docs/protocol.md),
// or "" for any other body, so that a test can compare it without failing
// on a body that is not JSON.
func ErrorCode(body []byte) string {
	var m struct{ Error string }
	json.Unmarshal(body, &m)
	return m.Error
}

var outcomeRE = regexp.MustCompile(`data-outcome="([a-z_]+)"`)

// Outcome is the data-outcome a handoff HTML page names, or "": the page's
// text is for people and may change, the attribute is for tests.
func Outcome(body []byte) string {
	if m := outcomeRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}
