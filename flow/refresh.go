package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"handoff/internal/jsonstr"
	"net/url"
	"time"

	"handoff/internal/metrics"
)

// Refresh runs the refresh grant for the plugin. The provider's answer is
// passed on; when it has no refresh_token (Google, Spotify and Figma keep the
// old one valid), the one the plugin sent is added, so a plugin that stores
// the whole answer keeps a working refresh token.
func (b *Broker) Refresh(ctx context.Context, refreshToken string) (_ []byte, err error) {
	defer func() { b.metrics.Refreshed(resultOf(err)) }()
	if refreshToken == "" {
		return nil, fail(KindInvalidRequest, "invalid_request", "refresh_token is required")
	}
	params := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	if err := b.acquireProvider(); err != nil {
		return nil, err
	}
	start := time.Now()
	body, err := b.tokenRequest(ctx, b.cfg.RefreshEndpoint, params)
	b.providerCall(metrics.Refresh, start)
	b.releaseProvider()
	if err != nil {
		var ferr *Error
		if errors.As(err, &ferr) {
			b.log.Info("refresh failed", ferr.logAttrs()...)
		}
		return nil, err
	}
	b.log.Debug("refresh completed")
	return withRefreshToken(body, refreshToken), nil
}

// withRefreshToken adds a refresh_token member to the JSON object body when it
// has none, leaving the provider's bytes otherwise as they were.
func withRefreshToken(body []byte, refreshToken string) []byte {
	var probe struct {
		RefreshToken json.RawMessage `json:"refresh_token"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.RefreshToken != nil {
		return body
	}
	start, end := bytes.IndexByte(body, '{'), bytes.LastIndexByte(body, '}')
	if start < 0 || end < start { // not an object; parseTokenResponse never returns one
		return body
	}
	member := jsonstr.Append([]byte(`"refresh_token":`), refreshToken)
	out := make([]byte, 0, len(body)+len(member)+1)
	out = append(out, body[:end]...)
	if len(bytes.TrimSpace(body[start+1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, member...)
	return append(out, body[end:]...)
}
