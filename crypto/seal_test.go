package crypto_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"handoff/crypto"
)

// Package-level so that passing them to Open allocates nothing in the
// benchmarks, as callers are expected to do.
var (
	adState   = []byte("handoff state")
	adReadKey = []byte("handoff read key")
)

const urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, crypto.KeySize) }

func newSealer(t testing.TB, current []byte, old ...[]byte) *crypto.Sealer {
	t.Helper()
	s, err := crypto.NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

func decode(t testing.TB, s string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("sealed value is not strict unpadded base64url: %v", err)
	}
	return raw
}

func encode(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// mustRefuse checks that sealed does not open, and that the refusal says
// nothing beyond ErrInvalid: no plaintext and no nonce.
func mustRefuse(t *testing.T, s *crypto.Sealer, sealed string, ad []byte) {
	t.Helper()
	pt, nonce, err := s.Open(nil, sealed, ad)
	if err != crypto.ErrInvalid {
		t.Fatalf("Open(%q) error = %v, want ErrInvalid", sealed, err)
	}
	if pt != nil || nonce != [crypto.NonceSize]byte{} {
		t.Fatalf("Open(%q) refused but returned plaintext %x, nonce %x", sealed, pt, nonce)
	}
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, testKey(1))
	for _, n := range []int{0, 1, 100, 215, 216, 300, crypto.MaxSealedLen*3/4 - 41} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := payload(n)
			sealed := s.Seal(pt, adState)
			if len(sealed) > crypto.MaxSealedLen {
				t.Fatalf("sealed length %d > MaxSealedLen", len(sealed))
			}
			got, _, err := s.Open(nil, sealed, adState)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open = %x, %v; want %x", got, err, pt)
			}
			// Open appends to dst and leaves its contents alone.
			dst := append(make([]byte, 0, 1024), "prefix"...)
			got, _, err = s.Open(dst, sealed, adState)
			if err != nil || string(got[:6]) != "prefix" || !bytes.Equal(got[6:], pt) {
				t.Fatalf("Open(dst) = %q, %v", got, err)
			}
		})
	}
}

func TestSealTooLongPanics(t *testing.T) {
	s := newSealer(t, testKey(1))
	defer func() {
		if recover() == nil {
			t.Fatal("Seal of a payload Open would refuse did not panic")
		}
	}()
	s.Seal(payload(crypto.MaxSealedLen*3/4-41+1), adState)
}

func TestSealedFormat(t *testing.T) {
	key := testKey(7)
	s := newSealer(t, key)
	for _, n := range []int{0, 1, 60, 300} {
		pt := payload(n)
		sealed := s.Seal(pt, adState)
		if strings.Trim(sealed, urlAlphabet) != "" {
			t.Fatalf("sealed value %q has characters outside base64url", sealed)
		}
		raw := decode(t, sealed)
		if want := 1 + crypto.NonceSize + n + chacha20poly1305.Overhead; len(raw) != want {
			t.Fatalf("decoded length = %d, want %d", len(raw), want)
		}
		if raw[0] != 1 {
			t.Fatalf("version byte = %d, want 1", raw[0])
		}
		// Opened with the bare AEAD and no help from the package: the format
		// is exactly version || nonce || XChaCha20-Poly1305(key, nonce, pt, ad).
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := aead.Open(nil, raw[1:1+crypto.NonceSize], raw[1+crypto.NonceSize:], adState)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("bare XChaCha20-Poly1305 Open = %x, %v; want %x", got, err, pt)
		}
		// And a value built by hand with the bare AEAD opens with the package.
		nonce := bytes.Repeat([]byte{0xA5}, crypto.NonceSize)
		byHand := encode(aead.Seal(append([]byte{1}, nonce...), nonce, pt, adState))
		got, gotNonce, err := s.Open(nil, byHand, adState)
		if err != nil || !bytes.Equal(got, pt) || !bytes.Equal(gotNonce[:], nonce) {
			t.Fatalf("Open(hand-made value) = %x, %x, %v", got, gotNonce, err)
		}
	}
}

func TestOpenRefusesBitFlips(t *testing.T) {
	s := newSealer(t, testKey(1))
	sealed := s.Seal(payload(100), adState)
	raw := decode(t, sealed)
	for i := range len(raw) * 8 {
		flipped := bytes.Clone(raw)
		flipped[i/8] ^= 1 << (i % 8)
		mustRefuse(t, s, encode(flipped), adState)
	}
}

