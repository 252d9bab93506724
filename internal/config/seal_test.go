package config_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"handoff/crypto"
	"handoff/internal/config"
)

func TestSealKey(t *testing.T) {
	// Bytes whose base64 has '+' and '/' (or '-' and '_'), and padding.
	key := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:crypto.KeySize]
	forms := map[string]string{
		"hex":                 hex.EncodeToString(key),
		"HEX":                 strings.ToUpper(hex.EncodeToString(key)),
		"base64 padded":       base64.StdEncoding.EncodeToString(key),
		"base64 raw":          base64.RawStdEncoding.EncodeToString(key),
		"base64url padded":    base64.URLEncoding.EncodeToString(key),
		"base64url raw":       base64.RawURLEncoding.EncodeToString(key),
		"spaces around":       "  " + hex.EncodeToString(key) + "\n",
		"base64 padded again": base64.StdEncoding.EncodeToString(key),
	}
	var ref *crypto.Sealer
	for name, v := range forms {
		t.Run(name, func(t *testing.T) {
			c := mustLoad(t, "SEAL_KEY", v)
			a := c.Apps[0]
			if a.KeyFromSecret {
				t.Error("KeyFromSecret with SEAL_KEY set")
			}
			if ref == nil {
				ref = a.Flow.Sealer
				return
			}
			interoperate(t, ref, a.Flow.Sealer, true)
		})
	}

	other := make([]byte, crypto.KeySize)
	rand.Read(other)
	for name, v := range map[string]string{
		"31 bytes hex":          hex.EncodeToString(key[:31]),
		"33 bytes hex":          hex.EncodeToString(append(key, 1)),
		"64 non-hex characters": strings.Repeat("zq", 32),
		"31 bytes base64":       base64.StdEncoding.EncodeToString(key[:31]),
		"33 bytes base64":       base64.RawURLEncoding.EncodeToString(append(key, 1)),
		"mixed alphabets":       strings.Replace(base64.RawStdEncoding.EncodeToString(key), "/", "_", 1),
		"a passphrase":          "correct horse battery staple SECRET",
		"space inside":          hex.EncodeToString(key[:16]) + " " + hex.EncodeToString(key[16:]),
		"bad padding":           base64.RawStdEncoding.EncodeToString(key) + "==",
	} {
		t.Run("bad "+name, func(t *testing.T) {
			_, err := load(t, "SEAL_KEY", v)
			if err == nil {
				t.Fatal("accepted")
			}
			if ps := problems(t, err); !hasProblem(ps, "SEAL_KEY") {
				t.Errorf("problems %q", ps)
			}
			for _, part := range []string{v, strings.TrimSpace(v), v[:12]} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("the error shows the key: %v", err)
				}
			}
		})
	}
}

// TestSealKeysOld: during a rotation, states sealed under an old key still
// open; without the old key they do not (docs/protocol.md#configuration).
func TestSealKeysOld(t *testing.T) {
	k1 := hex.EncodeToString(testKey("k1"))
	k2 := base64.StdEncoding.EncodeToString(testKey("k2"))
	k3 := base64.RawURLEncoding.EncodeToString(testKey("k3"))
	before := mustLoad(t, "SEAL_KEY", k1).Apps[0].Flow.Sealer
	rotated := mustLoad(t, "SEAL_KEY", k2, "SEAL_KEYS_OLD", k3+" , "+k1).Apps[0].Flow.Sealer
	forgot := mustLoad(t, "SEAL_KEY", k2).Apps[0].Flow.Sealer
	interoperate(t, before, rotated, true)
	interoperate(t, before, forgot, false)
	// New states are sealed under the new key only.
	sealed := rotated.Seal([]byte("x"), []byte("ad"))
	if _, _, err := before.Open(nil, sealed, []byte("ad")); err == nil {
		t.Error("a state sealed after the rotation opens under the old key alone")
	}

	_, err := load(t, "SEAL_KEY", k2, "SEAL_KEYS_OLD", k1+",not-a-key-OLDSECRET")
	if err == nil {
		t.Fatal("a bad old key was accepted")
	}
	if ps := problems(t, err); !hasProblem(ps, "SEAL_KEYS_OLD") {
		t.Errorf("problems %q", ps)
	}
	if strings.Contains(err.Error(), "OLDSECRET") || strings.Contains(err.Error(), k1) {
		t.Errorf("the error shows a key: %v", err)
	}
}

// TestSealKeyFromSecret: without SEAL_KEY the key comes from CLIENT_SECRET, so
// a restart keeps logins in flight; another secret is another key.
func TestSealKeyFromSecret(t *testing.T) {
	a := mustLoad(t).Apps[0]
	b := mustLoad(t).Apps[0]
	c := mustLoad(t, "CLIENT_SECRET", "q8Vx2mKp9ZrT4wLs7Nb3").Apps[0]
	if !a.KeyFromSecret {
		t.Error("KeyFromSecret not set")
	}
	interoperate(t, a.Flow.Sealer, b.Flow.Sealer, true)
	interoperate(t, a.Flow.Sealer, c.Flow.Sealer, false)
}

