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
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// KeySize is the size of a seal key in bytes.
	KeySize = chacha20poly1305.KeySize
	// NonceSize is the size of the random nonce that starts every sealed value.
	NonceSize = chacha20poly1305.NonceSizeX

	// MaxSealedLen bounds the encoded values Open accepts, so hostile input
	// costs little to refuse. It allows payloads of up to MaxPayload bytes.
	MaxSealedLen = 1024
	// MaxPayload is the longest payload Seal accepts (727 bytes).
	MaxPayload = maxPlaintextLen

	version  = 1
	overhead = 1 + NonceSize + chacha20poly1305.Overhead

	minSealedLen    = (overhead*8 + 5) / 6 // encoded length of an empty payload
	maxRawLen       = MaxSealedLen * 6 / 8 // decoded length of MaxSealedLen characters
	maxPlaintextLen = maxRawLen - overhead
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

// scratch is the working memory of one Seal or Open: the decoded value, then
// room for its encoding (Seal) or its plaintext (Open). It comes from a pool
// rather than the stack because the AEAD sits behind an interface, and a
// buffer passed through an interface call escapes to the heap: on the stack
// it would cost an allocation per call anyway.
type scratch [maxRawLen + MaxSealedLen]byte

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

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
// returns the encoded value.
//
// It panics if plaintext is longer than 727 bytes, since Open would refuse
// the result: a silent failure at the far end of a login is worse than a
// crash at the near end. Like crypto/rand, it also panics if the system's
// random source fails.
func (s *Sealer) Seal(plaintext, ad []byte) string {
	if len(plaintext) > maxPlaintextLen {
		panic("crypto: payload too long to seal")
	}
	b := scratchPool.Get().(*scratch)
	raw := append(b[:0], version)
	raw = raw[:1+NonceSize]
	rand.Read(raw[1:])
	// Sealed in place, after a copy into the scratch: passed to the AEAD
	// interface, the caller's plaintext would escape to the heap, an
	// allocation per call on the caller's side. The ciphertext overwrites
	// the copy, so the pool keeps no plaintext.
	pt := append(raw[len(raw):], plaintext...)
	raw = s.keys[0].Seal(raw, raw[1:], pt, ad)
	enc := b[maxRawLen : maxRawLen+encoding.EncodedLen(len(raw))]
	encoding.Encode(enc, raw)
	sealed := string(enc)
	scratchPool.Put(b)
	return sealed
}

// Open decodes, authenticates and decrypts a value produced by Seal with the
// same ad, appending the plaintext to dst. It also returns the nonce, which
// identifies the sealed value (for example to remember that a state was used).
// On error, it returns nil and a zero nonce.
//
// Open allocates nothing when dst has room for the plaintext and ad is not
// built for each call (the AEAD interface makes ad escape to the heap, so a
// []byte("...") conversion at the call site allocates there).
func (s *Sealer) Open(dst []byte, sealed string, ad []byte) (plaintext []byte, nonce [NonceSize]byte, err error) {
	if len(sealed) > MaxSealedLen || len(sealed) < minSealedLen {
		return nil, nonce, ErrInvalid
	}
	b := scratchPool.Get().(*scratch)
	defer scratchPool.Put(b)
	// The compiler converts without copying, as Decode only reads
	// (TestAllocs holds it to that).
	n, err := encoding.Decode(b[:maxRawLen], []byte(sealed))
	// Even a strict decoder skips CR and LF, so a value with some added would
	// be another encoding of the same bytes, or if made of little else, too
	// short to hold a nonce. Only the canonical encoding has this length.
	if err != nil || encoding.EncodedLen(n) != len(sealed) {
		return nil, nonce, ErrInvalid
	}
	raw := b[:n] // at least overhead bytes, as len(sealed) >= minSealedLen
	if raw[0] != version {
		return nil, nonce, ErrInvalid
	}
	// Decrypt into the rest of the scratch, not in place: a failed Open
	// zeroes its output, which would spoil the value for the next key.
	out := b[maxRawLen:maxRawLen]
	for _, k := range s.keys {
		if pt, err := k.Open(out, raw[1:1+NonceSize], raw[1+NonceSize:], ad); err == nil {
			dst = append(dst, pt...)
			clear(pt) // the pool keeps no plaintext
			copy(nonce[:], raw[1:1+NonceSize])
			return dst, nonce, nil
		}
	}
	return nil, nonce, ErrInvalid
}

// DeriveKey derives a seal key from secret with HKDF-SHA256. The label keeps
// keys for different uses (and different apps) independent even when they
// come from the same secret, such as a client secret. There is no salt: the
// secret is meant to be high-entropy already (a provider-issued client secret
// or a random key), and a salt would be one more value for machines to share.
func DeriveKey(secret []byte, label string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, label, KeySize)
	if err != nil { // only for absurd lengths
		panic(err)
	}
	return key
}

var errKey = errors.New("not a 32-byte key in hex (64 characters) or base64")

// ParseKey reads a KeySize-byte key written as 64 hex characters, or as
// standard or URL-safe base64, padded or not, with surrounding space allowed.
// Decoding is strict, so a garbled key is an error rather than another key.
// The error is the same for every input, since the input is a secret.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var encs []*base64.Encoding
	switch len(s) {
	case hex.EncodedLen(KeySize):
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
		return nil, errKey
	case base64.StdEncoding.EncodedLen(KeySize):
		encs = []*base64.Encoding{base64.StdEncoding, base64.URLEncoding}
	case base64.RawStdEncoding.EncodedLen(KeySize):
		encs = []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding}
	}
	// The length check above also keeps out the line breaks that base64
	// decoders skip.
	for _, enc := range encs {
		if k, err := enc.Strict().DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, errKey
}
