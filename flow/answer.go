package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"handoff/internal/jsonstr"
)

// answerShape is what a preset says about its provider's token answers
// (docs/protocol.md#talking-to-the-provider): the member under which the
// login's tokens sit when they are not at the top level, and which of the
// provider's own error codes mean which RFC 6749 code.
type answerShape struct {
	tokensAt   string
	errorCodes map[string]string
}

// tokenFields are the members of a token response handoff looks at; the
// response itself is passed on untouched. Members are matched by their exact
// names, and one of an unexpected type does not hide the others.
type tokenFields struct {
	Error            json.RawMessage
	ErrorDescription json.RawMessage
	Message          json.RawMessage // Figma's and Twitch's error text
	NotOK            bool            // Slack's "ok": false
	AccessToken      json.RawMessage
	NestedToken      json.RawMessage // tokensAt's access_token (Slack's authed_user)
}

func readTokenFields(body []byte, tokensAt string) tokenFields {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return tokenFields{}
	}
	f := tokenFields{
		Error:            m["error"],
		ErrorDescription: m["error_description"],
		Message:          m["message"],
		NotOK:            string(bytes.TrimSpace(m["ok"])) == "false",
		AccessToken:      m["access_token"],
	}
	if tokensAt != "" {
		var nested map[string]json.RawMessage
		if json.Unmarshal(m[tokensAt], &nested) == nil {
			f.NestedToken = nested["access_token"]
		}
	}
	return f
}

// parseTokenResponse turns a provider's answer into a JSON object, or an
// *Error saying how the provider refused or failed.
func (s answerShape) parseTokenResponse(status int, contentType string, raw []byte) ([]byte, error) {
	body, ok := asJSONObject(contentType, raw)
	if !ok {
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
			return nil, &Error{Kind: KindProviderRejected, Code: codeForStatus(status), Status: status,
				Description: fmt.Sprintf("the provider refused the request (HTTP %d)", status), codeFromStatus: true}
		}
		code := "server_error"
		if status == http.StatusTooManyRequests {
			code = "temporarily_unavailable"
		}
		return nil, &Error{Kind: KindProviderFailed, Code: code, Status: status,
			Description: fmt.Sprintf("the provider's answer is not a token response (HTTP %d)", status)}
	}
	f := readTokenFields(body, s.tokensAt)
	switch {
	case status >= 500 || status < 200 || status >= 300 && status < 400 || status == http.StatusTooManyRequests:
		code := "server_error"
		if status == http.StatusTooManyRequests {
			code = "temporarily_unavailable" // the provider throttles handoff: not the user's fault
		}
		return nil, &Error{Kind: KindProviderFailed, Code: code, Status: status,
			Description: fmt.Sprintf("the provider failed (HTTP %d)", status)}
	case status >= 400 || hasError(f.Error) || f.NotOK:
		return nil, s.refusal(status, body, f)
	case present(f.AccessToken) || present(f.NestedToken):
		return body, nil
	default:
		return nil, &Error{Kind: KindProviderFailed, Code: "server_error", Status: status,
			Description: "the provider's answer has no access token"}
	}
}

// refusal describes a provider's refusal so that a plugin can act on its
// error member (docs/protocol.md#talking-to-the-provider). The code is the
// provider's own when it is an RFC 6749-style code the preset does not map;
// a mapped code (GitHub's bad_verification_code is invalid_grant) keeps the
// provider's code at the head of the description; a refusal without a
// usable code (Figma's "error": true, Twitch's {status, message}) gets the
// code its HTTP status means. The provider's JSON, which /refresh passes
// on, then carries the same error and error_description, its other members
// untouched.
func (s answerShape) refusal(status int, body []byte, f tokenFields) *Error {
	own := errorCode(f.Error)
	desc := said(f)
	code := own
	if mapped, ok := s.errorCodes[own]; ok && own != "" {
		code = mapped
		desc = strings.TrimSuffix(own+": "+desc, ": ")
	}
	switch {
	case code != "":
	case status >= 400:
		code = codeForStatus(status)
	default: // a 200 with "ok": false or an "error" that is not a code
		code = "server_error"
	}
	if desc == "" {
		desc = "the provider refused the request"
	}
	e := &Error{Kind: KindProviderRejected, Code: code, Status: status, Body: body, Description: truncate(desc, 300),
		codeFromStatus: own == ""}
	if code != own {
		e.Body = withError(body, code, e.Description)
	}
	return e
}

