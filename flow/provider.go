package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

	var body []byte
	err := b.withAuthStyle(func(style AuthStyle) error {
		var err error
		body, err = b.postToken(ctx, endpoint, params, style)
		return err
	})
	return body, err
}

// withAuthStyle runs attempt, one request with the client's credentials, in
// the style TOKEN_AUTH_STYLE says (docs/protocol.md#talking-to-the-provider).
// The token and RFC 7009 revocation requests share it, so AuthAuto follows
// one rule for both: Basic first; the body when the provider refused the
// client (refusedClient); the body from then on once the provider gave a
// definite answer to it (settled).
func (b *Broker) withAuthStyle(attempt func(AuthStyle) error) error {
	style := b.cfg.AuthStyle
	if style == AuthAuto && b.basicRefused.Load() {
		style = AuthPost
	}
	if style != AuthAuto {
		return attempt(style)
	}
	err := attempt(AuthBasic)
	if !refusedClient(err) {
		return err
	}
	err = attempt(AuthPost)
	if settled(err) {
		// The provider took the credentials in the body where it refused
		// Basic: go there directly from now on. A 5xx, a 429, a timeout
		// or a refusal of both says nothing about the style and changes
		// nothing; settling on it would fail every later call until a
		// restart.
		b.basicRefused.Store(true)
	}
	return err
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
// or an OAuth error of its own about the client or the request's shape
// (some servers, such as mockoidc, answer invalid_request to credentials
// they do not take). A code handoff read off the status of an answer that
// carried none (a 403 or 404 page, GitHub's {"message"}) is not the
// provider's word about the client.
func refusedClient(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindProviderRejected {
		return false
	}
	if e.Status == http.StatusUnauthorized {
		return true
	}
	switch e.Code {
	case "invalid_client", "invalid_request", "unauthorized_client":
		return !e.codeFromStatus
	}
	return false
}

func (b *Broker) postToken(ctx context.Context, endpoint string, params url.Values, style AuthStyle) ([]byte, error) {
	req, err := b.clientRequest(ctx, endpoint, params, style)
	if err != nil {
		return nil, &Error{Kind: KindProviderFailed, Code: "server_error", Description: "the token endpoint is misconfigured", Err: redactURLError(err)}
	}
	status, contentType, raw, err := b.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return b.shape.parseTokenResponse(status, contentType, raw)
}

// send makes one request to the provider, a token or revocation request,
// and reads its answer, at most maxProviderBody of it. A failure to get an
// answer at all, or an answer too large, is an *Error; any status is not.
func (b *Broker) send(ctx context.Context, req *http.Request) (status int, contentType string, raw []byte, err error) {
	req.Header.Set("User-Agent", "handoff")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, "", nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err = readBody(resp)
	if err != nil {
		return 0, "", nil, transportError(ctx, err)
	}
	if len(raw) > maxProviderBody {
		return 0, "", nil, &Error{Kind: KindProviderFailed, Code: "server_error",
			Description: "the provider's answer is too large"}
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw, nil
}

// clientRequest is a POST of fields to endpoint with the app's client
// credentials, as the token endpoint wants them (docs/protocol.md#talking-to-the-provider):
// in the body (post) or as HTTP Basic, each part form-encoded first (RFC 6749
// §2.3.1), and a form or JSON body (BodyFormat). The token and revocation
// requests share it.
func (b *Broker) clientRequest(ctx context.Context, endpoint string, params url.Values, style AuthStyle) (*http.Request, error) {
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
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if style == AuthBasic {
		req.SetBasicAuth(url.QueryEscape(b.cfg.ClientID), url.QueryEscape(b.cfg.ClientSecret))
	}
	return req, nil
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
