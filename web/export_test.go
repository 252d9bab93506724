package web

import (
	"context"
	"net/netip"
)

// PublicAddr is publicAddr, for the table of api_test.go.
var PublicAddr = publicAddr

// SetLookupIP makes upstream host names resolve with f until the returned
// function restores the resolver. Tests that use it must not run in
// parallel with others that dial API upstreams by name.
func SetLookupIP(f func(ctx context.Context, host string) ([]netip.Addr, error)) (restore func()) {
	old := lookupIP
	lookupIP = f
	return func() { lookupIP = old }
}
