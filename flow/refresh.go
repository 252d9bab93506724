package flow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
)

// Refresh runs the refresh grant for the plugin. The provider's answer is
// passed on; when it has no refresh_token (Google, Spotify and Figma keep the
// old one valid), the one the plugin sent is added, so a plugin that stores
// the whole answer keeps a working refresh token.
//
// Many providers rotate refresh tokens: a refresh spends the token sent. So
// that two plugin windows refreshing at once, or a retry after a lost
// answer, do not log the user out (docs/protocol.md#refresh), concurrent
// refreshes of one token share one provider call, and a successful answer
// is given again for RefreshReplayTTL to the same token without a call.
// Errors are never kept: a retry after one calls the provider again.
func (b *Broker) Refresh(ctx context.Context, refreshToken string) ([]byte, error) {
	return b.RefreshWith(ctx, refreshToken, nil)
}

// RefreshWith is Refresh for a request that may carry the values of the
// template variables the refresh endpoint holds (docs/protocol.md#refresh).
func (b *Broker) RefreshWith(ctx context.Context, refreshToken string, p Params) ([]byte, error) {
	if refreshToken == "" {
		return nil, fail(KindInvalidRequest, "invalid_request", "refresh_token is required")
	}
	endpoint, err := b.endpointFor(b.refreshEndpoint, p)
	if err != nil {
		return nil, err
	}
	key := b.refreshKey(endpoint, refreshToken)
	if body, ok := b.replays.Get(key); ok {
		b.log.Debug("refresh answered again", "reason", "same refresh token within REFRESH_REPLAY_TTL")
		return body, nil
	}
	return b.refreshing.do(key, func() ([]byte, error) {
		// A call for this token may have finished between the look-up
		// above and this flight.
		if body, ok := b.replays.Get(key); ok {
			return body, nil
		}
		if err := b.acquireProvider(); err != nil {
			return nil, err
		}
		body, err := b.tokenRequest(ctx, endpoint, url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {refreshToken},
		})
		b.releaseProvider()
		if err != nil {
			var ferr *Error
			if errors.As(err, &ferr) {
				b.log.Info("refresh failed", ferr.logAttrs()...)
			}
			return nil, err
		}
		b.log.Debug("refresh completed")
		body = withRefreshToken(body, refreshToken)
		b.replays.Add(key, body)
		return body, nil
	})
}

// refreshKey identifies one refresh token of this app in the replay store
// and among the calls in flight: a SHA-256 of the client, the endpoint and
// the token, so neither store holds the token itself.
func (b *Broker) refreshKey(endpoint, refreshToken string) [32]byte {
	h := sha256.New()
	for _, s := range []string{"handoff refresh v1", b.cfg.ClientID, endpoint, refreshToken} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var key [32]byte
	h.Sum(key[:0])
	return key
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
	member := appendJSONString([]byte(`"refresh_token":`), refreshToken)
	out := make([]byte, 0, len(body)+len(member)+1)
	out = append(out, body[:end]...)
	if len(bytes.TrimSpace(body[start+1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, member...)
	return append(out, body[end:]...)
}
