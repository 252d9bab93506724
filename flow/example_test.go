package flow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"handoff/crypto"
	"handoff/flow"
)

// A whole login: the plugin starts it and polls, the provider redirects
// back with a code, and the one poll after that gets the provider's answer.
func ExampleBroker() {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at-1","token_type":"bearer","expires_in":3600}`)
	}))
	defer provider.Close()

	sealer, err := crypto.NewSealer(crypto.DeriveKey([]byte("a seal key from SEAL_KEY"), "example"))
	if err != nil {
		panic(err)
	}
	broker, err := flow.New(flow.Config{
		ClientID:          "plugin-client",
		ClientSecret:      "the provider's client secret",
		RedirectURI:       "https://handoff.example/redirect",
		AuthorizeEndpoint: "https://provider.example/authorize",
		TokenEndpoint:     provider.URL + "/token",
		PKCE:              true,
		LoginTTL:          10 * time.Minute,
		TokenTTL:          time.Minute,
		ProviderTimeout:   5 * time.Second,
		MaxPending:        100,
		Sealer:            sealer,
	})
	if err != nil {
		panic(err)
	}
	defer broker.Close()

	login := broker.Authorize() // stores nothing
	_, err = broker.Poll(login.ReadKey, flow.PollOptions{})
	fmt.Println("poll:", code(err))

	// The provider sends the user's browser back with the state and a code.
	authorize, _ := url.Parse(login.URL)
	err = broker.Redirect(context.Background(), flow.Callback{State: authorize.Query().Get("state"), Code: "code-1"})
	fmt.Println("redirect:", err)

	tokens, err := broker.Poll(login.ReadKey, flow.PollOptions{})
	fmt.Printf("poll: %s %v\n", tokens, err)
	_, err = broker.Poll(login.ReadKey, flow.PollOptions{})
	fmt.Println("poll:", code(err))
	// Output:
	// poll: authorization_pending
	// redirect: <nil>
	// poll: {"access_token":"at-1","token_type":"bearer","expires_in":3600} <nil>
	// poll: already_delivered
}

func code(err error) string {
	var e *flow.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}