// said is what the provider wrote about its refusal, bounded: its
// error_description, or its message (Figma, Twitch, GitHub); "" when it
// wrote neither.
func said(f tokenFields) string {
	if desc := describe(f.ErrorDescription); desc != "" {
		return desc
	}
	return describe(f.Message)
}

// withError returns the JSON object body with its error and
// error_description members set; the other members keep their values.
func withError(body []byte, code, description string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body // parseTokenResponse hands over JSON objects only
	}
	m["error"] = jsonstr.Append(nil, code)
	m["error_description"] = jsonstr.Append(nil, description)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func codeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status >= 400 && status < 500:
		return "invalid_grant"
	default:
		return "server_error"
	}
}

// present reports whether a member exists and is not null or "".
func present(v json.RawMessage) bool {
	s := string(bytes.TrimSpace(v))
	return s != "" && s != "null" && s != `""`
}

// hasError reports whether an "error" member says the request failed: any
// value but absent, null, "" or false.
func hasError(v json.RawMessage) bool {
	return present(v) && string(bytes.TrimSpace(v)) != "false"
}

// errorCode reads an "error" member as a code fit to pass on (RFC 6749
// §5.2's character set, bounded), or "" when it is not one.
func errorCode(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil && ValidErrorCode(s) {
		return s
	}
	return ""
}

// ValidErrorCode reports whether s may be passed on as an OAuth error code:
// RFC 6749 §5.2 allows printable ASCII but '"' and '\'; handoff also bounds
// the length so a provider cannot make it carry a page of text.
func ValidErrorCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// describe reads a text member (error_description, message), bounded, or
// gives "".
func describe(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return truncate(s, 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// asJSONObject returns raw when it is a JSON object, or converts a
// form-encoded answer (GitHub without Accept: application/json) into one.
func asJSONObject(contentType string, raw []byte) ([]byte, bool) {
	// JSON's own whitespace only: bytes.TrimSpace would also drop a \v or
	// U+0085 that makes the raw bytes, passed on as they are, invalid JSON.
	trimmed := bytes.Trim(raw, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if json.Valid(trimmed) {
			return raw, true
		}
		return nil, false
	}
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if mediaType == "application/x-www-form-urlencoded" || mediaType == "text/plain" {
		return formToJSON(string(trimmed))
	}
	return nil, false
}

// formToJSON converts a form-encoded token response into a JSON object with
// the members in their original order. Values are strings, except all-digit
// values of *_in members (expires_in, refresh_token_expires_in), which
// plugins check as numbers.
func formToJSON(s string) ([]byte, bool) {
	if s == "" || !strings.Contains(s, "=") {
		return nil, false
	}
	out := []byte{'{'}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || key == "" || !utf8.ValidString(key) || !utf8.ValidString(val) {
			return nil, false
		}
		if seen[key] {
			continue // first value wins, as url.Values.Get does
		}
		seen[key] = true
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = jsonstr.Append(out, key)
		out = append(out, ':')
		if strings.HasSuffix(key, "_in") && isDigits(val) {
			out = append(out, val...)
		} else {
			out = jsonstr.Append(out, val)
		}
	}
	if len(out) == 1 {
		return nil, false
	}
	return append(out, '}'), true
}

// isDigits reports whether s is a JSON-safe non-negative integer.
func isDigits(s string) bool {
	if s == "" || len(s) > 15 || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