func TestOpenRefusesTruncation(t *testing.T) {
	s := newSealer(t, testKey(1))
	for _, n := range []int{0, 100} {
		sealed := s.Seal(payload(n), adState)
		for i := range len(sealed) {
			mustRefuse(t, s, sealed[:i], adState)
			mustRefuse(t, s, sealed[i+1:], adState)
		}
		raw := decode(t, sealed)
		for i := range len(raw) {
			mustRefuse(t, s, encode(raw[:i]), adState)
			mustRefuse(t, s, encode(raw[i+1:]), adState)
		}
	}
}

func TestOpenRefusesExtension(t *testing.T) {
	s := newSealer(t, testKey(1))
	sealed := s.Seal(payload(60), adState)
	raw := decode(t, sealed)
	for _, extra := range [][]byte{{0}, {1}, make([]byte, 16), payload(300)} {
		mustRefuse(t, s, encode(append(bytes.Clone(raw), extra...)), adState)
		mustRefuse(t, s, encode(append(bytes.Clone(extra), raw...)), adState)
	}
	for _, extra := range []string{"A", "AA", "AAA", "AAAA", "_", ".", " ", "\x00", "%3D"} {
		mustRefuse(t, s, sealed+extra, adState)
		mustRefuse(t, s, extra+sealed, adState)
	}
}

func TestOpenRefusesWrongVersion(t *testing.T) {
	s := newSealer(t, testKey(1))
	raw := decode(t, s.Seal(payload(60), adState))
	for _, v := range []byte{0, 2, 0x81, 0xFF} {
		raw[0] = v
		mustRefuse(t, s, encode(raw), adState)
	}
}

func TestOpenRefusesWrongKeyOrPurpose(t *testing.T) {
	s := newSealer(t, testKey(1))
	sealed := s.Seal(payload(60), adState)
	for _, k := range [][]byte{testKey(2), append(testKey(1)[:31], 0)} {
		mustRefuse(t, newSealer(t, k), sealed, adState)
	}
	for _, ad := range [][]byte{adReadKey, nil, []byte("handoff stat"), []byte("handoff state\x00")} {
		mustRefuse(t, s, sealed, ad)
	}
}

// TestOpenRefusesNonCanonical checks that a value has one encoding only, so
// that the nonce identifies it and a replay cannot pass as a new value.
func TestOpenRefusesNonCanonical(t *testing.T) {
	s := newSealer(t, testKey(1))
	// Payload sizes whose decoded length is not a multiple of 3, so the last
	// character carries padding bits (2 and 4 of them).
	for _, n := range []int{0, 2} {
		sealed := s.Seal(payload(n), adState)
		if _, _, err := s.Open(nil, sealed, adState); err != nil {
			t.Fatal(err)
		}
		last := strings.IndexByte(urlAlphabet, sealed[len(sealed)-1])
		padBits := map[int]int{1: 4, 2: 2}[len(decode(t, sealed))%3]
		if padBits == 0 {
			t.Fatalf("payload size %d leaves no padding bits", n)
		}
		for bits := 1; bits < 1<<padBits; bits++ {
			alt := sealed[:len(sealed)-1] + string(urlAlphabet[last^bits])
			mustRefuse(t, s, alt, adState)
		}
		for _, alt := range []string{
			sealed + "=", sealed + "==", sealed + "===",
			base64.URLEncoding.EncodeToString(decode(t, sealed)),
			base64.StdEncoding.EncodeToString(decode(t, sealed)),
			sealed[:20] + "\n" + sealed[20:],
			sealed[:20] + "\r\n" + sealed[20:],
			sealed + "\n", "\n" + sealed, sealed + "\r",
			" " + sealed, sealed + " ", sealed[:20] + " " + sealed[20:],
		} {
			mustRefuse(t, s, alt, adState)
		}
	}
	// The standard alphabet's '+' and '/' in place of '-' and '_'.
	tested := 0
	for range 100 {
		sealed := s.Seal(payload(60), adState)
		if !strings.ContainsAny(sealed, "-_") {
			continue
		}
		std := strings.NewReplacer("-", "+", "_", "/").Replace(sealed)
		mustRefuse(t, s, std, adState)
		if tested++; tested == 10 {
			break
		}
	}
	if tested == 0 {
		t.Fatal("no sealed value used '-' or '_'")
	}
}

