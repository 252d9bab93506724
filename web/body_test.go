package web

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestIdentityEncoded(t *testing.T) {
	for _, tc := range []struct {
		fields []string // Content-Encoding fields, in order
		want   bool
	}{
		{[]string{"identity"}, true},
		{[]string{"IDENTITY"}, true},
		{[]string{" identity ,identity"}, true},
		{[]string{"identity", "identity"}, true},
		{[]string{""}, true},
		{[]string{"identity,"}, true},
		{[]string{"gzip"}, false},
		{[]string{"GZip"}, false},
		{[]string{"identity, gzip"}, false},
		{[]string{"gzip, identity"}, false},
		{[]string{"identity", "br"}, false},
		{[]string{"identityx"}, false},
		{[]string{"x-gzip"}, false},
	} {
		var h fasthttp.RequestHeader
		for _, f := range tc.fields {
			h.Add(fasthttp.HeaderContentEncoding, f)
		}
		if got := identityEncoded(&h); got != tc.want {
			t.Errorf("Content-Encoding %q: identityEncoded = %t, want %t", tc.fields, got, tc.want)
		}
	}
}

func TestHasTransferEncoding(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{"Host: x\r\nTransfer-Encoding: identity\r\n", true},
		{"Host: x\r\ntransfer-encoding: identity\r\n", true},
		{"TRANSFER-ENCODING:identity\n", true},
		{"Host: x\r\nContent-Length: 3\r\n", false},
		{"Host: x\r\nX-Transfer-Encoding: identity\r\n", false},
		{"Host: x\r\nTransfer-Encodings: identity\r\n", false},
		{"Host: transfer-encoding: x\r\n", false},
		{"", false},
	} {
		if got := hasTransferEncoding([]byte(tc.raw)); got != tc.want {
			t.Errorf("%q: hasTransferEncoding = %t, want %t", tc.raw, got, tc.want)
		}
	}
}
