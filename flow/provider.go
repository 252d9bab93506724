package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"handoff/internal/jsonstr"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxProviderBody caps what handoff reads of a provider's answer.
const maxProviderBody = 1 << 20

// tokenRequest posts one grant to endpoint and returns the provider's answer
// as a JSON object: the provider's own bytes when it sent JSON, a faithful
// conversion when it sent a form. The request runs on a context detached from
// ctx's cancellation (a shutdown must not abort an exchange whose code cannot
// be used twice) but bounded by the provider timeout.
func (b *Broker) tokenRequest(ctx context.Context, endpoint string, params url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ProviderTimeout)
	defer cancel()

	style := b.cfg.AuthStyle
	if style == AuthAuto && b.basicRefused.Load() {
		style = AuthPost
	}
	if style != AuthAuto {
		return b.postToken(ctx, endpoint, params, style)
	}
	body, err := b.postToken(ctx, endpoint, params, AuthBasic)
	if !refusedClient(err) {
		return body, err
	}
	body, err = b.postToken(ctx, endpoint, params, AuthPost)
	if settled(err) {
		// The provider took the credentials in the body where it refused
		// Basic: go there directly from now on. A 5xx, a 429, a timeout
		// or a refusal of both says nothing about the style and changes
		// nothing; settling on it would fail every later call until a
		// restart.
		b.basicRefused.Store(true)
	}
	return body, err
}

// settled reports whether an answer shows that the provider accepted the
// client's credentials: a token response, or an OAuth error of its own (a
// JSON or form body) about the grant rather than the client, such as
// invalid_grant. A bare 4xx page may come from a proxy in front of it.
func settled(err error) bool {
	if err == nil {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Kind == KindProviderRejected && e.Body != nil &&
		e.Status != http.StatusRequestTimeout && !refusedClient(err)
}

// refusedClient reports whether the provider turned down how the client
// authenticated, the sign that it wants its credentials another way: a 401,
// or an OAuth error about the client or the request's shape (some servers,
// such as mockoidc, answer invalid_request to credentials they do not take).
func refusedClient(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindProviderRejected {
		return false
	}
	switch e.Code {
	case "invalid_client", "invalid_request", "unauthorized_client":
		return true
	}
	return e.Status == http.StatusUnauthorized
}

func (b *Broker) postToken(ctx context.Context, endpoint string, params url.Values, style AuthStyle) ([]byte, error) {
	fields := make(url.Values, len(params)+2)
	for k, v := range params {
		fields[k] = v
	}
	if style == AuthPost {
		fields.Set("client_id", b.cfg.ClientID)
		fields.Set("client_secret", b.cfg.ClientSecret)
	}
	var body []byte
	contentType := "application/x-www-form-urlencoded"
	if b.cfg.BodyFormat == BodyJSON {
		flat := make(map[string]string, len(fields))
		for k := range fields {
			flat[k] = fields.Get(k)
		}
		body, _ = json.Marshal(flat) // a map of strings always marshals
		contentType = "application/json"
	} else {
		body = []byte(fields.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindProviderFailed, Code: "server_error", Description: "the token endpoint is misconfigured", Err: redactURLError(err)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "handoff")
	if style == AuthBasic {
		// RFC 6749 §2.3.1: form-encode each part before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(b.cfg.ClientID), url.QueryEscape(b.cfg.ClientSecret))
	}

	resp, err := b.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if len(raw) > maxProviderBody {
		return nil, &Error{Kind: KindProviderFailed, Code: "server_error",
			Description: "the provider's answer is too large"}
	}
	return parseTokenResponse(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
}

// readBody reads at most maxProviderBody+1 bytes of the answer. When the
// provider says how long it is, the buffer is allocated once at that size:
// the body may wait in the token store for its poll, where io.ReadAll's
// buffer (512 bytes at least, doubling) would keep up to twice its size.
func readBody(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, maxProviderBody+1)
	if n := resp.ContentLength; n >= 0 && n <= maxProviderBody {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(r)
}

// transportError classifies a failure to get an answer at all.
func transportError(ctx context.Context, err error) *Error {
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || errors.As(err, &nerr) && nerr.Timeout() {
		return &Error{Kind: KindProviderTimeout, Code: "temporarily_unavailable",
			Description: "the provider did not answer in time", Err: redactURLError(err)}
	}
	return &Error{Kind: KindProviderFailed, Code: "server_error",
		Description: "the provider could not be reached", Err: redactURLError(err)}
}

// redactURLError keeps the cause but not the URL, so a misconfigured endpoint
// carrying credentials in its query never reaches a log.
func redactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
	}
	return err
}

// tokenFields are the members of a token response handoff looks at; the
// response itself is passed on untouched. Members are matched by their exact
// names, and one of an unexpected type does not hide the others.
type tokenFields struct {
	Error            json.RawMessage
	ErrorDescription json.RawMessage
	NotOK            bool // Slack's "ok": false
	AccessToken      json.RawMessage
	UserAccessToken  json.RawMessage // Slack's authed_user.access_token
}

func readTokenFields(body []byte) tokenFields {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return tokenFields{}
	}
	f := tokenFields{
		Error:            m["error"],
		ErrorDescription: m["error_description"],
		NotOK:            string(bytes.TrimSpace(m["ok"])) == "false",
		AccessToken:      m["access_token"],
	}
	if u, ok := m["authed_user"]; ok {
		var user map[string]json.RawMessage
		if json.Unmarshal(u, &user) == nil {
			f.UserAccessToken = user["access_token"]
		}
	}
	return f
}

