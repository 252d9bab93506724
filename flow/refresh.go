package flow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"handoff/internal/jsonstr"
	"net/url"
	"time"

	"handoff/internal/metrics"
)

// Refresh runs the refresh grant for the plugin. The provider's answer is
// passed on; when it has no refresh_token where the tokens sit (Google,
// Spotify and Figma keep the old one valid), the one the plugin sent is
// added, so a plugin that stores the whole answer keeps a working refresh
// token.
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
func (b *Broker) RefreshWith(ctx context.Context, refreshToken string, p Params) (_ []byte, err error) {
	replayed := false
	defer func() {
		if replayed {
			b.metrics.Refreshed(metrics.Replayed)
		} else {
			b.metrics.Refreshed(resultOf(err))
		}
	}()
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
		replayed = true
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
		start := time.Now()
		body, err := b.tokenRequest(ctx, endpoint, url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {refreshToken},
		})
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
		body = withRefreshToken(body, refreshToken, b.cfg.TokensAt)
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

// withRefreshToken adds the refresh token the plugin sent to the provider's
// answer when the answer carries none, leaving the provider's bytes otherwise
// as they were. tokensAt is the preset's member for tokens that are not at
// the top level (Slack's authed_user): when the answer's access token sits
// there, so does the added refresh token, and a refresh token the provider
// sent there is never joined by a stale one at the top level.
func withRefreshToken(body []byte, refreshToken, tokensAt string) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body // not an object; parseTokenResponse never returns one
	}
	if _, ok := top["refresh_token"]; ok {
		return body
	}
	member := jsonstr.Append([]byte(`"refresh_token":`), refreshToken)
	if tokensAt == "" {
		return insertMember(body, member)
	}
	var nested map[string]json.RawMessage
	if json.Unmarshal(top[tokensAt], &nested) != nil {
		return insertMember(body, member)
	}
	if _, ok := nested["refresh_token"]; ok {
		return body
	}
	if present(top["access_token"]) || !present(nested["access_token"]) {
		return insertMember(body, member)
	}
	start, end, ok := memberSpan(body, tokensAt)
	if !ok {
		return body
	}
	out := make([]byte, 0, len(body)+len(member)+1)
	out = append(out, body[:start]...)
	out = append(out, insertMember(body[start:end], member)...)
	return append(out, body[end:]...)
}

// insertMember adds member ("name":value) at the end of the JSON object obj.
func insertMember(obj, member []byte) []byte {
	start, end := bytes.IndexByte(obj, '{'), bytes.LastIndexByte(obj, '}')
	if start < 0 || end < start {
		return obj
	}
	out := make([]byte, 0, len(obj)+len(member)+1)
	out = append(out, obj[:end]...)
	if len(bytes.TrimSpace(obj[start+1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, member...)
	return append(out, obj[end:]...)
}

// memberSpan finds the bytes of the value of the top-level member name in
// the JSON object body: the last one, as encoding/json reads duplicates.
func memberSpan(body []byte, name string) (start, end int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, false
		}
		if key, _ := t.(string); key == name {
			end = int(dec.InputOffset())
			start = end - len(raw)
			ok = start >= 0 && bytes.Equal(body[start:end], raw)
		}
	}
	return start, end, ok
}
