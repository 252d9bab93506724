package crypto_test

import (
	"fmt"

	"handoff/crypto"
)

func ExampleSealer() {
	key, err := crypto.ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	s, err := crypto.NewSealer(key)
	if err != nil {
		panic(err)
	}
	state := s.Seal([]byte("read key and PKCE verifier"), adState)

	pt, _, err := s.Open(nil, state, adState)
	fmt.Printf("%s %v\n", pt, err)
	_, _, err = s.Open(nil, state, adReadKey)
	fmt.Println(err)
	// Output:
	// read key and PKCE verifier <nil>
	// sealed value is invalid
}
