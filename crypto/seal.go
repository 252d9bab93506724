// Package crypto seals and opens the small payloads that let handoff keep no
// state for logins in flight: the OAuth state and the read key.
//
// A sealed value is XChaCha20-Poly1305 over the payload, with a random 24-byte
// nonce (large enough that random nonces never collide in practice, so keys
// need no counter and several machines can share one key), encoded as
// unpadded base64url so it can travel in a URL query without escaping:
//
//	base64url( version(1) || nonce(24) || ciphertext || tag(16) )
//
// The version byte lets a future format coexist with this one. The associated
// data names the purpose of the payload, so a value sealed as one thing (a read
// key) cannot be opened as another (a state). Decoding is strict: a value has
// exactly one accepted encoding, so the nonce identifies the value.
package crypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// KeySize is the size of a seal key in bytes.
	KeySize = chacha20poly1305.KeySize
	// NonceSize is the size of the random nonce that starts every sealed value.
	NonceSize = chacha20poly1305.NonceSizeX

	version  = 1
	overhead = 1 + NonceSize + chacha20poly1305.Overhead
	// MaxSealedLen bounds the encoded values Open accepts, so hostile input
	// costs nothing to refuse. Payloads here are under 200 bytes.
	MaxSealedLen = 1024
)

// ErrInvalid is returned for any value that does not open: malformed,
// truncated, tampered with, sealed under an unknown key or for another purpose.
// Callers learn nothing more, on purpose.
var ErrInvalid = errors.New("sealed value is invalid")

var encoding = base64.RawURLEncoding.Strict()

// Sealer seals with its current key and opens with the current key or any old
// key, so a key rotation does not break values sealed just before it.
type Sealer struct {
	keys []aead // keys[0] seals; all open
}

type aead = interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// NewSealer returns a Sealer that seals with current and also opens values
// sealed with any of old. Every key must be KeySize bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{current}, old...) {
		a, err := chacha20poly1305.NewX(k)
		if err != nil {
			return nil, fmt.Errorf("seal key %d: %w", i, err)
		}
		s.keys = append(s.keys, a)
	}
	return s, nil
}

// Seal encrypts and authenticates plaintext for the purpose named by ad and
// returns the encoded value. It panics only if the system's random source
// fails, as crypto/rand does.
func (s *Sealer) Seal(plaintext, ad []byte) string {
	var stack [256]byte
	raw := stack[:0]
	if n := overhead + len(plaintext); n > len(stack) {
		raw = make([]byte, 0, n)
	}
	raw = append(raw, version)
	raw = raw[:1+NonceSize]
	rand.Read(raw[1:]) // never returns an error; crashes the program on failure
	raw = s.keys[0].Seal(raw, raw[1:1+NonceSize], plaintext, ad)
	return encoding.EncodeToString(raw)
}

// Open decodes, authenticates and decrypts a value produced by Seal with the
// same ad, appending the plaintext to dst. It also returns the nonce, which
// identifies the sealed value (for example to remember that a state was used).
func (s *Sealer) Open(dst []byte, sealed string, ad []byte) (plaintext []byte, nonce [NonceSize]byte, err error) {
	if len(sealed) > MaxSealedLen || len(sealed) < encoding.EncodedLen(overhead) {
		return nil, nonce, ErrInvalid
	}
	var stack [MaxSealedLen]byte
	n, err := encoding.Decode(stack[:], []byte(sealed))
	if err != nil {
		return nil, nonce, ErrInvalid
	}
	raw := stack[:n]
	if raw[0] != version {
		return nil, nonce, ErrInvalid
	}
	copy(nonce[:], raw[1:1+NonceSize])
	for _, k := range s.keys {
		if out, err := k.Open(dst, nonce[:], raw[1+NonceSize:], ad); err == nil {
			return out, nonce, nil
		}
	}
	return nil, nonce, ErrInvalid
}

// DeriveKey derives a seal key from secret with HKDF-SHA256. The label keeps
// keys for different uses (and different apps) independent even when they
// come from the same secret, such as a client secret.
func DeriveKey(secret []byte, label string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, label, KeySize)
	if err != nil { // only for absurd lengths
		panic(err)
	}
	return key
}

// ParseKey reads a KeySize-byte key written as 64 hex characters, or as
// standard or URL-safe base64, padded or not. It never echoes the input in
// its error, since the input is a secret.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("not a %d-byte key in hex (64 characters) or base64", KeySize)
}