// parseTokenResponse turns a provider's answer into a JSON object, or an
// *Error saying how the provider refused or failed.
func parseTokenResponse(status int, contentType string, raw []byte) ([]byte, error) {
	body, ok := asJSONObject(contentType, raw)
	if !ok {
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
			return nil, &Error{Kind: KindProviderRejected, Code: codeForStatus(status), Status: status,
				Description: fmt.Sprintf("the provider refused the request (HTTP %d)", status)}
		}
		code := "server_error"
		if status == http.StatusTooManyRequests {
			code = "temporarily_unavailable"
		}
		return nil, &Error{Kind: KindProviderFailed, Code: code, Status: status,
			Description: fmt.Sprintf("the provider's answer is not a token response (HTTP %d)", status)}
	}
	f := readTokenFields(body)
	code, hasError := errorCode(f.Error)
	if f.NotOK && !hasError {
		code, hasError = "server_error", true
	}
	switch {
	case status >= 500 || status < 200 || status >= 300 && status < 400 || status == http.StatusTooManyRequests:
		code := "server_error"
		if status == http.StatusTooManyRequests {
			code = "temporarily_unavailable" // the provider throttles handoff: not the user's fault
		}
		return nil, &Error{Kind: KindProviderFailed, Code: code, Status: status,
			Description: fmt.Sprintf("the provider failed (HTTP %d)", status)}
	case status >= 400:
		if !hasError {
			code = codeForStatus(status)
		}
		return nil, &Error{Kind: KindProviderRejected, Code: code, Status: status, Body: body,
			Description: describe(f.ErrorDescription, "the provider refused the request")}
	case hasError:
		return nil, &Error{Kind: KindProviderRejected, Code: code, Status: status, Body: body,
			Description: describe(f.ErrorDescription, "the provider refused the request")}
	case present(f.AccessToken) || present(f.UserAccessToken):
		return body, nil
	default:
		return nil, &Error{Kind: KindProviderFailed, Code: "server_error", Status: status,
			Description: "the provider's answer has no access token"}
	}
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

// errorCode reads an "error" member. A string that is a valid OAuth error
// code (RFC 6749 §5.2's character set, bounded) is kept; any other non-empty
// value still means failure, reported as server_error.
func errorCode(v json.RawMessage) (string, bool) {
	if !present(v) || string(bytes.TrimSpace(v)) == "false" {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) == nil && ValidErrorCode(s) {
		return s, true
	}
	return "server_error", true
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

// describe reads an error_description member, bounded, or gives fallback.
func describe(v json.RawMessage, fallback string) string {
	var s string
	if json.Unmarshal(v, &s) != nil || s == "" {
		return fallback
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
	trimmed := bytes.TrimSpace(raw)
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