func TestOpenRefusesJunk(t *testing.T) {
	s := newSealer(t, testKey(1))
	valid := s.Seal(payload(60), adState)
	for _, in := range []string{
		"",
		"A",
		strings.Repeat("A", 54),
		strings.Repeat("A", 55),
		strings.Repeat("A", crypto.MaxSealedLen),
		strings.Repeat("A", crypto.MaxSealedLen+1),
		strings.Repeat("A", 1<<20),
		valid + strings.Repeat("A", crypto.MaxSealedLen),
		// Newlines that the base64 decoder skips: a long input that decodes
		// to too few bytes to hold a version and a nonce.
		strings.Repeat("\n", 55),
		strings.Repeat("\r\n", crypto.MaxSealedLen/2),
		"AQ" + strings.Repeat("\n", 60),
		"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + strings.Repeat("\n", 30),
		strings.Repeat("=", 60),
		strings.Repeat("\x00", 60),
		strings.Repeat("é", 40),
	} {
		mustRefuse(t, s, in, adState)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	before := newSealer(t, oldKey)
	during := newSealer(t, newKey, oldKey)
	after := newSealer(t, newKey)

	pt := payload(60)
	sealedOld := before.Seal(pt, adState)
	if got, _, err := during.Open(nil, sealedOld, adState); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("value sealed under the old key: Open = %x, %v", got, err)
	}
	mustRefuse(t, after, sealedOld, adState)
	mustRefuse(t, during, sealedOld, adReadKey)

	sealedNew := during.Seal(pt, adState)
	for name, s := range map[string]*crypto.Sealer{"new only": after, "new and old": during} {
		if got, _, err := s.Open(nil, sealedNew, adState); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: Open(new value) = %x, %v", name, got, err)
		}
	}
	mustRefuse(t, before, sealedNew, adState)

	// Several old keys, the match last.
	many := newSealer(t, testKey(9), testKey(8), testKey(7), oldKey)
	if got, _, err := many.Open(nil, sealedOld, adState); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("fourth key: Open = %x, %v", got, err)
	}
}

func TestNewSealerRejectsBadKeys(t *testing.T) {
	secret := "sekrit-key-material-that-is-32b!"
	for _, tc := range []struct {
		current []byte
		old     [][]byte
	}{
		{nil, nil},
		{[]byte(secret[:31]), nil},
		{[]byte(secret + "!"), nil},
		{testKey(1), [][]byte{[]byte(secret[:31])}},
		{testKey(1), [][]byte{testKey(2), nil}},
	} {
		s, err := crypto.NewSealer(tc.current, tc.old...)
		if err == nil || s != nil {
			t.Fatalf("NewSealer(%d-byte key, %d old) = %v, %v; want an error", len(tc.current), len(tc.old), s, err)
		}
		if strings.Contains(err.Error(), secret[:8]) {
			t.Fatalf("error %q echoes the key", err)
		}
	}
}

func TestNonce(t *testing.T) {
	s := newSealer(t, testKey(1))
	seen := make(map[[crypto.NonceSize]byte]bool)
	pt := payload(10)
	for range 1000 {
		sealed := s.Seal(pt, adState)
		_, nonce, err := s.Open(nil, sealed, adState)
		if err != nil {
			t.Fatal(err)
		}
		if raw := decode(t, sealed); !bytes.Equal(nonce[:], raw[1:1+crypto.NonceSize]) {
			t.Fatalf("nonce %x is not bytes 1..25 of %x", nonce, raw)
		}
		if seen[nonce] {
			t.Fatalf("nonce %x repeated", nonce)
		}
		seen[nonce] = true
	}
}