// interoperate checks whether what one sealer seals the other opens.
func interoperate(t *testing.T, from, to *crypto.Sealer, want bool) {
	t.Helper()
	ad := []byte("handoff state v1")
	sealed := from.Seal([]byte("login"), ad)
	got, _, err := to.Open(nil, sealed, ad)
	if opened := err == nil && string(got) == "login"; opened != want {
		t.Errorf("opened %t, want %t (err %v)", opened, want, err)
	}
}

func TestSealKeySource(t *testing.T) {
	key := hex.EncodeToString(testKey("source"))
	for _, secret := range []string{"summer2024", "Correcthorsebattery2024", "Summer2024Summer2024", "XXXX"} {
		t.Run(secret, func(t *testing.T) {
			_, err := load(t, "CLIENT_SECRET", secret, "PORT", "-1")
			ps := problems(t, err)
			if !hasProblem(ps, "CLIENT_SECRET") || !hasProblem(ps, "PORT") {
				t.Errorf("problems %q: want CLIENT_SECRET and, at once, PORT", ps)
			}
			msg := err.Error()
			if !strings.Contains(msg, "SEAL_KEY") || !strings.Contains(msg, "openssl rand -hex 32") {
				t.Errorf("the problem does not ask for SEAL_KEY with the command to make one:\n%s", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the secret:\n%s", msg)
			}
			c := mustLoad(t, "CLIENT_SECRET", secret, "SEAL_KEY", key)
			if c.Apps[0].KeyFromSecret {
				t.Error("KeyFromSecret with SEAL_KEY set")
			}
		})
	}
	t.Run("a Dropbox-like secret", func(t *testing.T) {
		if a := mustLoad(t, "CLIENT_SECRET", "k7x2m9qz4w1p8vb").Apps[0]; !a.KeyFromSecret || a.Flow.Sealer == nil {
			t.Error("the seal key was not derived from a machine-generated secret")
		}
	})
	t.Run("APPS name the prefixed variables", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "APPS", "hubspot-plugin,sheets",
			"HUBSPOT_PLUGIN_CLIENT_ID", "h", "HUBSPOT_PLUGIN_CLIENT_SECRET", "hubspot2024",
			"HUBSPOT_PLUGIN_REDIRECT_URI", "https://h.example/hubspot-plugin/redirect", "HUBSPOT_PLUGIN_PROVIDER", "hubspot",
			"SHEETS_CLIENT_ID", "s", "SHEETS_CLIENT_SECRET", "k7x2m9qz4w1p8vb",
			"SHEETS_REDIRECT_URI", "https://h.example/sheets/redirect", "SHEETS_PROVIDER", "google")
		_, err := config.Load(false)
		ps := problems(t, err)
		if len(ps) != 1 || !hasProblem(ps, "HUBSPOT_PLUGIN_CLIENT_SECRET") || !strings.Contains(ps[0], "HUBSPOT_PLUGIN_SEAL_KEY") {
			t.Errorf("problems %q: want one, naming HUBSPOT_PLUGIN_CLIENT_SECRET and HUBSPOT_PLUGIN_SEAL_KEY", ps)
		}
		if strings.Contains(err.Error(), "hubspot2024") {
			t.Errorf("the error shows the secret: %v", err)
		}
	})
}

// TestSealKeyOneByte: a SEAL_KEY or SEAL_KEYS_OLD entry that is one byte
// repeated (64 zeros, a placeholder) is refused in each encoding.
func TestSealKeyOneByte(t *testing.T) {
	good := hex.EncodeToString(testKey("good"))
	for name, v := range map[string]string{
		"64 zeros":          strings.Repeat("0", 64),
		"ff in hex":         strings.Repeat("FF", 32),
		"base64 of 0x00":    base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"base64url of 0x41": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x41}, 32)),
	} {
		t.Run(name, func(t *testing.T) {
			for _, kv := range [][]string{{"SEAL_KEY", v}, {"SEAL_KEY", good, "SEAL_KEYS_OLD", good + "," + v}} {
				_, err := load(t, kv...)
				bad := kv[len(kv)-2]
				if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, bad) {
					t.Errorf("%s: problems %q, want one naming %s", bad, ps, bad)
				}
			}
		})
	}
}

// testKey is a 32-byte key of the tests, one per name.
func testKey(name string) []byte {
	sum := sha256.Sum256([]byte("handoff config test key " + name))
	return sum[:]
}
