package flow

import (
	"testing"
	"testing/cryptotest"
	"time"
)

// goldenBroker is a Broker whose logins are fully determined: a fixed seal
// key and clock, and (with cryptotest.SetGlobalRandom) a fixed random source.
func goldenBroker(t *testing.T, pkce bool, machine string) *Broker {
	t.Helper()
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://provider.example/oauth/authorize?tenant=a",
		Scope:             "openid profile",
		PKCE:              pkce,
		MachineID:         machine,
	})
	b.now = func() time.Time { return time.Unix(1767225600, 0) }
	return b
}

// TestAuthorizeGolden pins /authorize without parameters to the bytes it
// gave before per-login choices existed (docs/protocol.md#authorize: without
// parameters the answer is exactly the plain one). The values were recorded
// from the code before that change, under the same seed and clock.
func TestAuthorizeGolden(t *testing.T) {
	for _, c := range []struct {
		name    string
		pkce    bool
		machine string
		want    Login
	}{
		{"PKCE", true, "", Login{
			URL:     "https://provider.example/oauth/authorize?client_id=client-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fredirect&response_type=code&scope=openid+profile&tenant=a&state=ARfuePvITgN0SkJW880jnPf_Ngql3Y8lCjokInSdZAdXJWtANonxoPNXrw52BYoUD5__vgNU3fviXkmyDh76F2fGNCGx2Rlj07ggHbBfxKtqsYU1wGRfyQmAodVELrRrF7I&code_challenge=UTJUoZKB4a9FjBGe0e0bxqW0bs0b0ofw9C6SF1Py0l0&code_challenge_method=S256",
			ReadKey: "AVAmjM8V_OcNbbCfMc9g4H0lth1Kq0W7R1WkdCl4NwsxyAbvC9hiE6-WiaPrzS2M-yMosLb6ah2oXixSMzTAxVs",
		}},
		{"no PKCE, machine id", false, "3d8d9d1c2e4f58", Login{
			URL:     "https://provider.example/oauth/authorize?client_id=client-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fredirect&response_type=code&scope=openid+profile&tenant=a&state=AQEKgshSU71UnFbyyXALAmHYgRvQoUJABsTYz6w-oUdfIvJiKkILteNNUU0U74B0EYW_ZUbsESyGLYTooQ-Pxh3bwl6FeOoE3fKqHi1XtKc",
			ReadKey: "AVAmjM8V_OcNbbCfMc9g4H0lth1Kq0W7R1WkdCl4NwsxyAbvC9hiE6-WiaPrzS2M--6qKRd9qjEhQVUQ4V_etn_zPqMGFiD479v6c0hX0w",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 13)
			got := goldenBroker(t, c.pkce, c.machine).Authorize()
			got.id = loginID{} // the log's reference, not part of the answer
			if got != c.want {
				t.Errorf("Authorize() =\n%#v\nwant\n%#v", got, c.want)
			}
			// /authorize without parameters calls AuthorizeWith(nil).
			cryptotest.SetGlobalRandom(t, 13)
			got, err := goldenBroker(t, c.pkce, c.machine).AuthorizeWith(nil)
			got.id = loginID{}
			if err != nil || got != c.want {
				t.Errorf("AuthorizeWith(nil) =\n%#v, %v\nwant\n%#v", got, err, c.want)
			}
		})
	}
}

// goldenLogin runs start on a fresh golden broker (PKCE, no machine id)
// under the golden seed, so two calls can be compared byte for byte.
func goldenLogin(t *testing.T, start func(*Broker) Login) Login {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 13)
	return start(goldenBroker(t, true, ""))
}
