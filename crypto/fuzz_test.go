package crypto_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"handoff/crypto"

	"golang.org/x/crypto/chacha20poly1305"
)

func FuzzOpen(f *testing.F) {
	s := newSealer(f, testKey(1), testKey(2))
	for _, n := range []int{0, 1, 2, 60, 100, 300} {
		sealed := s.Seal(payload(n), adState)
		f.Add(sealed)
		f.Add(sealed[:len(sealed)-1])
		f.Add(sealed + "A")
		f.Add(sealed[:20] + "\n" + sealed[20:])
	}
	f.Add(newSealer(f, testKey(2)).Seal(payload(60), adState))
	f.Add(newSealer(f, testKey(3)).Seal(payload(60), adState))
	f.Add("")
	f.Add(strings.Repeat("\n", 55))
	f.Add(strings.Repeat("A", crypto.MaxSealedLen))
	f.Fuzz(func(t *testing.T, in string) {
		pt, nonce, err := s.Open(nil, in, adState)
		if err != nil {
			if err != crypto.ErrInvalid || pt != nil || nonce != [crypto.NonceSize]byte{} {
				t.Fatalf("refused with %v, %x, %x", err, pt, nonce)
			}
			return
		}
		// Whatever opens is a canonical encoding of version || nonce || box.
		raw := decode(t, in)
		if encode(raw) != in || raw[0] != 1 || !bytes.Equal(raw[1:1+crypto.NonceSize], nonce[:]) {
			t.Fatalf("opened a non-canonical value %q", in)
		}
		if len(raw) != 1+crypto.NonceSize+len(pt)+chacha20poly1305.Overhead {
			t.Fatalf("opened %q to %d bytes of plaintext", in, len(pt))
		}
		mustRefuse(t, s, in, adReadKey)
		again, _, err := s.Open(nil, s.Seal(pt, adState), adState)
		if err != nil || !bytes.Equal(again, pt) {
			t.Fatalf("re-sealed plaintext did not round-trip: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	key := payload(crypto.KeySize)
	for _, in := range []string{
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		" " + hex.EncodeToString(key) + "\n",
		"", "garbage", hex.EncodeToString(key)[:63],
	} {
		f.Add(in)
	}
	_, refusal := crypto.ParseKey("")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := crypto.ParseKey(in)
		if err != nil {
			// One message for every refusal, so none can echo the input.
			if k != nil || err.Error() != refusal.Error() {
				t.Fatalf("refused with %x, %q", k, err)
			}
			return
		}
		if len(k) != crypto.KeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
		// Accepted only as one of the documented spellings of the key.
		s := strings.TrimSpace(in)
		if !strings.EqualFold(s, hex.EncodeToString(k)) &&
			s != base64.StdEncoding.EncodeToString(k) &&
			s != base64.RawStdEncoding.EncodeToString(k) &&
			s != base64.URLEncoding.EncodeToString(k) &&
			s != base64.RawURLEncoding.EncodeToString(k) {
			t.Fatalf("accepted %q, not a canonical spelling of %x", in, k)
		}
	})
}
