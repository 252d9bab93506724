package config

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The rules for deriving the seal key from CLIENT_SECRET (SECURITY.md, property 10), on
// secrets of the shapes providers issue and of the shapes people choose.
func TestGuessable(t *testing.T) {
	const (
		ok      = ""
		weak    = "too short"
		pattern = "repeats a pattern"
		words   = "reads as words"
	)
	cases := []struct {
		secret string
		want   string
	}{
		// Issued by providers (shapes, not real secrets).
		{"k7x2m9qz4w1p8vb", ok},                          // Dropbox: 15 lowercase and digits, 77.5 bits
		{"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", ok},      // Google
		{"3f9a1c07be52d48e6a0f93c2d71b5e84a6c09f3d", ok}, // 40 hex (GitHub's length)
		{"J8fK2mN4pQ6rS8tU0vW2xY4zA6bC8dE0", ok},         // 32 alphanumerics
		{"s3cr3t-CLIENTSECRET", ok},
		{"post-secret-with+plus/slash=and:colon", ok}, // e2e's fake provider
		{"p@ss:w+rd/%=&-LONGER", ok},

		// Too weak by the estimate.
		{"summer2024", weak},      // 51.7 bits
		{"secret", weak},          // 28.2
		{"XXXX", weak},            // testdata/dev.vars.example's placeholder
		{"hunter2hunter", weak},   // 67.2
		{"kxqzmwptrvbnagh", weak}, // 15 lowercase, no digit: 70.5
		{"12345678901234567890", weak},

		// Patterns.
		{"Summer2024Summer2024", pattern},
		{"abcdefghijklmnopqrstuvwxyz", pattern},
		{"abcdefgh12345678", pattern},
		{"a1b2c3d4e5f6g7h8", pattern},
		{strings.Repeat("0", 64), pattern},
		{strings.Repeat("ab12", 8), pattern},
		{"aaaaaaaaaaaaaaaaaaaaaaaaXyz12345678", pattern},
		{"zxcvzxcvzxcvzxcvZXCV", pattern}, // 8 steps: fewer than 8 distinct
		{"!!!!!!!!!!!!####@@@@", pattern},

		// Words followed by digits.
		{"Correcthorsebattery2024", words},
		{"CorrectHorseBattery2024!", words},
		{"correct-horse-battery-staple", words},
		{"correct horse battery staple", words},
		{"handoff-demo-secret", words},
		{"supersecretclientsecret", words},
		{"MYSUPERSECRETPASSWORD1", words},
		{"HappyBirthdayDarling1987", words},
		{"iloveyoutothemoon2023", words},
		{"Password12345678!!", words},
		{"Top-Secret_2024", words},
		{"topsecret-VALUE-1", words},

		// Near misses that stay accepted: not the shape, or not word-like.
		{"2024summerCorrecthorse", ok}, // digits first
		{"kqzmwptrxbvnahg12", ok},      // 15 random letters then digits: consonant runs
		{"summer2024Correcthorse", ok}, // digits in the middle
		{"Nightstrength2024!", ok},     // "ghtstr": six consonants in a row
		// Known gaps (SECURITY.md says so): leetspeak and keyboard walks.
		{"P@ssw0rd2024", ok},
		{"qwertyuiopasdfgh", ok},
	}
	for _, c := range cases {
		got := guessable(c.secret)
		if c.want == ok && got != "" || c.want != ok && !strings.Contains(got, c.want) {
			t.Errorf("guessable(%q) = %q, want %q (%.1f bits)", c.secret, got, c.want, secretBits(c.secret))
		}
	}
}

// Dropbox issues secrets of 15 random lowercase letters and digits; nearly
// all must be accepted. The estimate refuses the ones without a digit (15
// lowercase letters are 70.5 bits; (26/36)^15 ≈ 0.76 % of them); the
// pattern and shape rules refuse about one in a thousand more.
func TestDropboxSecretsAccepted(t *testing.T) {
	const n = 200_000
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(1, 2))
	var weak, other int
	b := make([]byte, 15)
	for range n {
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		switch why := guessable(string(b)); {
		case why == "":
		case strings.Contains(why, "too short"):
			weak++
		default:
			other++
		}
	}
	t.Logf("of %d: %.3f%% refused by the estimate, %.3f%% by the other rules", n, 100*float64(weak)/n, 100*float64(other)/n)
	if weak > n/100 || other > n*12/10_000 {
		t.Errorf("refused %d by the estimate (want ≤ 1%%) and %d by the other rules (want ≤ 0.12%%)", weak, other)
	}
}
