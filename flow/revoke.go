package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"handoff/internal/metrics"
	"net/http"
	"net/url"
	"time"
)

// Revoke ends a grant at the provider (docs/protocol.md#revoke), so a
// plugin's "Log out" really logs out: RFC 7009 for most providers, GitHub's
// own DELETE for GitHub. tokenTypeHint may be empty; p may carry the
// template variables of the revocation endpoint. A nil error means the
// provider said yes.
func (b *Broker) Revoke(ctx context.Context, token, tokenTypeHint string, p Params) (err error) {
	if b.revokeEndpoint.raw == "" {
		b.metrics.Revoked(metrics.Unsupported)
		return fail(KindUnsupported, "unsupported_token_type", "this app has no revocation endpoint (REVOKE_ENDPOINT)")
	}
	defer func() { b.countRevoke(err) }()
	if token == "" {
		return fail(KindInvalidRequest, "invalid_request", "token is required")
	}
	if tokenTypeHint != "" && !validTokenTypeHint(tokenTypeHint) {
		return invalidParam("token_type_hint", "must be a token type such as access_token or refresh_token")
	}
	endpoint, err := b.endpointFor(b.revokeEndpoint, p)
	if err != nil {
		return err
	}
	if err := b.acquireProvider(); err != nil {
		return err
	}
	defer b.releaseProvider()
	// Detached from ctx's cancellation, as the token requests: a plugin
	// that closes its window right after asking still logs out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ProviderTimeout)
	defer cancel()

	start := time.Now()
	if b.cfg.RevokeStyle == RevokeGitHubGrant {
		err = b.revokeOnce(ctx, endpoint, token, tokenTypeHint, AuthBasic)
	} else {
		err = b.revokeRFC7009(ctx, endpoint, token, tokenTypeHint)
	}
	b.providerCall(metrics.Revoke, start)
	if err != nil {
		var ferr *Error
		if errors.As(err, &ferr) {
			b.log.Info("revoke failed", ferr.logAttrs()...)
		}
		return err
	}
	// A refresh answer kept for this token must not outlive the grant.
	if refresh, err := b.endpointFor(b.refreshEndpoint, p); err == nil {
		b.replays.Remove(b.refreshKey(refresh, token))
	}
	b.log.Debug("revoke completed")
	return nil
}

// revokeRFC7009 authenticates as the token endpoint does, by the same
// rule (withAuthStyle), AuthAuto included.
func (b *Broker) revokeRFC7009(ctx context.Context, endpoint, token, hint string) error {
	return b.withAuthStyle(func(style AuthStyle) error {
		return b.revokeOnce(ctx, endpoint, token, hint, style)
	})
}

// revokeOnce sends one revocation request in the app's style.
func (b *Broker) revokeOnce(ctx context.Context, endpoint, token, hint string, style AuthStyle) error {
	var req *http.Request
	var err error
	if b.cfg.RevokeStyle == RevokeGitHubGrant {
		// DELETE /applications/{client_id}/grant with the OAuth app's
		// id and secret as Basic credentials (GitHub's REST API, not an
		// OAuth endpoint: no form-encoding of the parts).
		body, _ := json.Marshal(map[string]string{"access_token": token})
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, endpoint, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/vnd.github+json")
			req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
			req.SetBasicAuth(b.cfg.ClientID, b.cfg.ClientSecret)
		}
	} else {
		fields := url.Values{"token": {token}}
		if hint != "" {
			fields.Set("token_type_hint", hint)
		}
		req, err = b.clientRequest(ctx, endpoint, fields, style)
	}
	if err != nil {
		return &Error{Kind: KindProviderFailed, Code: "server_error", Description: "the revocation endpoint is misconfigured", Err: redactURLError(err)}
	}
	status, contentType, raw, err := b.send(ctx, req)
	if err != nil {
		return err
	}
	return b.shape.parseRevokeResponse(status, contentType, raw)
}

// parseRevokeResponse reads a revocation answer. RFC 7009 §2.2: 200 means
// revoked (an unknown token too); GitHub answers 204. A 2xx carrying an
// error (Slack's "ok": false) is a refusal. A refusal's JSON is passed on
// with its status, as /refresh does, with the preset's error codes mapped;
// a refusal without a code is invalid_request (RFC 7009 §2.2.1 has no
// invalid_grant), or invalid_client for a 401.
func (s answerShape) parseRevokeResponse(status int, contentType string, raw []byte) error {
	body, isJSON := asJSONObject(contentType, raw)
	var f tokenFields
	if isJSON {
		f = readTokenFields(body, "")
	}
	refused := hasError(f.Error) || f.NotOK
	switch {
	case status >= 200 && status < 300 && !refused:
		return nil
	case status >= 200 && status < 300, status >= 400 && status < 500 && status != http.StatusTooManyRequests:
		code := "invalid_request"
		if status == http.StatusUnauthorized {
			code = "invalid_client"
		}
		if isJSON && errorCode(f.Error) != "" {
			return s.refusal(status, body, f)
		}
		// No code of its own: the status says what happened, and the
		// provider's JSON, if any, passes as it is (GitHub's {"message"}).
		desc := said(f)
		if desc == "" {
			desc = fmt.Sprintf("the provider refused the revocation (HTTP %d)", status)
		}
		return &Error{Kind: KindProviderRejected, Code: code, Status: status, Body: body,
			Description: desc, codeFromStatus: true}
	default:
		code := "server_error"
		if status == http.StatusTooManyRequests {
			code = "temporarily_unavailable"
		}
		return &Error{Kind: KindProviderFailed, Code: code, Status: status,
			Description: fmt.Sprintf("the provider failed to revoke (HTTP %d)", status)}
	}
}

// validTokenTypeHint admits the hints of RFC 7009 §2.1 and its extensions'
// shape: a short name.
func validTokenTypeHint(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}