func TestDeriveKey(t *testing.T) {
	// Known answer, computed independently with Python's hmac and hashlib
	// implementing RFC 5869 (extract with a salt of 32 zero bytes, as for an
	// absent salt, then expand with info = label):
	//
	//	prk = hmac.new(b"\0"*32, b"example client secret", hashlib.sha256).digest()
	//	okm = hmac.new(prk, b"handoff seal v1" + b"\x01", hashlib.sha256).digest()
	//
	// The same code reproduces RFC 5869 test case 3.
	const want = "11493ece32b94013928fb5748f9b917032d5fadfef3ce8058fdb071d923aa206"
	got := crypto.DeriveKey([]byte("example client secret"), "handoff seal v1")
	if hex.EncodeToString(got) != want {
		t.Fatalf("DeriveKey = %x, want %s", got, want)
	}
	// An empty secret still derives (the config refuses it, not this package).
	const wantEmpty = "eb70f01dede9afafa449eee1b1286504e1f62388b3f7dd4f956697b0e828fe18"
	if got := crypto.DeriveKey(nil, ""); hex.EncodeToString(got) != wantEmpty {
		t.Fatalf("DeriveKey(nil, \"\") = %x, want %s", got, wantEmpty)
	}

	keys := map[string]string{}
	for _, secret := range []string{"s1", "s2", "a much longer client secret, longer than a SHA-256 block of sixty-four bytes"} {
		for _, label := range []string{"handoff seal", "handoff seal hubspot-plugin", "handoff seal google-sheets-plugin", ""} {
			k := crypto.DeriveKey([]byte(secret), label)
			if len(k) != crypto.KeySize {
				t.Fatalf("len = %d, want %d", len(k), crypto.KeySize)
			}
			if again := crypto.DeriveKey([]byte(secret), label); !bytes.Equal(k, again) {
				t.Fatal("DeriveKey is not deterministic")
			}
			if prev, dup := keys[string(k)]; dup {
				t.Fatalf("secret %q label %q gives the same key as %s", secret, label, prev)
			}
			keys[string(k)] = fmt.Sprintf("secret %q label %q", secret, label)
			if _, err := crypto.NewSealer(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestParseKey(t *testing.T) {
	key := payload(crypto.KeySize)
	key[0], key[1], key[2] = 0xFB, 0xFF, 0xBF // '+' '/' in std base64, '-' '_' in URL
	hexKey := hex.EncodeToString(key)
	std := base64.StdEncoding.EncodeToString(key)
	url := base64.URLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key does not exercise both alphabets: %s %s", std, url)
	}
	for _, in := range []string{
		hexKey,
		strings.ToUpper(hexKey),
		std,
		strings.TrimRight(std, "="),
		url,
		strings.TrimRight(url, "="),
		"  " + hexKey + "\n",
		"\t" + std + " \r\n",
		" " + strings.TrimRight(url, "=") + " ",
	} {
		got, err := crypto.ParseKey(in)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v; want %x", in, got, err, key)
		}
	}

	b31, b33 := key[:31], append(bytes.Clone(key), 0)
	// The same key with a padding bit set in its last character: accepting it
	// would give one key several spellings.
	rawURL := base64.RawURLEncoding.EncodeToString(key)
	last := strings.IndexByte(urlAlphabet, rawURL[len(rawURL)-1])
	loose := rawURL[:len(rawURL)-1] + string(urlAlphabet[last^1])
	for _, in := range []string{
		"",
		"   ",
		hexKey[:63],
		hexKey + "0",
		hexKey[:62],
		hexKey + "00",
		"0x" + hexKey[:62],
		hexKey[:63] + "g",
		base64.StdEncoding.EncodeToString(b31),
		base64.RawStdEncoding.EncodeToString(b31),
		base64.URLEncoding.EncodeToString(b33),
		base64.RawURLEncoding.EncodeToString(b33),
		std[:20] + "\n" + std[20:],
		std[:20] + " " + std[20:],
		std + "=",
		loose,
		loose + "=",
		"not a key at all, just some garbage text",
		"correct horse battery staple",
		strings.Repeat("\x00", 44),
	} {
		got, err := crypto.ParseKey(in)
		if err == nil {
			t.Errorf("ParseKey(%q) = %x, want an error", in, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseKey(%q) refused but returned %x", in, got)
		}
		// One message for every refusal, so none can echo its input.
		if _, e := crypto.ParseKey(""); err.Error() != e.Error() {
			t.Errorf("ParseKey error %q depends on its input", err)
		}
	}
}

// TestAllocs holds Open and Seal to the allocation budget of the perf issue:
// Open allocates nothing when dst has room, Seal only its result.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	s := newSealer(t, testKey(1), testKey(2))
	pt := payload(60)
	sealed := s.Seal(pt, adState)
	old := newSealer(t, testKey(2)).Seal(pt, adState)
	bad := sealed[:len(sealed)-2] + string(urlAlphabet[(strings.IndexByte(urlAlphabet, sealed[len(sealed)-2])+1)%64]) + sealed[len(sealed)-1:]
	dst := make([]byte, 0, 256)
	for name, f := range map[string]func(){
		"Open":        func() { s.Open(dst, sealed, adState) },
		"Open old":    func() { s.Open(dst, old, adState) },
		"Open bad":    func() { s.Open(dst, bad, adState) },
		"Open junk":   func() { s.Open(dst, "\n\n\n\n", adState) },
		"Open on stk": func() { var buf [128]byte; s.Open(buf[:0], sealed, adState) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { s.Seal(pt, adState) }); n != 1 {
		t.Errorf("Seal: %v allocations, want 1", n)
	}
}

func TestConcurrent(t *testing.T) {
	s := newSealer(t, testKey(1), testKey(2))
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 200 {
				pt := payload((g*31 + i) % 300)
				sealed := s.Seal(pt, adState)
				got, _, err := s.Open(nil, sealed, adState)
				if err == nil && !bytes.Equal(got, pt) {
					err = errors.New("wrong plaintext")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// raceEnabled is set by race_test.go when built with -race.
var raceEnabled bool
